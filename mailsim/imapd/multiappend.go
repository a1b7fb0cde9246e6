package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
)

// MULTIAPPEND (RFC 3502): APPEND mailbox (flags) date {n}<message>
// (flags) date {m}<message> ... go-imap's imapserver takes one message per
// APPEND, so the shim, once a message's literal is in, reads what follows
// it: another message, and the server's APPEND of this one is ended with
// CRLF (its answer withheld from the client) and the next message sent to
// the server as an APPEND of its own, to the same mailbox. The session
// keeps the messages and adds them all at once when the last one is in
// (store.Mailbox.AppendAll): all or none, one APPENDUID with the UID set.

// readCommandPart reads the next line of the command being relayed, with
// the checks of any command line.
func (c *conn) readCommandPart(tag string, cmd *relayed, budget int) ([]byte, error) {
	part, err := readLine(c.cr, max(budget, 0))
	if err != nil {
		if errors.Is(err, errLineTooLong) {
			return nil, c.bye(tag, "TOOBIG", "Command line too long", "limit_line_length", cmd.name)
		}
		return nil, err
	}
	if why, reason := badLine(part); why != "" {
		return nil, c.bye(tag, "CLIENTBUG", why, reason, cmd.name)
	}
	return part, nil
}

// nextAppend returns the next message of a MULTIAPPEND as an APPEND
// command, when next (what followed a message literal) starts one: flags,
// a date or a literal, ending with a literal. rest is the APPEND's first
// line after its name. nil: not another message.
func (c *conn) nextAppend(tag string, rest, next []byte, cmd *relayed) []byte {
	if cmd.name != "APPEND" {
		return nil
	}
	t := bytes.TrimLeft(next, " ")
	if len(t) == 0 || !(t[0] == '(' || t[0] == '"' || t[0] == '{' || t[0] == '~') {
		return nil
	}
	if _, _, isLit := clientLiteral(next); !isLit {
		return nil
	}
	// The UTF8 data extension (RFC 6855) ends with ")" after the
	// literal: not taken apart here.
	if bytes.Contains(bytes.ToUpper(literalPrefix(t)), []byte("UTF8")) || bytes.HasSuffix(bytes.TrimRight(literalPrefix(cmd.parts[len(cmd.parts)-1]), " "), []byte("(~")) {
		return nil
	}
	box, ok := mailboxToken(bytes.TrimLeft(rest, " "))
	if !ok {
		return nil
	}
	out := make([]byte, 0, len(tag)+len(box)+len(t)+10)
	out = append(out, tag...)
	out = append(out, " APPEND "...)
	out = append(out, box...)
	out = append(out, ' ')
	return append(out, t...)
}

// mailboxToken returns the mailbox argument at the start of s: an atom or
// a quoted string (not a literal).
func mailboxToken(s []byte) ([]byte, bool) {
	if len(s) == 0 {
		return nil, false
	}
	if s[0] == '"' {
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				return s[:i+1], true
			}
		}
		return nil, false
	}
	if s[0] == '{' || s[0] == '~' {
		return nil, false
	}
	i := bytes.IndexByte(s, ' ')
	if i <= 0 {
		return nil, false
	}
	return s[:i], true
}

// tellAppend tells the session's Append whether another message follows.
func (c *conn) tellAppend(more bool) {
	select {
	case <-c.appendMore: // an answer the session never took
	default:
	}
	c.appendMore <- more
}

// appendFollows waits for the shim to say whether another message follows
// the one the session's Append just read.
// The shim tells it when resumed (awaitShim).
func (c *conn) appendFollows() bool {
	more, ok := awaitShim(c, c.appendMore)
	return ok && more
}

// Bounds of what a MULTIAPPEND holds in memory until its last message is
// in: past them the command is refused (NO [LIMIT]) and the rest of its
// messages are read and dropped.
const (
	maxMultiAppendMessages = 1000
	maxMultiAppendBytes    = 64 << 20 // or MaxAppendBytes, if larger
)

// multiAppend is a MULTIAPPEND being received by the session.
type multiAppend struct {
	cmd    *relayed // the command: a stale one (ended early) is dropped
	mb     *store.Mailbox
	msgs   []store.NewMessage
	bytes  int64
	events []audit.Event
	err    error // the first refusal
	failed int   // the message refused (-1: the set)
}

