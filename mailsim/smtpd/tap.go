package smtpd

import (
	"strings"
	"sync"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// replyTap is the Debug stream of a connection's go-smtp server: what
// go-smtp reads and writes, in plaintext even after STARTTLS. Replies are
// told apart from input because go-smtp sets the write deadline before
// each reply (trackedConn.SetWriteDeadline calls replyComing) and writes
// each reply line with one flush. The tap audits the refusals go-smtp makes
// without calling the session (syntax, sequence, limits) and notes QUIT,
// timeouts and the like for the disconnect.
type replyTap struct {
	cs      *connState
	mu      sync.Mutex
	pending bool // the next writes are reply lines, until a final one
}

func (t *replyTap) replyComing() {
	t.mu.Lock()
	t.pending = true
	t.mu.Unlock()
}

func (t *replyTap) Write(p []byte) (int, error) {
	t.mu.Lock()
	isReply := t.pending
	final := len(p) >= 4 && p[3] == ' '
	if isReply && final {
		t.pending = false
	}
	t.mu.Unlock()
	if isReply && final {
		t.cs.reply(string(p))
	}
	return len(p), nil
}

// selfReply is what a go-smtp refusal is recorded as.
type selfReply struct {
	action string
	reason string
}

// selfReplies maps the text of the refusals go-smtp v0.25.1 answers by
// itself (conn.go) to audit events. The session's own refusals use other
// texts and are audited where they are made.
var selfReplies = map[string]selfReply{
	"Please introduce yourself first.":          {audit.SMTPCommand, ReasonOutOfSequence},
	"Domain/address argument required for HELO": {audit.SMTPCommand, ReasonSyntaxError},
	"Bad command":                                     {audit.SMTPCommand, ReasonSyntaxError},
	"Error: bad syntax":                               {audit.SMTPCommand, ReasonSyntaxError},
	"This is not a LMTP server":                       {audit.SMTPCommand, ReasonUnknownCommand},
	"MAIL not allowed during message transfer":        {audit.SMTPMailFrom, ReasonOutOfSequence},
	"Was expecting MAIL arg syntax of FROM:<address>": {audit.SMTPMailFrom, ReasonSyntaxError},
	"Unable to parse MAIL ESMTP parameters":           {audit.SMTPMailFrom, ReasonSyntaxError},
	"Unable to parse SIZE as an integer":              {audit.SMTPMailFrom, ReasonBadSize},
	"Unknown BODY value":                              {audit.SMTPMailFrom, ReasonSyntaxError},
	"Unknown RET value":                               {audit.SMTPMailFrom, ReasonSyntaxError},
	"Malformed ENVID parameter value":                 {audit.SMTPMailFrom, ReasonSyntaxError},
	"Malformed AUTH parameter value":                  {audit.SMTPMailFrom, ReasonSyntaxError},
	"Malformed AUTH parameter mailbox":                {audit.SMTPMailFrom, ReasonSyntaxError},
	"Unknown MAIL FROM argument":                      {audit.SMTPMailFrom, ReasonSyntaxError},
	"SMTPUTF8 is not implemented":                     {audit.SMTPMailFrom, ReasonNotImplemented},
	"REQUIRETLS is not implemented":                   {audit.SMTPMailFrom, ReasonNotImplemented},
	"BINARYMIME is not implemented":                   {audit.SMTPMailFrom, ReasonNotImplemented},
	"RET is not implemented":                          {audit.SMTPMailFrom, ReasonNotImplemented},
	"ENVID is not implemented":                        {audit.SMTPMailFrom, ReasonNotImplemented},
	"RCPT not allowed during message transfer":        {audit.SMTPRcpt, ReasonOutOfSequence},
	"Missing MAIL FROM command.":                      {audit.SMTPRcpt, ReasonOutOfSequence},
	"Was expecting RCPT arg syntax of TO:<address>":   {audit.SMTPRcpt, ReasonSyntaxError},
	"Unable to parse RCPT ESMTP parameters":           {audit.SMTPRcpt, ReasonSyntaxError},
	"Unknown RCPT TO argument":                        {audit.SMTPRcpt, ReasonSyntaxError},
	"NOTIFY is not implemented":                       {audit.SMTPRcpt, ReasonNotImplemented},
	"ORCPT is not implemented":                        {audit.SMTPRcpt, ReasonNotImplemented},
	"RRVS is not implemented":                         {audit.SMTPRcpt, ReasonNotImplemented},
	"DELIVERBY is not implemented":                    {audit.SMTPRcpt, ReasonNotImplemented},
	"MT-PRIORITY is not implemented":                  {audit.SMTPRcpt, ReasonNotImplemented},
	// Only with extensions smtpd does not enable (DSN, RRVS, DELIVERBY,
	// MT-PRIORITY): listed so that enabling one keeps them audited.
	"Malformed NOTIFY parameter value":           {audit.SMTPRcpt, ReasonSyntaxError},
	"Malformed ORCPT parameter value":            {audit.SMTPRcpt, ReasonSyntaxError},
	"Malformed RRVS parameter value":             {audit.SMTPRcpt, ReasonSyntaxError},
	"Malformed BY parameter value":               {audit.SMTPRcpt, ReasonSyntaxError},
	"BY parameter is below server minimum":       {audit.SMTPRcpt, ReasonSyntaxError},
	"Malformed MT-PRIORITY parameter value":      {audit.SMTPRcpt, ReasonSyntaxError},
	"MT-PRIORITY is outside valid range":         {audit.SMTPRcpt, ReasonSyntaxError},
	"Missing RCPT TO command.":                   {audit.SMTPData, ReasonOutOfSequence},
	"DATA not allowed during message transfer":   {audit.SMTPData, ReasonOutOfSequence},
	"DATA not allowed for BINARYMIME messages":   {audit.SMTPData, ReasonOutOfSequence},
	"DATA command should not have any arguments": {audit.SMTPData, ReasonSyntaxError},
	"Missing chunk size argument":                {audit.SMTPData, ReasonSyntaxError},
	"Too many arguments":                         {audit.SMTPData, ReasonSyntaxError},
	"Unknown BDAT argument":                      {audit.SMTPData, ReasonSyntaxError},
	"Malformed size argument":                    {audit.SMTPData, ReasonSyntaxError},
	"Already authenticated":                      {audit.SMTPAuth, ReasonOutOfSequence},
	"Missing parameter":                          {audit.SMTPAuth, ReasonSyntaxError},
	"Invalid base64 data":                        {audit.SMTPAuth, ReasonMalformed},
	"Already running in TLS":                     {audit.SMTPStartTLS, ReasonOutOfSequence},
	"TLS not supported":                          {audit.SMTPStartTLS, ReasonNotImplemented},
}

// reply looks at one final reply line go-smtp wrote.
func (cs *connState) reply(line string) {
	line = strings.TrimRight(line, "\r\n")
	if len(line) < 4 {
		return
	}
	code, text := line[:3], line[4:]
	// Drop the enhanced status code.
	if f, rest, ok := strings.Cut(text, " "); ok && strings.Count(f, ".") == 2 && f[0] >= '2' && f[0] <= '5' {
		text = rest
	}
	switch {
	case code == "221":
		cs.setReason(ReasonClientQuit)
		return
	case code[0] < '4':
		return
	}
	switch {
	case text == "Too long line, closing connection":
		cs.setReason(ReasonLineTooLong)
		return
	case text == "Too many errors. Quiting now":
		cs.setReason(ReasonTooManyErrors)
		return
	case text == "Connection error, sorry":
		cs.setReason(ReasonConnectionError)
		return
	case text == "Internal server error": // a panic go-smtp recovered
		cs.setReason(ReasonInternalError)
		return
	case text == "Idle timeout, bye bye", text == "Handshake error":
		return // the disconnect says why
	case text == "Negotiation cancelled":
		cs.flushAuth(ReasonAborted)
		return
	}
	r, ok := selfReplies[text]
	switch {
	case ok:
	case strings.HasPrefix(text, "Maximum limit of ") && strings.HasSuffix(text, " recipients reached"):
		r = selfReply{audit.SMTPRcpt, ReasonLimitRecipients}
	case text == "Max message size exceeded":
		// MAIL FROM's SIZE= or a BDAT chunk over the limit: the latter
		// only once recipients are in.
		r = selfReply{audit.SMTPMailFrom, ReasonMessageTooLarge}
		if cs.hasRecipients() {
			r.action = audit.SMTPData
		}
	case strings.HasPrefix(text, "Syntax errors, ") && strings.HasSuffix(text, " command unrecognized"):
		r = selfReply{audit.SMTPCommand, ReasonUnknownCommand}
	case code == "502" && strings.HasSuffix(text, " command not implemented"):
		r = selfReply{audit.SMTPCommand, ReasonNotImplemented}
	default:
		return
	}
	if r.action == audit.SMTPAuth && r.reason == ReasonMalformed && cs.flushAuth(ReasonMalformed) {
		return // the exchange in progress is recorded as malformed
	}
	e := cs.event(r.action)
	e.Outcome, e.Reason = audit.Failure, r.reason
	if r.action == audit.SMTPRcpt || r.action == audit.SMTPData {
		e.SMTPMailFrom = cs.mailFrom()
	}
	cs.srv.publish(e)
}

// flushAuth ends the session's AUTH exchange in progress with reason; it
// reports whether there was one.
func (cs *connState) flushAuth(reason string) bool {
	cs.mu.Lock()
	s := cs.sess
	cs.mu.Unlock()
	if s == nil {
		return false
	}
	return s.endAuth(reason)
}

func (cs *connState) hasRecipients() bool {
	cs.mu.Lock()
	s := cs.sess
	cs.mu.Unlock()
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rcpts) > 0
}

func (cs *connState) mailFrom() string {
	cs.mu.Lock()
	s := cs.sess
	cs.mu.Unlock()
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.from
}
