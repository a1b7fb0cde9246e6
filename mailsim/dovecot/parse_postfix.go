package dovecot

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/maildrill/maildrill/mailsim/audit"
)

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
			p.known = true
			if q := p.queue[m[1]]; q != nil {
				if id, ok := strings.CutPrefix(m[2], "message-id="); ok {
					q.mid = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
				} else if name, ok := attachmentName(m[2]); ok {
					q.atts = append(q.atts, name)
				}
			}
		}
	case "qmgr":
		m := reQueueID.FindStringSubmatch(msg)
		if m == nil {
			return nil
		}
		p.known = true
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
		q.attachments(e)
		return []*audit.Event{e}
	case "lmtp", "smtp", "discard", "local", "virtual", "pipe", "error":
		m := reQueueID.FindStringSubmatch(msg)
		if m == nil || !strings.HasPrefix(m[2], "to=") {
			return nil
		}
		p.known = true
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
		q.attachments(e)
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
		p.known = true
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
	p.known = true
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

// reHeaderDisposition is a cleanup line logged by a header_checks or
// mime_header_checks rule with INFO or WARN on a Content-Disposition
// header (the enhanced profile's docker/dovecot/conf/mime_header_checks):
//
//	info: header Content-Disposition: attachment;? filename="rapport.pdf" from unknown[10.20.0.31]:49152; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: attachment
//
// Postfix prints a folded header's line breaks as "?".
var (
	reHeaderDisposition = regexp.MustCompile(`(?i)^(?:info|warning): header Content-Disposition:(.*) from [^;]*; from=<`)
	reFilename          = regexp.MustCompile(`(?i)filename\*?=\s*(?:"([^"]*)"|([^;?\s]+))`)
)

// attachmentName reads the file name of an attachment from a cleanup
// line's text (after the queue id); ok is false for any other line.
func attachmentName(msg string) (string, bool) {
	m := reHeaderDisposition.FindStringSubmatch(msg)
	if m == nil || !strings.Contains(strings.ToLower(m[1]), "attachment") {
		return "", false
	}
	f := reFilename.FindStringSubmatch(m[1])
	if f == nil {
		return "", true // an attachment without a name: counted
	}
	return f[1] + f[2], true
}

// attachments copies the message's attachments to e.
func (q *queued) attachments(e *audit.Event) {
	if len(q.atts) == 0 {
		return
	}
	e.AttachmentCount = len(q.atts)
	e.AttachmentNames = append([]string(nil), q.atts...)
}
