// Package dovecot turns the logs of a real Dovecot (2.3) and Postfix into
// mailsim audit events (mailsim/audit.Event, the same field names), so that
// the detection rules run unchanged on a real mail system — as far as its
// logging allows. It is the reverse of audit.SyslogLines.
//
// What is understood:
//   - Dovecot login process: Login, Disconnected (auth failed, N attempts),
//     Aborted login (disallowed plaintext auth), Disconnected (no auth
//     attempts), ID sent (imap_id_log);
//   - Dovecot auth (auth_verbose): Password mismatch, unknown user — the
//     reason of the next failed login of that session;
//   - Dovecot imap: the logout counters (imap_logout_format);
//   - the mail_log plugin: save, append, copy, expunge, delete, undelete,
//     flag_change, mailbox created/deleted/renamed;
//   - Dovecot's event export to the log (event_exporter transport=log,
//     format=json): imap_command_finished;
//   - Postfix smtpd (connect, disconnect, SASL failures, client= with
//     sasl_username, NOQUEUE rejects), cleanup (message-id), qmgr (from=,
//     size=) and the delivery agents (lmtp, smtp, discard, local, virtual).
//
// Lines may come from syslog (with or without a host name, traditional or
// RFC 3339 timestamps), from Dovecot's own log_path, from Postfix's
// maillog_file, or with no timestamp at all (a container's stdout). Lines
// that are not understood give no event; the parser never fails on input.
package dovecot

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// Options shape a Parser.
type Options struct {
	// Now stamps lines that carry no timestamp, and gives the year of
	// syslog timestamps that have none (default time.Now).
	Now func() time.Time
	// Location is the time zone of timestamps that carry none (default UTC).
	Location *time.Location
	// Stamp, when set, maps a parsed log time to the event's @timestamp
	// (e.g. wall time to scenario time for a scaled clock).
	Stamp func(time.Time) time.Time
	// SharedPrefix is the namespace prefix of other users' mailboxes
	// (default "Users/"): "Users/directeur/INBOX" is directeur's INBOX.
	SharedPrefix string
	// TeamPrefix is the namespace prefix of shared (team) mailboxes
	// (default "Shared/"): "Shared/cabinet/INBOX" is cabinet's INBOX.
	TeamPrefix string
	// Domain completes a shared mailbox owner given without a domain
	// (default: the domain of the acting user).
	Domain string
	// PostfixTLSLogged says Postfix logs its TLS handshakes
	// (smtpd_tls_loglevel ≥ 1; Debian's default is 0). Without it an SMTP
	// session's TLS is unknown (tls.unknown, and no tls.established or
	// auth.cleartext for rules to match) until the first "TLS connection
	// established" line proves the log would say so.
	PostfixTLSLogged bool
}

// Parser is stateful: it follows Dovecot sessions (session id → address,
// user, TLS) and Postfix sessions and queue ids, so that each event carries
// the fields of its session. Not safe for concurrent use.
type Parser struct {
	o        Options
	sessions map[string]*imapSession
	smtpd    map[string]*smtpSession // "postfix/submission/smtpd[123]" → open session
	queue    map[string]*queued
	smtpN    int
	last     time.Time // events never go back in time (stats lines lag)
	tlsSeen  bool      // a Postfix TLS line was seen: Postfix logs TLS
}

type imapSession struct {
	ip, user, method string
	port, lport      int
	tls              bool
	reasons          []string // auth_verbose failure reasons, oldest first
	clientName       string
	clientVersion    string
	mailbox          string // last SELECTed/EXAMINEd mailbox (event export)
	readonly         bool
}

type smtpSession struct {
	id, service, ip, helo, user string
	port                        int
	tls                         bool
	authed                      bool
	lost                        string // "lost connection after DATA"
}

type queued struct {
	sess      *smtpSession
	from, mid string
	size      int64
}

// NewParser returns a parser with no session known.
func NewParser(o Options) *Parser {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.SharedPrefix == "" {
		o.SharedPrefix = UsersPrefix
	}
	if o.TeamPrefix == "" {
		o.TeamPrefix = SharedPrefix
	}
	return &Parser{o: o, sessions: map[string]*imapSession{}, smtpd: map[string]*smtpSession{}, queue: map[string]*queued{}}
}

