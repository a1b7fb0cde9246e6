package imapd

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
)

type listEntry struct {
	name    string
	mb      *store.Mailbox // nil for \Noselect parents
	owner   string
	parent  bool
	implied bool // not a mailbox: a level above one, or a subscription only
}

// visible returns every mailbox name the user can see, with the
// namespace parents of other owners.
func (s *session) visible() ([]listEntry, error) {
	var out []listEntry
	own, err := s.srv.cfg.Store.Mailboxes(s.user)
	if err != nil {
		return nil, err
	}
	for _, mb := range own {
		out = append(out, listEntry{name: mb.Name(), mb: mb, owner: s.user})
	}
	others := s.srv.cfg.Directory.AccessibleBy(s.user)
	sort.Slice(others, func(i, j int) bool { return others[i].Address < others[j].Address })
	hasUsers, hasShared := false, false
	for _, a := range others {
		boxes, err := s.srv.cfg.Store.Mailboxes(a.Address)
		if err != nil {
			continue
		}
		prefix := displayPrefix(a)
		if a.Kind == "shared" {
			hasShared = true
		} else {
			hasUsers = true
		}
		out = append(out, listEntry{name: prefix, owner: a.Address, parent: true})
		for _, mb := range boxes {
			out = append(out, listEntry{name: prefix + "/" + mb.Name(), mb: mb, owner: a.Address})
		}
	}
	if hasUsers {
		out = append(out, listEntry{name: strings.TrimSuffix(OtherUsersPrefix, "/"), parent: true})
	}
	if hasShared {
		out = append(out, listEntry{name: strings.TrimSuffix(SharedPrefix, "/"), parent: true})
	}
	return out, nil
}

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	s.holdResponses()
	e := audit.Event{Action: audit.IMAPList, Command: "LIST", Mailbox: ref + strings.Join(patterns, " ")}
	if options == nil {
		options = &imap.ListOptions{}
	}
	cond := s.cond() // LIST ... RETURN (STATUS (HIGHESTMODSEQ)): CONDSTORE
	if len(patterns) == 0 {
		// LIST "" "" asks for the hierarchy delimiter.
		s.emitResult(e, nil)
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	for _, p := range patterns {
		if err := s.srv.checkPattern(ref + p); err != nil {
			s.emitResult(e, err)
			return err
		}
	}
	entries, err := s.visible()
	if err != nil {
		s.emitResult(e, err)
		return err
	}
	subs, err := s.srv.cfg.Store.Subscriptions(s.user)
	if err != nil {
		s.emitResult(e, err)
		return err
	}
	lsub := s.conn.current() == "LSUB"
	subscribed := func(name string) bool { _, ok := subs[store.SubscriptionKey(name)]; return ok }
	matches := func(name string) bool {
		for _, p := range patterns {
			if listMatch(name, delim, ref, p) {
				return true
			}
		}
		return false
	}
	// Candidates: the mailboxes, then names that are not mailboxes: the
	// levels above a mailbox or a subscription (RFC 3501 §6.3.8; listed
	// for "*" too, as Dovecot does) and subscriptions whose mailbox is
	// gone (RFC 5258 \NonExistent).
	names := map[string]bool{}
	for _, en := range entries {
		names[strings.ToLower(en.name)] = true
	}
	noStar := !strings.Contains(strings.Join(patterns, ""), "*")
	var extra []string
	addExtra := func(n string) {
		if k := strings.ToLower(n); !names[k] {
			names[k] = true
			extra = append(extra, n)
		}
	}
	parentsOf := func(n string) {
		for i := strings.LastIndexByte(n, delim); i > 0; i = strings.LastIndexByte(n[:i], delim) {
			addExtra(n[:i])
		}
	}
	for _, en := range entries {
		parentsOf(en.name)
	}
	var subNames []string
	for _, n := range subs {
		subNames = append(subNames, n)
	}
	sort.Strings(subNames)
	for _, n := range subNames {
		addExtra(n)
		parentsOf(n)
	}
	sort.Strings(extra)
	for _, n := range extra {
		entries = append(entries, listEntry{name: n, implied: true})
	}
	hasChildren := func(n string) bool {
		for _, en := range entries {
			if !en.implied && len(en.name) > len(n) && en.name[len(n)] == delim && strings.EqualFold(en.name[:len(n)], n) {
				return true
			}
		}
		return false
	}
	subscribedBelow := func(n string) bool {
		for _, sn := range subNames {
			if len(sn) > len(n) && sn[len(n)] == delim && strings.EqualFold(sn[:len(n)], n) {
				return true
			}
		}
		return false
	}
	matched := 0
	for _, en := range entries {
		if !matches(en.name) {
			continue
		}
		sub := subscribed(en.name)
		data := &imap.ListData{Mailbox: en.name, Delim: delim}
		if lsub {
			// RFC 3501 §6.3.9: the subscribed names; with "%", a level
			// that is not subscribed but has a subscribed child is
			// returned \Noselect.
			switch {
			case sub:
			case noStar && subscribedBelow(en.name):
				data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
			default:
				continue
			}
			if err := w.WriteList(data); err != nil {
				return err
			}
			matched++
			continue
		}
		childInfo := false
		if options.SelectSubscribed && !sub {
			// RFC 5258 §3.5: with RECURSIVEMATCH, a name with a
			// subscribed child is returned with CHILDINFO.
			if !options.SelectRecursiveMatch || !subscribedBelow(en.name) {
				continue
			}
			childInfo = true
		}
		if en.implied && !(options.SelectSubscribed && (sub || childInfo)) && !hasChildren(en.name) {
			// Not a mailbox: listed as a level above mailboxes, or, with
			// SUBSCRIBED, as a subscription.
			continue
		}
		if en.implied && options.SelectSubscribed {
			data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
		} else if hasChildren(en.name) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if en.mb == nil && (len(data.Attrs) == 0 || data.Attrs[0] != imap.MailboxAttrNonExistent) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
		}
		if sub {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if childInfo {
			data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
		}
		if en.mb != nil {
			su := en.mb.SpecialUse()
			if options.SelectSpecialUse && su == "" {
				continue
			}
			if su != "" {
				data.Attrs = append(data.Attrs, imap.MailboxAttr(su))
			}
			if options.ReturnStatus != nil {
				st, err := statusData(en.mb, en.name, options.ReturnStatus)
				if err == nil {
					data.Status = st
					if cond != nil && cond.status {
						// HIGHESTMODSEQ for this STATUS response (CONDSTORE).
						en.mb.TrackModSeq()
						s.conn.cs.mu.Lock()
						s.conn.cs.listHighest = append(s.conn.cs.listHighest, en.mb.HighestModSeq())
						s.conn.cs.mu.Unlock()
					}
				}
			}
		} else if options.SelectSpecialUse {
			continue
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
		matched++
	}
	e.SearchHits = audit.Int(matched)
	s.emitResult(e, nil)
	return nil
}

// listMatch is go-imap's MatchList, but for INBOX, whose name is
// case-insensitive (RFC 9051 §5.1): LIST "" "inbox" lists INBOX (go-imap
// matched it case-sensitively and listed nothing), as Dovecot does.
func listMatch(name string, delim rune, ref, pattern string) bool {
	if imapserver.MatchList(name, delim, ref, pattern) {
		return true
	}
	if len(name) < 5 || name[:5] != "INBOX" || (len(name) > 5 && rune(name[5]) != delim) {
		return false
	}
	return imapserver.MatchList(name, delim, inboxUpper(ref, delim), inboxUpper(pattern, delim))
}

// inboxUpper writes a leading "inbox" (in any case, a whole level) as
// "INBOX".
func inboxUpper(s string, delim rune) string {
	if len(s) >= 5 && strings.EqualFold(s[:5], "INBOX") && (len(s) == 5 || rune(s[5]) == delim || s[5] == '*' || s[5] == '%') {
		return "INBOX" + s[5:]
	}
	return s
}
