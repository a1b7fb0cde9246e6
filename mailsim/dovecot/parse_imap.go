package dovecot

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// --- Dovecot imap process: logout counters and mail_log -------------------------

var (
	reMailLogKey = regexp.MustCompile(`(?:^|, )(box|uid|msgid|size|vsize|flags|from|subject|guid|pop3_uidl)=`)
	reCounter    = regexp.MustCompile(`\b(in|out|body_count|body_bytes|hdr_count|hdr_bytes|deleted|expunged|trashed)=(\d+)`)
)

// mailLogFields parses "box=INBOX, uid=1, msgid=<a@b>, from=A, B <c>, subject=x, y"
// (values may hold ", ": only known keys split).
func mailLogFields(s string) map[string]string {
	f := map[string]string{}
	idx := reMailLogKey.FindAllStringSubmatchIndex(s, -1)
	for i, m := range idx {
		end := len(s)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		f[s[m[2]:m[3]]] = s[m[1]:end]
	}
	return f
}

func (p *Parser) imapLine(user, sid, msg string) []*audit.Event {
	s := p.session(sid)
	if s.user == "" {
		s.user = user
	}
	ev := func(action string) *audit.Event {
		e := p.imapEvent(action, sid, s)
		e.UserName = user
		return e
	}
	if i := strings.Index(msg, "Logged out "); i >= 0 {
		e := ev(audit.IMAPLogout)
		c := map[string]int64{}
		for _, m := range reCounter.FindAllStringSubmatch(msg[i:], -1) {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			c[m[1]] = n
		}
		e.SessionBytesOut = c["out"]
		e.SessionFetches = c["body_count"] + c["hdr_count"]
		delete(p.sessions, sid)
		return []*audit.Event{e}
	}
	if strings.HasPrefix(msg, "Disconnected") || strings.HasPrefix(msg, "Connection closed") {
		// Disconnected: Connection closed (...) in=.. out=..: same counters.
		e := ev(audit.IMAPLogout)
		for _, m := range reCounter.FindAllStringSubmatch(msg, -1) {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			switch m[1] {
			case "out":
				e.SessionBytesOut = n
			case "body_count", "hdr_count":
				e.SessionFetches += n
			}
		}
		e.Reason = disconnectReason(msg)
		delete(p.sessions, sid)
		return []*audit.Event{e}
	}
	// mail_log plugin.
	switch {
	case strings.HasPrefix(msg, "Mailbox created: "), strings.HasPrefix(msg, "mailbox_create: box="):
		e := ev(audit.IMAPCreate)
		e.Mailbox = afterAny(msg, "Mailbox created: ", "mailbox_create: box=")
		e.Command = "CREATE"
		p.owner(e)
		return []*audit.Event{e}
	case strings.HasPrefix(msg, "Mailbox deleted: "), strings.HasPrefix(msg, "mailbox_delete: box="):
		e := ev(audit.IMAPDelete)
		e.Mailbox = afterAny(msg, "Mailbox deleted: ", "mailbox_delete: box=")
		e.Command = "DELETE"
		p.owner(e)
		return []*audit.Event{e}
	case strings.HasPrefix(msg, "Mailbox renamed: "), strings.HasPrefix(msg, "mailbox_rename: "):
		e := ev(audit.IMAPRename)
		from, to, _ := strings.Cut(afterAny(msg, "Mailbox renamed: ", "mailbox_rename: "), " -> ")
		e.Mailbox, e.DestMailbox = from, to
		e.Command = "RENAME"
		p.owner(e)
		return []*audit.Event{e}
	}
	verb, rest, ok := strings.Cut(msg, ": ")
	if !ok {
		return nil
	}
	var e *audit.Event
	f := mailLogFields(rest)
	switch {
	case verb == "save" || verb == "append":
		e = ev(audit.IMAPAppend)
		e.Mailbox = f["box"]
		e.Command = "APPEND"
	case strings.HasPrefix(verb, "copy from "):
		e = ev(audit.IMAPCopy)
		e.Mailbox = strings.TrimPrefix(verb, "copy from ")
		e.DestMailbox = f["box"]
		e.Command = "COPY"
	case verb == "copy":
		e = ev(audit.IMAPCopy)
		e.DestMailbox = f["box"]
		e.Command = "COPY"
	case verb == "expunge":
		e = ev(audit.IMAPExpunge)
		e.Mailbox = f["box"]
		e.Command = "EXPUNGE"
	case verb == "delete":
		e = ev(audit.IMAPStore)
		e.Mailbox = f["box"]
		e.Flags = `+FLAGS (\Deleted)`
		e.Command = "STORE"
	case verb == "undelete":
		e = ev(audit.IMAPStore)
		e.Mailbox = f["box"]
		e.Flags = `-FLAGS (\Deleted)`
		e.Command = "STORE"
	case verb == "flag_change":
		e = ev(audit.IMAPStore)
		e.Mailbox = f["box"]
		e.Flags = "FLAGS " + f["flags"]
		e.Command = "STORE"
	default:
		return nil
	}
	if uid, err := strconv.ParseUint(f["uid"], 10, 32); err == nil {
		e.MessageUID = uint32(uid)
	}
	if id := f["msgid"]; id != "" {
		e.MessageID = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	}
	if n, err := strconv.ParseInt(f["size"], 10, 64); err == nil {
		e.MessageSize = n
	}
	e.MessageSubj = f["subject"]
	p.owner(e)
	return []*audit.Event{e}
}

func afterAny(s string, prefixes ...string) string {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return s[len(p):]
		}
	}
	return s
}

// owner fills mailbox.owner and mailbox.shared from the mailbox name.
func (p *Parser) owner(e *audit.Event) {
	if e.Mailbox == "" || e.UserName == "" {
		return
	}
	e.MailboxOwner = e.UserName
	shared := false
	rest, ok := strings.CutPrefix(e.Mailbox, p.o.SharedPrefix)
	if !ok {
		rest, ok = strings.CutPrefix(e.Mailbox, p.o.TeamPrefix)
	}
	if ok {
		owner, _, _ := strings.Cut(rest, "/")
		if owner != "" {
			if !strings.Contains(owner, "@") {
				dom := p.o.Domain
				if dom == "" {
					_, dom, _ = strings.Cut(e.UserName, "@")
				}
				if dom != "" {
					owner += "@" + dom
				}
			}
			e.MailboxOwner = owner
			shared = !strings.EqualFold(owner, e.UserName)
		}
	}
	e.MailboxShared = audit.Bool(shared)
}
