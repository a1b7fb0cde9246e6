package dovecot

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
)

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
// A reason without a session (an SMTP AUTH checked for Postfix) is known
// but has no IMAP login to go to: Postfix logs that failure itself.
func (p *Parser) authLine(msg string) {
	i := strings.Index(msg, "): ")
	if i < 0 {
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
	p.known = true
	m := reAuthProc.FindStringSubmatch(msg[:i+1])
	if m == nil {
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
