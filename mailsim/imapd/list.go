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
	name   string
	mb     *store.Mailbox // nil for \Noselect parents
	owner  string
	parent bool
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
	e := audit.Event{Action: audit.IMAPList, Command: "LIST", Mailbox: ref + strings.Join(patterns, " ")}
	if options == nil {
		options = &imap.ListOptions{}
	}
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
	names := map[string]bool{}
	for _, en := range entries {
		names[en.name] = true
	}
	matched := 0
	for _, en := range entries {
		ok := false
		for _, p := range patterns {
			if imapserver.MatchList(en.name, delim, ref, p) {
				ok = true
				break
			}
		}
		if !ok {
			continue
		}
		data := &imap.ListData{Mailbox: en.name, Delim: delim}
		hasChildren := false
		for n := range names {
			if strings.HasPrefix(n, en.name+"/") {
				hasChildren = true
				break
			}
		}
		if hasChildren {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if en.mb == nil {
			data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
		} else {
			if options.SelectSubscribed && !en.mb.Subscribed() {
				continue
			}
			if en.mb.Subscribed() {
				data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
			}
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
				}
			}
		}
		if en.mb == nil && (options.SelectSubscribed || options.SelectSpecialUse) {
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
