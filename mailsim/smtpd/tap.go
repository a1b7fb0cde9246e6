package smtpd

import (
	"bytes"
	"strconv"
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
	in      inputTracker
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
		t.in.reply(p[:3])
	} else if !isReply {
		t.in.input(p)
	}
	t.mu.Unlock()
	if isReply && final {
		t.cs.reply(string(p))
	}
	return len(p), nil
}

// authMechanism is the mechanism the latest AUTH command named.
func (t *replyTap) authMechanism() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.in.authMech
}

// mechanismOf is the SASL mechanism name an AUTH command's argument
// starts with (RFC 4422 §3.1: up to 20 of A-Z, 0-9, "-" and "_"), or "".
func mechanismOf(arg string) string {
	m, _, _ := strings.Cut(arg, " ")
	m = strings.ToUpper(m)
	if len(m) == 0 || len(m) > 20 || strings.ContainsFunc(m, func(r rune) bool {
		return (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_'
	}) {
		return ""
	}
	return m
}

// lastChunkShort reports whether the last BDAT LAST chunk go-smtp read was
// shorter than announced (the client closed the stream inside it).
func (t *replyTap) lastChunkShort() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.in.lost && t.in.lastLeft > 0
}

// inputTracker follows the client's input as go-smtp reads it (its Debug
// stream, ahead of its processing), to know where BDAT chunks end. It
// mirrors go-smtp's parsing: command lines, BDAT chunks (always read once
// the size parses), DATA bodies (after a 354), AUTH responses (after a 334)
// and the plaintext dropped at STARTTLS; at DATA, AUTH and STARTTLS it waits
// for the command's reply, counting the replies owed to the commands read
// before it. Out of step (a line past go-smtp's limit), it gives up: lost.
type inputTracker struct {
	buf      []byte
	state    int
	owed     int    // replies owed to the commands read so far
	wait     string // DATA, AUTH or STARTTLS, in stateWait
	skip     int    // replies to earlier commands before wait's own
	authResp bool   // a 334 came: the next line is an AUTH response
	left     int64  // bytes of the current chunk still to come
	last     bool   // the current chunk is the LAST one
	lastLeft int64  // bytes of the latest LAST chunk not seen
	authMech string // the mechanism of the latest AUTH command
	body     int    // go-smtp's end-of-data scanner state
	lost     bool
}

const (
	stateCommand = iota
	stateChunk
	stateBody
	stateWait
)

// maxTrackedInput bounds what the tracker holds while it waits for a
// reply (go-smtp reads ahead by one buffer at most).
const maxTrackedInput = 64 << 10

func (t *inputTracker) input(p []byte) {
	if t.lost {
		return
	}
	if len(t.buf) == 0 {
		// A chunk's or a body's bytes with nothing held before them are
		// consumed from p, not kept: a message sent in one BDAT chunk or
		// by DATA was copied here whole.
		switch t.state {
		case stateChunk:
			t.chunk(&p)
		case stateBody:
			if t.scanBody(&p) {
				t.state = stateCommand
			}
		}
		if len(p) == 0 {
			return
		}
	}
	t.buf = append(t.buf, p...)
	t.advance()
	if len(t.buf) > maxTrackedInput {
		t.lost, t.buf = true, nil
	}
}

func (t *inputTracker) reply(code []byte) {
	if t.lost {
		return
	}
	if t.state != stateWait {
		if t.owed > 0 {
			t.owed--
		}
		return
	}
	if t.skip > 0 {
		t.skip--
		t.owed--
		return
	}
	switch c := string(code); t.wait {
	case "DATA":
		if c == "354" {
			t.state, t.body = stateBody, 0 // the result reply is still owed
		} else {
			t.owed--
			t.state = stateCommand
		}
	case "AUTH":
		if c == "334" {
			t.authResp = true
		} else {
			t.owed--
			t.state = stateCommand
		}
	case "STARTTLS":
		t.owed--
		t.state = stateCommand
		if c == "220" {
			t.buf = t.buf[:0] // go-smtp drops what was read ahead in clear
		}
	}
	t.advance()
}

func (t *inputTracker) line() (string, bool) {
	i := bytes.IndexByte(t.buf, '\n')
	if i < 0 {
		if len(t.buf) > 4096 { // past go-smtp's line limit: it hangs up
			t.lost = true
		}
		return "", false
	}
	l := strings.TrimSuffix(string(t.buf[:i]), "\r")
	t.buf = t.buf[i+1:]
	return l, true
}