// multiAppend takes one message of a MULTIAPPEND; with the last one it
// adds them all, or refuses them all. Answers to the messages before the
// last are withheld from the client by the shim. One imap.append event per
// message: success with its UID, or failure — the message refused with its
// reason, the others with reason "aborted".
func (s *session) multiAppend(e audit.Event, mb *store.Mailbox, err error, nm store.NewMessage, more bool) (*imap.AppendData, error) {
	cur := s.conn.cur.Load()
	if s.multi == nil || s.multi.cmd != cur {
		s.multi = &multiAppend{cmd: cur, mb: mb}
	}
	ma := s.multi
	e.MessageSize = int64(len(nm.Raw))
	if err == nil && mb != ma.mb {
		err = &imap.Error{Type: imap.StatusResponseTypeNo, Text: textMultiappendMailboxes}
	}
	if err == nil && ma.err == nil && (len(ma.msgs) >= maxMultiAppendMessages || ma.bytes+int64(len(nm.Raw)) > max(maxMultiAppendBytes, s.srv.cfg.MaxAppendBytes)) {
		err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit,
			Text: fmt.Sprintf("MULTIAPPEND over %d messages or %d bytes", maxMultiAppendMessages, max(maxMultiAppendBytes, s.srv.cfg.MaxAppendBytes))}
	}
	switch {
	case err != nil && ma.err == nil:
		ma.err, ma.failed = err, len(ma.events)
		ma.msgs = nil // nothing will be added: let the messages go
		ma.events = append(ma.events, e)
	case ma.err != nil:
		// Refused already: this message's event is given now, nothing
		// of it is kept.
		e.Outcome, e.Reason = audit.Failure, "aborted"
		s.emit(e)
	default:
		ma.msgs = append(ma.msgs, nm)
		ma.bytes += int64(len(nm.Raw))
		ma.events = append(ma.events, e)
	}
	if more {
		return nil, nil
	}
	s.multi = nil
	if ma.err == nil {
		uids, at, err := ma.mb.AppendAll(ma.msgs)
		if err == nil {
			var set imap.UIDSet
			for i, uid := range uids {
				set.AddNum(imap.UID(uid))
				ev := ma.events[i]
				ev.MessageUID = uid
				s.describeAppended(&ev, ma.mb, uid)
				s.emitResult(ev, nil)
			}
			s.conn.cs.mu.Lock()
			s.conn.cs.appendUIDs = set.String()
			s.conn.cs.mu.Unlock()
			return &imap.AppendData{UID: imap.UID(uids[len(uids)-1]), UIDValidity: ma.mb.UIDValidity()}, nil
		}
		ma.err, ma.failed = appendErr(err), at
	}
	for i, ev := range ma.events {
		if i == ma.failed || ma.failed < 0 {
			s.emitResult(ev, ma.err)
		} else {
			ev.Outcome, ev.Reason = audit.Failure, "aborted"
			s.emit(ev)
		}
	}
	return nil, ma.err
}

// appendRewrite withholds the answers to a MULTIAPPEND's messages but the
// last, and gives the last one's APPENDUID the UIDs of all (RFC 4315 §3,
// RFC 3502 §6.3.11). handled: the line is not to be written.
func (c *conn) appendRewrite(l []byte) ([]byte, bool) {
	tag, rest, _ := bytes.Cut(l, []byte(" "))
	if t := c.swallowTag.Load(); t != nil && *t == string(tag) {
		c.swallowTag.CompareAndSwap(t, nil)
		return nil, true
	}
	if !bytes.HasPrefix(rest, []byte("OK [APPENDUID ")) {
		return l, false
	}
	c.cs.mu.Lock()
	uids := c.cs.appendUIDs
	c.cs.appendUIDs = ""
	c.cs.mu.Unlock()
	if uids == "" {
		return l, false
	}
	code := rest[len("OK [APPENDUID "):]
	end := bytes.IndexByte(code, ']')
	if end < 0 {
		return l, false
	}
	uv, _, _ := strings.Cut(string(code[:end]), " ")
	return []byte(string(tag) + " OK [APPENDUID " + uv + " " + uids + "]" + string(code[end+1:])), false
}

const textMultiappendMailboxes = "MULTIAPPEND to more than one mailbox"