// Pending counts the Postfix queue ids whose delivery is not logged yet.
func (p *Parser) Pending() int { return len(p.queue) }

// Parse reads one log line and returns the events it stands for (often
// none). Sequence, ID and run id are left to the bus they are published on.
func (p *Parser) Parse(line string) []*audit.Event {
	line = strings.TrimRight(line, "\r\n")
	ts, rest, ok := p.timestamp(line)
	if !ok {
		ts = p.o.Now()
		rest = line
	}
	prog, msg, ok := program(rest)
	if !ok {
		return nil
	}
	var evs []*audit.Event
	switch {
	case strings.HasPrefix(prog, "postfix"):
		evs = p.postfix(prog, msg)
	default:
		evs = p.dovecot(prog, msg, &ts)
	}
	if p.o.Stamp != nil {
		ts = p.o.Stamp(ts)
	}
	for _, e := range evs {
		if e.Timestamp.IsZero() {
			e.Timestamp = ts
		} else if p.o.Stamp != nil {
			e.Timestamp = p.o.Stamp(e.Timestamp)
		}
		// Log order is event order: a line stamped to the second (or a
		// stats line written late) never goes before the previous event.
		if e.Timestamp.Before(p.last) {
			e.Timestamp = p.last
		}
		p.last = e.Timestamp
	}
	return evs
}

// --- line framing -------------------------------------------------------------