func (t *inputTracker) advance() {
	for !t.lost {
		switch t.state {
		case stateChunk:
			if t.chunk(&t.buf); t.state == stateChunk {
				return
			}
		case stateBody:
			if !t.scanBody(&t.buf) {
				return
			}
			t.state = stateCommand
		case stateWait:
			if !t.authResp {
				return
			}
			if _, ok := t.line(); !ok {
				return
			}
			t.authResp = false
		case stateCommand:
			l, ok := t.line()
			if !ok {
				return
			}
			t.owed++
			cmd, arg := commandOf(l)
			switch cmd {
			case "BDAT":
				if size, last, ok := bdatArgs(arg); ok {
					t.state, t.left, t.last = stateChunk, size, last
					if last {
						t.lastLeft = size
					}
				}
			case "DATA", "AUTH", "STARTTLS":
				if cmd == "DATA" && arg != "" {
					break // refused at once
				}
				if cmd == "AUTH" {
					t.authMech = mechanismOf(arg)
				}
				t.state, t.wait, t.skip = stateWait, cmd, t.owed-1
			}
		}
	}
}

// chunk consumes from *p what is left of the current BDAT chunk, and
// goes back to reading commands when the chunk is complete.
func (t *inputTracker) chunk(p *[]byte) {
	n := min(int64(len(*p)), t.left)
	*p = (*p)[n:]
	t.left -= n
	if t.last {
		t.lastLeft = t.left
	}
	if t.left == 0 {
		t.state = stateCommand
	}
}

// scanBody consumes a DATA body from *p as go-smtp's dataReader does, up
// to the ".\r\n" line; it reports whether the body ended.
func (t *inputTracker) scanBody(p *[]byte) bool {
	const (
		beginLine = iota
		dot
		dotCR
		cr
		data
	)
	for i, c := range *p {
		switch t.body {
		case beginLine:
			switch c {
			case '.':
				t.body = dot
			case '\r':
				t.body = cr
			default:
				t.body = data
			}
		case dot:
			if c == '\r' {
				t.body = dotCR
			} else {
				t.body = data
			}
		case dotCR:
			if c == '\n' {
				*p = (*p)[i+1:]
				return true
			}
			t.body = data
		case cr:
			if c == '\n' {
				t.body = beginLine
			} else {
				t.body = data
			}
		case data:
			if c == '\r' {
				t.body = cr
			}
		}
	}
	*p = (*p)[:0]
	return false
}

// commandOf parses a command line as go-smtp's parseCmd does.
func commandOf(line string) (cmd, arg string) {
	switch l := len(line); {
	case strings.HasPrefix(strings.ToUpper(line), "STARTTLS"):
		return "STARTTLS", ""
	case l < 4, l == 5:
		return "", ""
	case l == 4:
		return strings.ToUpper(line), ""
	case line[4] != ' ':
		return "", ""
	}
	return strings.ToUpper(line[:4]), strings.TrimSpace(line[5:])
}

// bdatArgs parses BDAT's arguments as go-smtp does: when the size parses,
// go-smtp reads the chunk, whether or not it accepts it.
func bdatArgs(arg string) (size int64, last, ok bool) {
	args := strings.Fields(arg)
	if len(args) == 0 || len(args) > 2 {
		return 0, false, false
	}
	if len(args) == 2 {
		if !strings.EqualFold(args[1], "LAST") {
			return 0, false, false
		}
		last = true
	}
	n, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		return 0, false, false
	}
	return int64(n), last, true
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
	case code == "252" && text == "Cannot VRFY user, but will accept message":
		// go-smtp answers VRFY itself, verifying nothing; the attempt
		// (user enumeration) was in no event.
		e := cs.event(audit.SMTPCommand)
		e.Outcome, e.Reason, e.SMTPVerb = audit.Failure, ReasonNotImplemented, "VRFY"
		cs.srv.publish(e)
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
	verb := ""
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
		verb = strings.TrimSuffix(strings.TrimPrefix(text, "Syntax errors, "), " command unrecognized")
	case code == "502" && strings.HasSuffix(text, " command not implemented"):
		r = selfReply{audit.SMTPCommand, ReasonNotImplemented}
		verb = strings.TrimSuffix(text, " command not implemented")
	default:
		return
	}
	if r.action == audit.SMTPAuth && r.reason == ReasonMalformed && cs.flushAuth(ReasonMalformed) {
		return // the exchange in progress is recorded as malformed
	}
	e := cs.event(r.action)
	e.Outcome, e.Reason = audit.Failure, r.reason
	if r.action == audit.SMTPAuth {
		// An initial response that is not base64: refused before the
		// session heard of the exchange.
		e.AuthMechanism = cs.tap.authMechanism()
	}
	if len(verb) <= 64 {
		e.SMTPVerb = strings.ToUpper(verb)
	}
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
