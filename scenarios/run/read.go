// Reading steps: list, select, examine, search, fetch headers, download
// attachments and messages, open other mailboxes, idle.

package run

import (
	"context"
	"errors"
	"io"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/maildrill/maildrill/scenarios"
)

func stepSelect(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	_, err := a.selectMailbox(ctx, p.Mailbox, false)
	return err
}

func stepExamine(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	_, err := a.selectMailbox(ctx, p.Mailbox, true)
	return err
}

func stepList(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if err := a.ensureIMAP(ctx); err != nil {
		return err
	}
	pat := p.Pattern
	if pat == "" {
		pat = "*"
	}
	list, err := a.ic.List("", pat, nil).Collect()
	if err != nil {
		return err
	}
	a.record("imap.list", "success", scenarios.TruthRecord{Count: len(list), Detail: pat})
	return nil
}

func stepSearch(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), true); err != nil && a.selected == "" {
		return err
	}
	var crit imap.SearchCriteria
	if len(p.Text) > 1 {
		// Any of the keywords: OR chain.
		crit = orCriteria(p.Text)
	} else if len(p.Text) == 1 {
		crit.Text = []string{p.Text[0]}
	}
	if p.From != "" {
		crit.Header = append(crit.Header, imap.SearchCriteriaHeaderField{Key: "From", Value: p.From})
	}
	crit.Since, crit.Before = p.Since, p.Before
	if p.HasAttachment {
		crit.Header = append(crit.Header, imap.SearchCriteriaHeaderField{Key: "Content-Type", Value: "multipart/mixed"})
	}
	data, err := a.ic.UIDSearch(&crit, nil).Wait()
	if err != nil {
		return err
	}
	uids := data.AllUIDs()
	a.search[a.selected] = uids
	a.record("imap.search", "success", scenarios.TruthRecord{Mailbox: a.selected, Count: len(uids), Detail: strings.Join(p.Text, " OR ")})
	return nil
}

func orCriteria(words []string) imap.SearchCriteria {
	if len(words) == 1 {
		return imap.SearchCriteria{Text: []string{words[0]}}
	}
	return imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Text: []string{words[0]}}, orCriteria(words[1:])}}}
}

func stepFetchHeaders(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), true); err != nil && a.selected == "" {
		return err
	}
	uids, err := a.targetUIDs(ctx, p.FromSearch, orDefault(p.Limit, 50))
	if err != nil || len(uids) == 0 {
		return err
	}
	msgs, err := a.ic.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{}, RFC822Size: true, Flags: true}).Collect()
	if err != nil {
		return err
	}
	a.record("imap.fetch_headers", "success", scenarios.TruthRecord{Mailbox: a.selected, Count: len(msgs)})
	return nil
}

type partRef struct {
	uid  imap.UID
	part []int
	name string
	mime string
	size uint32
}

func matchAttachment(p *scenarios.Params, name string, size uint32) bool {
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".")
	if len(p.Types) > 0 && !slices.Contains(p.Types, ext) {
		return false
	}
	if p.MinSize > 0 && int64(size) < p.MinSize*4/3 {
		return false
	}
	if p.MaxSize > 0 && int64(size) > p.MaxSize*4/3+4096 {
		return false
	}
	if p.Name != "" {
		ok, _ := path.Match(strings.ToLower(p.Name), strings.ToLower(name))
		if !ok {
			return false
		}
	}
	return true
}

func (a *actorRun) attachmentParts(uids []imap.UID, p *scenarios.Params) ([]partRef, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	msgs, err := a.ic.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil {
		return nil, err
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].UID > msgs[j].UID })
	var out []partRef
	for _, m := range msgs {
		if m.BodyStructure == nil {
			continue
		}
		m.BodyStructure.Walk(func(pth []int, bs imap.BodyStructure) bool {
			sp, ok := bs.(*imap.BodyStructureSinglePart)
			if !ok {
				return true
			}
			name := sp.Filename()
			if name == "" {
				return true
			}
			if matchAttachment(p, name, sp.Size) {
				out = append(out, partRef{uid: m.UID, part: append([]int(nil), pth...), name: name, mime: sp.MediaType(), size: sp.Size})
			}
			return true
		})
	}
	return out, nil
}

const maxKeptDownloads = 64 << 20

func stepDownloadAttachments(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), true); err != nil && a.selected == "" {
		return err
	}
	uids, err := a.targetUIDs(ctx, p.FromSearch, -1)
	if err != nil {
		return err
	}
	parts, err := a.attachmentParts(uids, p)
	if err != nil {
		return err
	}
	limit := orDefault(p.Limit, 50)
	if len(parts) > limit {
		parts = parts[:limit]
	}
	delay := defDelay(p, a.a.Pacing.Delay)
	var got int
	var total int64
	for i, pr := range parts {
		if err := a.budgetLeft(); err != nil {
			return err
		}
		if i > 0 {
			if err := a.tick(ctx, delay); err != nil {
				return err
			}
		}
		data, err := a.fetchPart(pr.uid, pr.part)
		if err != nil {
			return err
		}
		got++
		total += int64(len(data))
		a.bytes += int64(len(data))
		a.messages++
		kept := a.keep(attachment{name: pr.name, mime: pr.mime, data: data})
		a.record("imap.download_attachment", "success", scenarios.TruthRecord{Mailbox: a.selected, Bytes: int64(len(data)), Count: 1, Detail: pr.name})
		a.r.note(Note{Time: a.now, Actor: a.name, Kind: "progress", Text: "downloading attachments", Count: got, Total: len(parts), Bytes: total})
		if !kept {
			putDLBuf(data)
		}
	}
	return nil
}

