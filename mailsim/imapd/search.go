package imapd

import (
	"bytes"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
)

// Search evaluates criteria over the selected mailbox.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	s.holdResponses()
	modseqSearch := false
	if req := s.cond(); req != nil && req.searchModSeq {
		modseqSearch = true
		condSearchCriteria(criteria)
	}
	e := s.mailboxEvent(audit.Event{Action: audit.IMAPSearch, Command: "SEARCH", Search: FormatCriteria(criteria)}, s.mbName, s.mbOwner)
	if kind == imapserver.NumKindUID {
		e.Command = "UID SEARCH"
	}
	var sortReq *sortRequest
	if s.conn != nil {
		if r := s.conn.sortReq.Load(); r != nil && r.tag == s.conn.currentTag() {
			sortReq = r
			e.Command = s.conn.current()
			switch {
			case r.search:
			case r.thread != "":
				e.Action, e.ThreadAlgorithm = audit.IMAPThread, r.thread
			default:
				e.Action, e.SortCriteria = audit.IMAPSort, r.display
			}
		}
	}
	criteria = s.staticCriteria(criteria)
	seen := s.mb.HighestModSeq() // before the items (a live search, context.go)
	items := s.view.Items(nil)
	seqs, uids, highest, err := s.matching(items, criteria)
	if err != nil {
		return nil, err
	}
	data := &imap.SearchData{}
	if kind == imapserver.NumKindUID {
		var set imap.UIDSet
		set.AddNum(uids...)
		data.All = set
	} else {
		var set imap.SeqSet
		set.AddNum(seqs...)
		data.All = set
	}
	if len(seqs) > 0 {
		if kind == imapserver.NumKindUID {
			data.Min, data.Max = uint32(uids[0]), uint32(uids[len(uids)-1])
		} else {
			data.Min, data.Max = seqs[0], seqs[len(seqs)-1]
		}
	}
	data.Count = uint32(len(seqs))
	var sorted []sortItem // SORT's result, in order
	switch {
	case sortReq != nil && sortReq.search:
		nums := seqs
		if sortReq.uid {
			nums = make([]uint32, len(uids))
			for i, u := range uids {
				nums[i] = uint32(u)
			}
		}
		sortReq.result = sortReq.esearchResponse(nums)
		if sortReq.silent {
			sortReq.result = []byte{}
		}
	case sortReq != nil:
		if sorted, err = s.orderResults(sortReq, items, seqs); err != nil {
			return nil, err
		}
	}
	if sortReq != nil && sortReq.ctx != nil {
		e.SearchPartial = sortReq.ctx.partialString()
		if sortReq.ctx.update {
			kept := s.keepLive(sortReq, criteria, uids, sorted, seen, items)
			e.SearchUpdate = audit.Bool(kept)
			if !kept {
				// RFC 5267 §4.2: answered, not kept (Dovecot's words).
				e.Reason = "limit_search_updates"
				sortReq.prefix = []byte(fmt.Sprintf("* NO [NOUPDATE %s] Too many live searches (at most %d)\r\n", quoteIMAP(sortReq.tag), MaxLiveSearches))
			}
		}
	}
	if options != nil && options.ReturnSave {
		var set imap.UIDSet
		set.AddNum(uids...)
		s.lastRes = set
	}
	if modseqSearch {
		s.conn.cs.mu.Lock()
		s.conn.cs.searchHighest = highest
		s.conn.cs.mu.Unlock()
	}
	e.SearchHits = audit.Int(len(seqs))
	s.emitResult(e, nil)
	return data, nil
}

func (s *session) staticCriteria(c *imap.SearchCriteria) *imap.SearchCriteria {
	cp := *c
	max := s.view.Count()
	cp.SeqNum = nil
	for _, set := range c.SeqNum {
		if imap.IsSearchRes(set) {
			continue
		}
		cp.SeqNum = append(cp.SeqNum, staticSeqSet(set, max))
	}
	cp.UID = nil
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			if s.lastRes != nil {
				cp.UID = append(cp.UID, s.lastRes)
			} else {
				cp.UID = append(cp.UID, imap.UIDSet{})
			}
			continue
		}
		cp.UID = append(cp.UID, staticUIDSet(set, s.mb.MaxUID()))
	}
	cp.Not = make([]imap.SearchCriteria, len(c.Not))
	for i := range c.Not {
		cp.Not[i] = *s.staticCriteria(&c.Not[i])
	}
	cp.Or = make([][2]imap.SearchCriteria, len(c.Or))
	for i := range c.Or {
		cp.Or[i] = [2]imap.SearchCriteria{*s.staticCriteria(&c.Or[i][0]), *s.staticCriteria(&c.Or[i][1])}
	}
	return &cp
}