var (
	reRFC3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)? `)
	reStamp   = regexp.MustCompile(`^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(\.\d+)? `)
)

// timestamp strips a leading timestamp (and a syslog host name).
func (p *Parser) timestamp(line string) (time.Time, string, bool) {
	var t time.Time
	var rest string
	if m := reRFC3339.FindString(line); m != "" {
		s := strings.Replace(strings.TrimSpace(m), " ", "T", 1)
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			if t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, p.o.Location); err != nil {
				if t, err = time.Parse("2006-01-02T15:04:05.999999999Z0700", s); err != nil {
					return time.Time{}, "", false
				}
			}
		}
		rest = line[len(m):]
	} else if m := reStamp.FindString(line); m != "" {
		var err error
		t, err = time.ParseInLocation(time.StampMicro, strings.TrimSpace(m), p.o.Location)
		if err != nil {
			if t, err = time.ParseInLocation(time.Stamp, strings.TrimSpace(m), p.o.Location); err != nil {
				return time.Time{}, "", false
			}
		}
		now := p.o.Now().In(p.o.Location)
		y := now.Year()
		// A December line read in January belongs to last year.
		if t.Month() == time.December && now.Month() == time.January {
			y--
		}
		t = time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), p.o.Location)
		rest = line[len(m):]
	} else {
		return time.Time{}, "", false
	}
	// A syslog host name stands before the program unless the line comes
	// from Dovecot's own log file or Postfix's maillog_file (no host).
	if i := strings.IndexByte(rest, ' '); i > 0 && !strings.HasSuffix(rest[:i], ":") {
		rest = rest[i+1:]
	}
	return t, rest, true
}

var levels = []string{"Info: ", "Warning: ", "Error: ", "Debug: ", "Fatal: ", "Panic: "}

// program splits "prog: message" after the timestamp, with Dovecot's
// "dovecot: " syslog tag and its log level removed.
func program(rest string) (prog, msg string, ok bool) {
	rest = strings.TrimPrefix(rest, "dovecot: ")
	if strings.HasPrefix(rest, "dovecot[") { // "dovecot[123]: " (journald)
		if i := strings.Index(rest, "]: "); i > 0 {
			rest = rest[i+3:]
		}
	}
	i := strings.Index(rest, ": ")
	if i <= 0 {
		return "", "", false
	}
	prog, msg = rest[:i], rest[i+2:]
	for _, l := range levels {
		if strings.HasPrefix(msg, l) {
			msg = msg[len(l):]
			break
		}
	}
	return prog, msg, true
}

// --- Dovecot --------------------------------------------------------------------

var (
	reMailProc = regexp.MustCompile(`^(imap|lmtp|pop3|submission|managesieve|indexer-worker|doveadm)\((.*)\)(?:<(\d+)>)?(?:<([^>]*)>)?$`)
	reAuthProc = regexp.MustCompile(`^[a-z-]+\((.*),([0-9a-fA-F.:]*),<([^>]*)>\)$`)
	reAttempts = regexp.MustCompile(`auth failed, (\d+) attempts`)
)

func (p *Parser) dovecot(prog, msg string, ts *time.Time) []*audit.Event {
	switch {
	case prog == "imap-login":
		return p.login(msg)
	case prog == "auth" || strings.HasPrefix(prog, "auth-worker"):
		p.authLine(msg)
		return nil
	case prog == "stats":
		return p.export(msg, ts)
	}
	m := reMailProc.FindStringSubmatch(prog)
	if m == nil {
		return nil
	}
	if m[1] != "imap" {
		return nil // LMTP deliveries are taken from Postfix's lmtp lines
	}
	return p.imapLine(m[2], m[4], msg)
}

// loginFields parses the trailing "key=value, key=<v>, TLS" list of a
// login process line.
func loginFields(s string) map[string]string {
	f := map[string]string{}
	for part := range strings.SplitSeq(s, ", ") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			f[strings.TrimSpace(part)] = "1" // TLS, secured, TLS handshaking
			continue
		}
		v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
		f[k] = v
	}
	return f
}

// splitLogin cuts "Text (details): user=<...>, ..." at the field list.
func splitLogin(msg string) (head, fields string) {
	for _, key := range []string{": user=<", ": rip=", ": method="} {
		if i := strings.Index(msg, key); i >= 0 {
			return msg[:i], msg[i+2:]
		}
	}
	return msg, ""
}

func (p *Parser) session(id string) *imapSession {
	s := p.sessions[id]
	if s == nil {
		s = &imapSession{}
		if id != "" {
			if len(p.sessions) > 100000 { // unbounded logs: forget old sessions
				clear(p.sessions)
			}
			p.sessions[id] = s
		}
	}
	return s
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func (p *Parser) imapEvent(action, sid string, s *imapSession) *audit.Event {
	e := &audit.Event{
		Action: action, Outcome: audit.Success,
		ServiceType: "imap", ServiceName: "imap", SessionID: sid,
		SourceIP: s.ip, SourcePort: s.port, DestPort: s.lport, TLS: s.tls,
		UserName: s.user, ClientName: s.clientName, ClientVersion: s.clientVersion,
	}
	if s.tls && s.lport == 993 {
		e.ServiceName = "imaps"
	}
	return e
}

func (p *Parser) login(msg string) []*audit.Event {
	head, fl := splitLogin(msg)
	f := loginFields(fl)
	sid := f["session"]
	s := p.session(sid)
	if ip := f["rip"]; ip != "" {
		s.ip = ip
	}
	if port := f["rport"]; port != "" {
		s.port = atoi(port)
	}
	if port := f["lport"]; port != "" {
		s.lport = atoi(port)
	}
	// "secured" is also said of loopback; only TLS means encryption.
	s.tls = f["TLS"] != "" || strings.Contains(fl, "TLS")
	user := f["user"]
	method := f["method"]
	switch {
	case strings.HasPrefix(head, "Login"):
		s.user, s.method = user, method
		e := p.imapEvent(audit.IMAPLogin, sid, s)
		e.AuthMechanism = method
		e.AuthCleartext = audit.Bool(!s.tls)
		e.Command = "LOGIN"
		if method != "PLAIN" && method != "LOGIN" {
			e.Command = "AUTHENTICATE"
		}
		return []*audit.Event{e}
	case strings.HasPrefix(head, "ID sent"):
		id := strings.TrimPrefix(head, "ID sent: ")
		e := p.imapEvent(audit.IMAPID, sid, s)
		e.ClientIDRaw = strings.ReplaceAll(id, ", ", "; ")
		for kv := range strings.SplitSeq(id, ", ") {
			k, v, _ := strings.Cut(kv, "=")
			switch strings.ToLower(k) {
			case "name":
				s.clientName, e.ClientName = v, v
			case "version":
				s.clientVersion, e.ClientVersion = v, v
			}
		}
		e.Command = "ID"
		return []*audit.Event{e}
	case strings.Contains(head, "disallowed plaintext auth"):
		e := p.failedLogin(sid, s, user, method)
		e.Reason = "cleartext_disallowed"
		return []*audit.Event{e}
	case strings.Contains(head, "auth failed"):
		n := 1
		if m := reAttempts.FindStringSubmatch(head); m != nil {
			n = max(1, min(atoi(m[1]), 1000))
		}
		out := make([]*audit.Event, 0, n)
		for i := range n {
			e := p.failedLogin(sid, s, user, method)
			e.Reason = "invalid_credentials"
			// auth_verbose tells each attempt's reason; align the last ones.
			if j := len(s.reasons) - n + i; j >= 0 && j < len(s.reasons) {
				e.Reason = s.reasons[j]
			}
			out = append(out, e)
		}
		// The session ends with this line (mailsim logs a logout too).
		e := p.imapEvent(audit.IMAPLogout, sid, s)
		e.UserName = user
		e.Reason = disconnectReason(head)
		out = append(out, e)
		delete(p.sessions, sid)
		return out
	case strings.HasPrefix(head, "Disconnected"), strings.HasPrefix(head, "Aborted login"):
		// A session that never logged in (or whose login was cut short).
		e := p.imapEvent(audit.IMAPLogout, sid, s)
		e.UserName = user
		e.Reason = disconnectReason(head)
		delete(p.sessions, sid)
		return []*audit.Event{e}
	}
	return nil
}

func disconnectReason(head string) string {
	if i := strings.Index(head, "("); i >= 0 {
		r := strings.TrimSuffix(head[i+1:], ")")
		if j := strings.Index(r, " in "); j >= 0 {
			r = r[:j]
		}
		return r
	}
	return ""
}

func (p *Parser) failedLogin(sid string, s *imapSession, user, method string) *audit.Event {
	e := p.imapEvent(audit.IMAPLogin, sid, s)
	e.Outcome = audit.Failure
	e.UserName = user
	e.AuthMechanism = method
	e.AuthCleartext = audit.Bool(!s.tls)
	e.Command = "LOGIN"
	return e
}

// authLine records auth_verbose reasons: "passwd-file(user,ip,<session>): Password mismatch".
func (p *Parser) authLine(msg string) {
	i := strings.Index(msg, "): ")
	if i < 0 {
		return
	}
	m := reAuthProc.FindStringSubmatch(msg[:i+1])
	if m == nil {
		return
	}
	var reason string
	switch text := msg[i+3:]; {
	case strings.Contains(text, "Password mismatch"):
		reason = "invalid_credentials"
	case strings.Contains(text, "unknown user"):
		reason = "unknown_user"
	default:
		return
	}
	s := p.session(m[3])
	if s.ip == "" {
		s.ip = m[2]
	}
	if len(s.reasons) < 1000 {
		s.reasons = append(s.reasons, reason)
	}
}

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

// --- Postfix --------------------------------------------------------------------

var (
	reClient  = regexp.MustCompile(`^(?:([^\s\[]*)\[([0-9a-fA-F.:]+)\])(?::(\d+))?`)
	reQueueID = regexp.MustCompile(`^([0-9A-Za-z]{5,20}): (.*)$`)
	reAngle   = regexp.MustCompile(`\b(from|to|helo|orig_to)=<([^>]*)>`)
	reKV      = regexp.MustCompile(`\b(size|nrcpt|relay|status|sasl_method|sasl_username|dsn)=([^,\s]*)`)
	rePID     = regexp.MustCompile(`\[(\d+)\]$`)
)

func clientAddr(s string) (ip string, port int) {
	m := reClient.FindStringSubmatch(s)
	if m == nil {
		return "", 0
	}
	return m[2], atoi(m[3])
}

func postfixService(prog string) string {
	switch {
	case strings.Contains(prog, "/submission/"):
		return "submission"
	case strings.Contains(prog, "/smtps/"):
		return "smtps"
	}
	return "mx"
}

func (p *Parser) smtpEvent(action string, s *smtpSession) *audit.Event {
	return &audit.Event{
		Action: action, Outcome: audit.Success,
		ServiceType: "smtp", ServiceName: s.service, SessionID: s.id,
		SourceIP: s.ip, SourcePort: s.port, TLS: s.tls, TLSUnknown: !s.tls && !p.o.PostfixTLSLogged && !p.tlsSeen,
		UserName: s.user, SMTPHelo: s.helo,
	}
}

// smtpCleartext is auth.cleartext for an SMTP session: unknown when the
// log cannot tell whether TLS was up.
func (p *Parser) smtpCleartext(s *smtpSession) *bool {
	if !s.tls && !p.o.PostfixTLSLogged && !p.tlsSeen {
		return nil
	}
	return audit.Bool(!s.tls)
}

func (p *Parser) postfix(prog, msg string) []*audit.Event {
	daemon := prog
	if i := strings.IndexByte(daemon, '['); i >= 0 {
		daemon = daemon[:i]
	}
	daemon = daemon[strings.LastIndexByte(daemon, '/')+1:]
	switch daemon {
	case "smtpd":
		return p.smtpdLine(prog, msg)
	case "cleanup":
		if m := reQueueID.FindStringSubmatch(msg); m != nil {
			if q := p.queue[m[1]]; q != nil {
				if id, ok := strings.CutPrefix(m[2], "message-id="); ok {
					q.mid = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
				}
			}
		}
	case "qmgr":
		m := reQueueID.FindStringSubmatch(msg)
		if m == nil {
			return nil
		}
		q := p.queue[m[1]]
		if m[2] == "removed" {
			delete(p.queue, m[1])
			return nil
		}
		if q == nil || !strings.HasPrefix(m[2], "from=") || q.from != "" {
			return nil
		}
		q.from = angle(m[2], "from")
		q.size, _ = strconv.ParseInt(kv(m[2], "size"), 10, 64)
		e := p.smtpEvent(audit.SMTPData, q.sess)
		e.SMTPMailFrom = q.from
		e.MessageID = q.mid
		e.MessageSize = q.size
		e.Command = ""
		return []*audit.Event{e}
	case "lmtp", "smtp", "discard", "local", "virtual", "pipe", "error":
		m := reQueueID.FindStringSubmatch(msg)
		if m == nil || !strings.HasPrefix(m[2], "to=") {
			return nil
		}
		q := p.queue[m[1]]
		if q == nil {
			// Not received over SMTP here (a bounce, a local pickup).
			q = &queued{sess: &smtpSession{id: "postfix-" + m[1], service: "mx"}}
		}
		rcpt := angle(m[2], "to")
		e := p.smtpEvent(audit.SMTPDeliver, q.sess)
		e.SMTPMailFrom = q.from
		e.SMTPRcptTo = rcpt
		e.MessageID = q.mid
		e.MessageSize = q.size
		if _, dom, ok := strings.Cut(rcpt, "@"); ok {
			e.DestDomain = strings.ToLower(dom)
		}
		switch daemon {
		case "lmtp", "local", "virtual":
			e.EmailDirection = "inbound"
			if q.sess.user != "" {
				e.EmailDirection = "internal"
			}
		default:
			e.EmailDirection = "outbound"
		}
		if st := kv(m[2], "status"); st != "sent" {
			e.Outcome = audit.Failure
			e.Reason = st
		}
		return []*audit.Event{e}
	}
	return nil
}

func angle(s, key string) string {
	for _, m := range reAngle.FindAllStringSubmatch(s, -1) {
		if m[1] == key {
			return m[2]
		}
	}
	return ""
}

func kv(s, key string) string {
	for _, m := range reKV.FindAllStringSubmatch(s, -1) {
		if m[1] == key {
			return m[2]
		}
	}
	return ""
}

func (p *Parser) smtpdLine(prog, msg string) []*audit.Event {
	s := p.smtpd[prog]
	if rest, ok := strings.CutPrefix(msg, "connect from "); ok {
		p.smtpN++
		id := "smtp-" + strconv.Itoa(p.smtpN)
		if m := rePID.FindStringSubmatch(prog); m != nil {
			id = fmt.Sprintf("smtp-%s-%d", m[1], p.smtpN)
		}
		s = &smtpSession{id: id, service: postfixService(prog)}
		s.ip, s.port = clientAddr(rest)
		if len(p.smtpd) > 100000 {
			clear(p.smtpd)
		}
		p.smtpd[prog] = s
		return []*audit.Event{p.smtpEvent(audit.SMTPConnect, s)}
	}
	if s == nil {
		s = &smtpSession{id: "smtp-" + strings.TrimPrefix(rePID.FindString(prog), "["), service: postfixService(prog)}
		s.id = strings.TrimSuffix(s.id, "]")
		p.smtpd[prog] = s
	}
	switch {
	case strings.HasPrefix(msg, "lost connection after "), strings.HasPrefix(msg, "timeout after "):
		// The "disconnect from" line follows: it carries the event.
		s.lost = strings.SplitN(msg, " from ", 2)[0]
		return nil
	case strings.HasPrefix(msg, "disconnect from "):
		if s.ip == "" {
			s.ip, s.port = clientAddr(strings.TrimPrefix(msg, "disconnect from "))
		}
		e := p.smtpEvent(audit.SMTPDisconnect, s)
		e.Reason = s.lost
		delete(p.smtpd, prog)
		return []*audit.Event{e}
	case strings.HasPrefix(msg, "Anonymous TLS connection established"),
		strings.HasPrefix(msg, "Trusted TLS connection established"),
		strings.HasPrefix(msg, "Untrusted TLS connection established"),
		strings.HasPrefix(msg, "Verified TLS connection established"):
		s.tls, p.tlsSeen = true, true
		return []*audit.Event{p.smtpEvent(audit.SMTPStartTLS, s)}
	case strings.HasPrefix(msg, "warning: ") && strings.Contains(msg, "authentication failed"):
		// warning: unknown[203.0.113.7]: SASL PLAIN authentication failed: ..., sasl_username=u
		e := p.smtpEvent(audit.SMTPAuth, s)
		e.Outcome = audit.Failure
		e.Reason = "invalid_credentials"
		if i := strings.Index(msg, "SASL "); i >= 0 {
			e.AuthMechanism, _, _ = strings.Cut(msg[i+5:], " ")
		}
		e.UserName = kv(msg, "sasl_username")
		e.AuthCleartext = p.smtpCleartext(s)
		return []*audit.Event{e}
	case strings.HasPrefix(msg, "NOQUEUE: reject: RCPT from "):
		e := p.smtpEvent(audit.SMTPRcpt, s)
		e.Outcome = audit.Failure
		if i := strings.Index(msg, ": "+"5"); i >= 0 {
			e.Reason = strings.SplitN(msg[i+2:], ";", 2)[0]
		} else if i := strings.Index(msg, ": 4"); i >= 0 {
			e.Reason = strings.SplitN(msg[i+2:], ";", 2)[0]
		}
		e.SMTPMailFrom = angle(msg, "from")
		e.SMTPRcptTo = angle(msg, "to")
		if h := angle(msg, "helo"); h != "" {
			s.helo = h
			e.SMTPHelo = h
		}
		if _, dom, ok := strings.Cut(e.SMTPRcptTo, "@"); ok {
			e.DestDomain = strings.ToLower(dom)
		}
		return []*audit.Event{e}
	}
	m := reQueueID.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	rest, ok := strings.CutPrefix(m[2], "client=")
	if !ok {
		return nil
	}
	if s.ip == "" {
		s.ip, s.port = clientAddr(rest)
	}
	if len(p.queue) > 100000 {
		clear(p.queue)
	}
	p.queue[m[1]] = &queued{sess: s}
	user := kv(rest, "sasl_username")
	if user == "" || s.authed {
		return nil
	}
	s.user, s.authed = user, true
	e := p.smtpEvent(audit.SMTPAuth, s)
	e.AuthMechanism = kv(rest, "sasl_method")
	e.AuthCleartext = p.smtpCleartext(s)
	return []*audit.Event{e}
}