// keep keeps a download for a later send to attach, as the actor's
// keepDownloads says. It reports whether att.data is still referred to
// (kept in memory); when not, the caller may give the buffer back with
// putDLBuf.
func (a *actorRun) keep(att attachment) bool {
	if a.keepDownloads == keepNone || a.dlBytes+int64(len(att.data)) > maxKeptDownloads {
		return false
	}
	a.dlBytes += int64(len(att.data)) // counts what was kept, as with keepAll
	if a.keepDownloads == keepLast {
		a.downloads = a.downloads[:0] // only the last is ever used
		// Kept out of memory: thousands of staff members keep one each.
		name, err := a.r.blobs.put(att.data)
		if err == nil {
			att.blob, att.size, att.data = name, int64(len(att.data)), nil
		}
	}
	a.downloads = append(a.downloads, att)
	return att.data != nil
}

func (a *actorRun) fetchPart(uid imap.UID, part []int) ([]byte, error) {
	var data []byte
	err := a.fetchSection(uid, part, func(lit imap.LiteralReader) error {
		// The literal's size is announced: one buffer of that size.
		buf := []byte{}
		if lit.Size() > 0 {
			buf = getDLBuf(int(lit.Size())) // read into, never read beyond
		}
		n, err := io.ReadFull(lit, buf)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil
		}
		data = buf[:n]
		return err
	})
	if err != nil {
		return nil, err
	}
	// Attachments travel base64-encoded; keep the decoded file.
	if len(part) > 0 {
		if dec, err := decodeB64(data); err == nil {
			putDLBuf(data)
			return dec, nil
		}
	}
	return data, nil
}

// fetchLen fetches a message or part as fetchPart does but keeps nothing:
// it returns the bytes received.
func (a *actorRun) fetchLen(uid imap.UID, part []int) (int64, error) {
	var n int64
	err := a.fetchSection(uid, part, func(lit imap.LiteralReader) error {
		var err error
		n, err = io.Copy(io.Discard, lit)
		return err
	})
	return n, err
}

// fetchSection sends UID FETCH uid BODY.PEEK[part] and hands the section's
// literal to read.
func (a *actorRun) fetchSection(uid imap.UID, part []int, read func(imap.LiteralReader) error) error {
	sec := &imap.FetchItemBodySection{Part: part, Peek: true}
	cmd := a.ic.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{sec}})
	defer cmd.Close()
	for {
		m := cmd.Next()
		if m == nil {
			break
		}
		for {
			item := m.Next()
			if item == nil {
				break
			}
			if bs, ok := item.(imapclient.FetchItemDataBodySection); ok && bs.Literal != nil {
				if err := read(bs.Literal); err != nil {
					return err
				}
			}
		}
	}
	return cmd.Close()
}

func stepDownloadMessages(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), true); err != nil && a.selected == "" {
		return err
	}
	uids, err := a.targetUIDs(ctx, p.FromSearch, orDefault(p.Limit, 100))
	if err != nil {
		return err
	}
	delay := defDelay(p, a.a.Pacing.Delay)
	var total int64
	for i, uid := range uids {
		if err := a.budgetLeft(); err != nil {
			return err
		}
		if i > 0 {
			if err := a.tick(ctx, delay); err != nil {
				return err
			}
		}
		n, err := a.fetchLen(uid, nil)
		if err != nil {
			return err
		}
		total += n
		a.bytes += n
		a.messages++
		a.lastRead = append(a.lastRead, uid)
		a.record("imap.download_message", "success", scenarios.TruthRecord{Mailbox: a.selected, Bytes: n, Count: 1})
		a.r.note(Note{Time: a.now, Actor: a.name, Kind: "progress", Text: "downloading messages", Count: i + 1, Total: len(uids), Bytes: total})
	}
	return nil
}

// others lists the other mailboxes (INBOX of each) the user can open.
func (a *actorRun) others(ctx context.Context, scope string) ([]string, error) {
	if err := a.ensureIMAP(ctx); err != nil {
		return nil, err
	}
	list, err := a.ic.List("", "*", nil).Collect()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range list {
		shared := strings.HasPrefix(l.Mailbox, "Shared/")
		deleg := strings.HasPrefix(l.Mailbox, "Users/")
		if !strings.HasSuffix(l.Mailbox, "/INBOX") {
			continue
		}
		if scope == "shared" && shared || scope == "delegated" && deleg || (scope == "all" || scope == "") && (shared || deleg) {
			out = append(out, l.Mailbox)
		}
	}
	return out, nil
}

func stepOpenMailboxes(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	boxes, err := a.others(ctx, p.Scope)
	if err != nil {
		return err
	}
	a.record("imap.list", "success", scenarios.TruthRecord{Count: len(boxes), Detail: "other mailboxes"})
	for _, mb := range boxes {
		if err := a.tick(ctx, -1); err != nil {
			return err
		}
		if _, err := a.selectMailbox(ctx, mb, true); err != nil {
			continue
		}
		switch p.Download {
		case "attachments":
			q := *p
			q.Mailbox, q.FromSearch = mb, false
			if err := stepDownloadAttachments(ctx, a, st, &q); err != nil {
				return err
			}
		case "messages":
			q := *p
			q.Mailbox, q.FromSearch = mb, false
			if err := stepDownloadMessages(ctx, a, st, &q); err != nil {
				return err
			}
		}
	}
	return nil
}

func stepIdle(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, orStr(a.selected, "INBOX")), false); err != nil && a.selected == "" {
		return err
	}
	cmd, err := a.ic.Idle()
	if err != nil {
		return err
	}
	a.record("imap.idle", "success", scenarios.TruthRecord{Mailbox: a.selected})
	werr := a.waitUntil(ctx, a.now.Add(p.Duration))
	if err := cmd.Close(); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return err
	}
	return werr
}