func needsContent(c *imap.SearchCriteria) bool {
	if !c.Since.IsZero() || !c.Before.IsZero() || !c.SentSince.IsZero() || !c.SentBefore.IsZero() ||
		len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0 || c.Larger > 0 || c.Smaller > 0 {
		return true
	}
	for i := range c.Not {
		if needsContent(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if needsContent(&c.Or[i][0]) || needsContent(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

func match(it store.Item, seq uint32, c *imap.SearchCriteria) (bool, error) {
	for _, set := range c.SeqNum {
		if !set.Contains(seq) {
			return false, nil
		}
	}
	for _, set := range c.UID {
		if !set.Contains(imap.UID(it.UID)) {
			return false, nil
		}
	}
	if c.ModSeq != nil && it.ModSeq < c.ModSeq.ModSeq {
		return false, nil
	}
	var m *store.Message
	flags, err := it.FlagsOrBase()
	if err != nil {
		return false, err
	}
	if needsContent(c) {
		if m, err = it.Load(); err != nil {
			return false, err
		}
	}
	for _, f := range c.Flag {
		if !store.HasFlag(flags, f) {
			return false, nil
		}
	}
	for _, f := range c.NotFlag {
		if store.HasFlag(flags, f) {
			return false, nil
		}
	}
	if m != nil {
		if !matchDate(m.InternalDate, c.Since, c.Before) {
			return false, nil
		}
		if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
			hdr := m.Header()
			d, err := mail.ParseDate(hdr.Get("Date"))
			if err != nil || !matchDate(d, c.SentSince, c.SentBefore) {
				return false, nil
			}
		}
		if c.Larger > 0 && m.Size <= c.Larger {
			return false, nil
		}
		if c.Smaller > 0 && m.Size >= c.Smaller {
			return false, nil
		}
		h := m.Header()
		hp := &h
		for _, hf := range c.Header {
			vals := hp.Values(hf.Key)
			if len(vals) == 0 {
				return false, nil
			}
			if hf.Value == "" {
				continue
			}
			found := false
			addr := addressHeaders[strings.ToLower(hf.Key)]
			for _, v := range vals {
				// An address with comments inside ("<user (x)@ (y)
				// domain.org>", RFC 5322 §3.4.1) matches without them too.
				if containsFold(decodeHeader(v), hf.Value) ||
					(addr && strings.ContainsRune(v, '(') && containsFold(decodeHeader(store.StripComments(v)), hf.Value)) {
					found = true
					break
				}
			}
			if !found {
				return false, nil
			}
		}
		if len(c.Body) > 0 || len(c.Text) > 0 {
			body := textOf(m.Raw)
			for _, b := range c.Body {
				if !containsFold(body, b) {
					return false, nil
				}
			}
			if len(c.Text) > 0 {
				hdr := headerText(m.Header())
				for _, t := range c.Text {
					if !containsFold(body, t) && !containsFold(hdr, t) {
						return false, nil
					}
				}
			}
		}
	}
	for i := range c.Not {
		ok, err := match(it, seq, &c.Not[i])
		if err != nil {
			return false, err
		}
		if ok {
			return false, nil
		}
	}
	for i := range c.Or {
		a, err := match(it, seq, &c.Or[i][0])
		if err != nil {
			return false, err
		}
		if a {
			continue
		}
		b, err := match(it, seq, &c.Or[i][1])
		if err != nil {
			return false, err
		}
		if !b {
			return false, nil
		}
	}
	return true, nil
}

// addressHeaders hold addresses (SEARCH FROM, TO, CC, BCC and HEADER).
var addressHeaders = map[string]bool{"from": true, "to": true, "cc": true, "bcc": true, "sender": true, "reply-to": true}

func matchDate(t, since, before time.Time) bool {
	// Dates compare by day, in the message's own zone.
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && d.Before(time.Date(since.Year(), since.Month(), since.Day(), 0, 0, 0, 0, time.UTC)) {
		return false
	}
	if !before.IsZero() && !d.Before(time.Date(before.Year(), before.Month(), before.Day(), 0, 0, 0, 0, time.UTC)) {
		return false
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func decodeHeader(v string) string {
	h := gomessage.Header{}
	h.Set("X", v)
	if d, err := h.Text("X"); err == nil {
		return d
	}
	return v
}

func headerText(h textproto.Header) string {
	var b strings.Builder
	h = h.Copy()
	fields := h.Fields()
	for fields.Next() {
		b.WriteString(fields.Key())
		b.WriteString(": ")
		b.WriteString(decodeHeader(fields.Value()))
		b.WriteString("\n")
	}
	return b.String()
}

// textOf returns the decoded text of the message's text parts (and the
// names of its attachments): what a user would search in.
func textOf(raw []byte) string {
	e, _ := gomessage.Read(bytes.NewReader(raw))
	if e == nil {
		return string(raw)
	}
	var b strings.Builder
	parts := store.DefaultMaxMIMEParts
	var walk func(e *gomessage.Entity, depth int)
	walk = func(e *gomessage.Entity, depth int) {
		parts--
		if depth > 20 || parts < 0 {
			return
		}
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err != nil || parts <= 0 {
					return
				}
				walk(p, depth+1)
			}
		}
		mt, params, _ := e.Header.ContentType()
		_, dp, _ := e.Header.ContentDisposition()
		if n := dp["filename"]; n != "" {
			b.WriteString(n + "\n")
		} else if n := params["name"]; n != "" {
			b.WriteString(n + "\n")
		}
		if strings.HasPrefix(mt, "text/") || mt == "" {
			data, _ := io.ReadAll(io.LimitReader(e.Body, 4<<20))
			b.Write(data)
			b.WriteByte('\n')
		}
	}
	walk(e, 0)
	return b.String()
}

// FormatCriteria renders search criteria in IMAP syntax, for the audit trail.
func FormatCriteria(c *imap.SearchCriteria) string {
	var p []string
	for _, s := range c.SeqNum {
		p = append(p, s.String())
	}
	for _, s := range c.UID {
		p = append(p, "UID "+s.String())
	}
	date := func(k string, t time.Time) {
		if !t.IsZero() {
			p = append(p, k+" "+t.Format("2-Jan-2006"))
		}
	}
	date("SINCE", c.Since)
	date("BEFORE", c.Before)
	date("SENTSINCE", c.SentSince)
	date("SENTBEFORE", c.SentBefore)
	for _, h := range c.Header {
		switch strings.ToUpper(h.Key) {
		case "FROM", "TO", "CC", "BCC", "SUBJECT":
			p = append(p, strings.ToUpper(h.Key)+" "+quoteIMAP(h.Value))
		default:
			p = append(p, "HEADER "+quoteIMAP(h.Key)+" "+quoteIMAP(h.Value))
		}
	}
	for _, s := range c.Body {
		p = append(p, "BODY "+quoteIMAP(s))
	}
	for _, s := range c.Text {
		p = append(p, "TEXT "+quoteIMAP(s))
	}
	for _, f := range c.Flag {
		p = append(p, flagKey(f, false))
	}
	for _, f := range c.NotFlag {
		p = append(p, flagKey(f, true))
	}
	if c.Larger > 0 {
		p = append(p, fmt.Sprintf("LARGER %d", c.Larger))
	}
	if c.Smaller > 0 {
		p = append(p, fmt.Sprintf("SMALLER %d", c.Smaller))
	}
	if c.ModSeq != nil {
		p = append(p, fmt.Sprintf("MODSEQ %d", c.ModSeq.ModSeq))
	}
	for i := range c.Not {
		p = append(p, "NOT ("+FormatCriteria(&c.Not[i])+")")
	}
	for i := range c.Or {
		p = append(p, "OR ("+FormatCriteria(&c.Or[i][0])+") ("+FormatCriteria(&c.Or[i][1])+")")
	}
	if len(p) == 0 {
		return "ALL"
	}
	return strings.Join(p, " ")
}

func flagKey(f imap.Flag, not bool) string {
	names := map[imap.Flag]string{imap.FlagSeen: "SEEN", imap.FlagAnswered: "ANSWERED", imap.FlagFlagged: "FLAGGED", imap.FlagDeleted: "DELETED", imap.FlagDraft: "DRAFT"}
	if n, ok := names[f]; ok {
		if not {
			return "UN" + n
		}
		return n
	}
	if not {
		return "UNKEYWORD " + string(f)
	}
	return "KEYWORD " + string(f)
}
