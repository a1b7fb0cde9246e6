package dovecot

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// --- Dovecot event export -------------------------------------------------------

type exported struct {
	Event   string         `json:"event"`
	End     string         `json:"end_time"`
	Fields  map[string]any `json:"fields"`
	Cats    []string       `json:"categories"`
	Created string         `json:"start_time"`
}

func str(f map[string]any, k string) string {
	switch v := f[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatInt(int64(v), 10)
	}
	return ""
}

func num(f map[string]any, k string) int64 {
	switch v := f[k].(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// commandActions maps IMAP commands to the actions the event export gives.
// Commands whose effects the mail_log plugin logs per message (COPY, MOVE,
// STORE, EXPUNGE, APPEND, CREATE, DELETE, RENAME) are left to it.
var commandActions = map[string]string{
	"LIST": audit.IMAPList, "LSUB": audit.IMAPList, "XLIST": audit.IMAPList,
	"NAMESPACE": audit.IMAPNamespace, "STATUS": audit.IMAPStatus,
	"SELECT": audit.IMAPSelect, "EXAMINE": audit.IMAPExamine,
	"SEARCH": audit.IMAPSearch, "UID SEARCH": audit.IMAPSearch,
	"FETCH": audit.IMAPFetch, "UID FETCH": audit.IMAPFetch,
	"IDLE": audit.IMAPIdle, "SUBSCRIBE": audit.IMAPSubscribe,
	"UNSUBSCRIBE": audit.IMAPSubscribe,
}

func (p *Parser) export(msg string, ts *time.Time) []*audit.Event {
	i := strings.IndexByte(msg, '{')
	if i < 0 {
		return nil
	}
	var x exported
	if err := json.Unmarshal([]byte(msg[i:]), &x); err != nil || x.Fields == nil {
		return nil
	}
	p.known = true // an exported event; only finished commands give one
	if t, err := time.Parse(time.RFC3339Nano, x.End); err == nil && t.Year() >= 1970 {
		*ts = t
	}
	if x.Event != "imap_command_finished" {
		return nil
	}
	f := x.Fields
	sid := str(f, "session")
	s := p.session(sid)
	if ip := str(f, "remote_ip"); ip != "" {
		s.ip = ip
	}
	if port := num(f, "remote_port"); port != 0 {
		s.port = int(port)
	}
	if port := num(f, "local_port"); port != 0 {
		s.lport = int(port)
	}
	user := str(f, "user")
	if user != "" {
		s.user = user
	}
	name := strings.ToUpper(str(f, "cmd_name"))
	args := str(f, "cmd_args")
	ok := str(f, "tagged_reply_state") == "OK"
	switch name {
	case "SELECT", "EXAMINE":
		if ok {
			s.mailbox = str(f, "mailbox")
			s.readonly = name == "EXAMINE" || strings.Contains(str(f, "tagged_reply"), "[READ-ONLY]")
		}
	case "CLOSE", "UNSELECT":
		s.mailbox = ""
	}
	action := commandActions[name]
	if action == "" {
		return nil
	}
	e := p.imapEvent(action, sid, s)
	e.Command = name
	if !ok {
		e.Outcome = audit.Failure
		e.Reason = strings.ToLower(str(f, "tagged_reply_state"))
	}
	e.Mailbox = str(f, "mailbox")
	switch action {
	case audit.IMAPList:
		e.Mailbox = args
	case audit.IMAPSelect, audit.IMAPExamine:
		e.ReadOnly = audit.Bool(s.readonly && ok || name == "EXAMINE")
	case audit.IMAPSearch:
		e.Search = args
		e.ReadOnly = audit.Bool(s.readonly)
	case audit.IMAPFetch:
		seq, items, _ := strings.Cut(args, " ")
		e.FetchItems = strings.TrimSuffix(strings.TrimPrefix(items, "("), ")")
		if uid, err := strconv.ParseUint(seq, 10, 32); err == nil && name == "UID FETCH" {
			e.MessageUID = uint32(uid)
		}
		e.BytesOut = num(f, "bytes_out")
		e.ReadOnly = audit.Bool(s.readonly)
	}
	if e.Mailbox == "" && (action == audit.IMAPFetch || action == audit.IMAPSearch) {
		e.Mailbox = s.mailbox
	}
	if action != audit.IMAPList {
		p.owner(e)
	}
	return []*audit.Event{e}
}
