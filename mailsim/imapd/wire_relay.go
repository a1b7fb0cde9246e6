package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

func (c *conn) writeClient(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.client.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.cw.WriteString(s); err != nil {
		return err
	}
	return c.cw.Flush()
}

// A verdict is imapserver's answer to the part of a command the shim
// forwarded: a continuation request or the command's tagged completion.
type verdict struct {
	cont bool
	more bool   // the server waits for more of the command (see serverWantsMore)
	line string // the response line, without CRLF
}

// toServer hands p to imapserver, counting what it was given; it returns
// once the server has read all of it (handOver).
func (c *conn) toServer(p []byte) (int, error) {
	c.smu.Lock()
	c.written += int64(len(p))
	c.smu.Unlock()
	if err := c.handOver(p); err != nil {
		c.smu.Lock()
		c.written -= int64(len(p))
		c.smu.Unlock()
		return 0, err
	}
	return len(p), nil
}

type serverWriter struct{ c *conn }

func (w serverWriter) Write(p []byte) (int, error) { return w.c.toServer(p) }

// nextEvent waits for what the server does next with the input it was
// given: a continuation request, a tagged response, or reading on for more
// (verdict.more). All three happen on the server's goroutine, in order
// (a response is pushed before the server reads on), so whichever comes
// first is the truth.
func (c *conn) nextEvent() (verdict, error) {
	c.smu.Lock()
	if c.readWaiting && c.consumed == c.written {
		// The server already waits for input, unless it answered first.
		c.vmu.Lock()
		answered := len(c.verdicts) > 0
		c.vmu.Unlock()
		c.smu.Unlock()
		if !answered {
			return verdict{more: true}, nil
		}
		return c.waitVerdict()
	}
	c.wantRead = true
	c.smu.Unlock()
	v, err := c.waitVerdict()
	if err != nil || v.more {
		return v, err
	}
	c.smu.Lock()
	stale := !c.wantRead // the server's next read already said "more"
	c.wantRead = false
	c.smu.Unlock()
	if stale {
		if _, err := c.waitVerdict(); err != nil {
			return v, err
		}
	}
	return v, nil
}

// serverWantsMore tells, once a literal has been given to the server,
// whether the server reads on (the command goes on after the literal) or
// has already answered (v is then its tagged response).
func (c *conn) serverWantsMore() (more bool, v verdict, err error) {
	v, err = c.nextEvent()
	if err != nil || v.more {
		return v.more, verdict{}, err
	}
	if v.cont {
		return false, v, c.bye("", "SERVERBUG", "Unexpected continuation", "protocol_desync", "")
	}
	return false, v, nil
}

// pushVerdict is called by the response writer, in order, for every
// continuation request and tagged response; it never blocks.
func (c *conn) pushVerdict(v verdict) {
	c.vmu.Lock()
	c.verdicts = append(c.verdicts, v)
	c.vmu.Unlock()
}

// waitVerdict takes the server's next verdict; until there is one, the
// shim yields to the server (awaitServer).
func (c *conn) waitVerdict() (verdict, error) {
	for {
		c.vmu.Lock()
		if len(c.verdicts) > 0 {
			v := c.verdicts[0]
			c.verdicts = c.verdicts[1:]
			c.vmu.Unlock()
			return v, nil
		}
		c.vmu.Unlock()
		select {
		case <-c.closed:
			return verdict{}, net.ErrClosed
		default:
		}
		if err := c.awaitServer(); err != nil {
			return verdict{}, err
		}
	}
}

// writeFailed records why writing to the client failed: the server ends
// the session on it, possibly before the reader notices.
func (c *conn) writeFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.info.SetCloseReason("timeout_write")
		return
	}
	if r := closeReasonFor(err); r != "" {
		c.info.SetCloseReason(r)
	}
}

// closeReasonFor names a failed client read for the logout event.
func closeReasonFor(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "client_eof"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return "client_reset"
	case errors.Is(err, net.ErrClosed):
		return ""
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "client_reset"
}

// literalLimit is the largest literal the client may announce now.
func (c *conn) literalLimit() int64 {
	if c.info.Authenticated() {
		return c.srv.cfg.MaxAppendBytes
	}
	return c.srv.maxPreAuthLiteral()
}

// bye refuses what cannot be recovered from and ends the connection.
func (c *conn) bye(tag, code, text, reason string, cmd string) error {
	c.info.SetCloseReason(reason)
	c.srv.auditRefusal(c.info, cmd, reason)
	s := ""
	if tag != "" {
		s = tag + " BAD [" + code + "] " + text + "\r\n"
	}
	c.writeClient(s + "* BYE [" + code + "] " + text + "\r\n")
	return errShimClosed
}

var errShimClosed = errors.New("imapd: connection refused by the shim")

// clientToServer relays client commands to imapserver one at a time (the
// server runs them one at a time anyway), intercepting ID and STARTTLS.
// After each part of a command it waits for the server's verdict, so the
// shim never guesses where a command ends: a continuation request means
// the server wants the literal (or, for IDLE and AUTHENTICATE, a line); a
// tagged response means the command is over, whatever the client meant.
func (c *conn) clientToServer() error {
	for {
		err := c.relayCommand()
		if err == nil {
			continue
		}
		if errors.Is(err, errShimClosed) {
			return err
		}
		select {
		case <-c.srv.done:
			c.info.SetCloseReason("server_shutdown")
		default:
		}
		if r := closeReasonFor(err); r != "" {
			c.info.SetCloseReason(r)
		} else if errors.Is(err, net.ErrClosed) {
			// The server ended the connection (LOGOUT sets its reason
			// first; otherwise it gave up on an unparsable command).
			c.info.SetCloseReason("protocol_error")
		}
		return err
	}
}

// relayCommand relays one command, with its literals and continuation lines.
func (c *conn) relayCommand() error {
	maxLine := c.srv.maxLine()
	line, err := readLine(c.cr, maxLine)
	if err != nil {
		if errors.Is(err, errLineTooLong) {
			return c.bye("", "TOOBIG", "Command line too long", "limit_line_length", "")
		}
		return err
	}
	select {
	case <-c.closed:
		return net.ErrClosed // buffered input after the end is nobody's command
	default:
	}
	c.info.commands.Add(1)
	tag, name, rest, isCmd := splitCommand(line)
	if commandHook != nil {
		commandHook(c.info, tag, name)
	}
	if isCmd && !validTag(tag) {
		// go-imap would take "+" as a tag and answer "+ OK", which the
		// client cannot tell from a continuation request.
		return c.bye("", "CLIENTBUG", "Invalid tag", "invalid_tag", name)
	}
	if why, reason := badLine(line); why != "" {
		if !isCmd || !validTag(tag) {
			return c.bye("", "CLIENTBUG", why, reason, name)
		}
		c.srv.auditRefusal(c.info, name, reason)
		return c.writeClient(tag + " BAD [CLIENTBUG] " + why + "\r\n")
	}
	var creq *condRequest
	if isCmd && c.info.Authenticated() {
		line, creq = condCommand(tag, name, line, c.qresync.Load())
		if creq != nil && creq.resync != nil && !c.qresync.Load() {
			// RFC 7162 §3.2.5: the QRESYNC parameter before ENABLE QRESYNC.
			c.srv.auditRefusal(c.info, name, "qresync_not_enabled")
			return c.writeClient(tag + " BAD [CLIENTBUG] QRESYNC not enabled\r\n")
		}
	}
	c.condReq.Store(creq)
	if isCmd && c.info.Authenticated() {
		if name == "FETCH" || name == "UID FETCH" {
			why := ""
			switch {
			case emptyHeaderList.Match(rest):
				why = "a header list needs at least one field name"
			case emptyFetchItems.Match(fetchArgs(name, rest)):
				why = "FETCH needs at least one item"
			}
			if why != "" {
				c.srv.auditRefusal(c.info, name, "syntax_error")
				return c.writeClient(tag + " BAD [CLIENTBUG] Syntax error: " + why + "\r\n")
			}
		}
		if flag := badFlagArg(name, rest); flag != "" {
			c.srv.auditRefusal(c.info, name, "invalid_flag")
			if err := c.writeClient(tag + " BAD [CLIENTBUG] Invalid system flag " + flag + "\r\n"); err != nil {
				return err
			}
			if n, plus, ok := clientLiteral(line); ok && plus >= 0 {
				return c.discardCommand(n, maxLine-len(line)) // sent without waiting for "+"
			}
			return nil
		}
	}
	if isCmd {
		switch name {
		case "ID":
			return c.handleID(tag, line, rest)
		case "STARTTLS":
			if len(bytes.TrimSpace(rest)) > 0 {
				// RFC 9051 §6.2.1: no arguments. Taken for STARTTLS, the
				// extra text would have been dropped unseen.
				c.srv.auditRefusal(c.info, "STARTTLS", "syntax_error")
				return c.writeClient(tag + " BAD [CLIENTBUG] STARTTLS takes no arguments\r\n")
			}
			return c.handleStartTLS(tag)
		case "SEARCH", "UID SEARCH":
			if c.info.Authenticated() {
				l, err := c.contextSearch(tag, name, line)
				if _, _, isLit := clientLiteral(line); err != nil && isLit {
					// Refused before a literal: go-imap refuses it too,
					// and the relay frames the literal as for any other.
					break
				}
				if err != nil {
					c.srv.auditRefusal(c.info, name, "syntax_error")
					return c.writeClient(tag + " BAD " + err.Error() + "\r\n")
				}
				if l != nil {
					line = l
					break
				}
			}
			if searchSaveOnly(name, rest) {
				c.saveOnly.Store(&tag)
			}
		case "CANCELUPDATE":
			if _, _, isLit := clientLiteral(line); c.info.Authenticated() && !isLit {
				return c.cancelUpdate(tag, rest)
			}
		case "SORT", "UID SORT", "THREAD", "UID THREAD":
			if c.info.Authenticated() {
				uid := strings.HasPrefix(name, "UID ")
				args := rest
				if uid {
					args = bytes.TrimLeft(args[bytes.IndexByte(append(args, ' '), ' '):], " ")
				}
				req, search, err := parseSortCommand(tag, uid, strings.HasSuffix(name, "THREAD"), args)
				if _, _, isLit := clientLiteral(line); err != nil && isLit {
					// Unparsable before a literal (a charset sent as one):
					// go-imap refuses it as an unknown command and the
					// relay frames the literal as for any other.
					break
				}
				if s := c.sess.Load(); err == nil && req.ctx != nil && req.ctx.update && s != nil && s.isLive(tag) {
					//lint:ignore ST1005 the text of the BAD response, worded as Dovecot words it
					err = fmt.Errorf("Duplicate search update tag")
				}
				if err != nil {
					c.srv.auditRefusal(c.info, name, "syntax_error")
					return c.writeClient(tag + " BAD " + err.Error() + "\r\n")
				}
				verb := " SEARCH "
				if uid {
					verb = " UID SEARCH "
				}
				line = append(append([]byte(tag+verb), search...), "\r\n"...)
				if l, ok := condSearch(bytes.TrimRight(line, "\r\n")); ok {
					// SORT ... MODSEQ n (RFC 7162 §3.1.5), relayed as for SEARCH.
					line = []byte(l + "\r\n")
					c.condReq.Store(&condRequest{tag: tag, searchModSeq: true})
				}
				c.sortReq.Store(req)
			}
		case "LOGIN", "AUTHENTICATE":
			c.addPending(tag, pending{kind: pendingAuth, cmd: name})
		case "LOGOUT":
			if len(bytes.TrimSpace(rest)) == 0 {
				// Valid in every state: the server will answer and
				// close, possibly before the shim sees the answer.
				c.info.SetCloseReason("client_logout")
			}
		}
	}
	var catPayload []byte // CATENATE parts, sent to the server as the message
	if isCmd && name == "APPEND" && c.info.Authenticated() && catenateAt(rest) >= 0 {
		l, payload, err := c.readCatenate(tag, line)
		if err != nil || l == nil {
			return err
		}
		line, catPayload = l, payload
		_, _, rest, _ = splitCommand(line)
	}
	// rest needs no copy: readLine gives each line a buffer of its own.
	cmd := &relayed{tag: tag, name: name, args: rest, before: c.sessionEvents.Load()}
	c.cur.Store(cmd)
	if catPayload != nil {
		c.catenate.Store(cmd)
	}
	total := len(line)
	part := line
	raw := false // part is a continuation line (IDLE, AUTHENTICATE), not command syntax
	// pendingAppend is the next message of a MULTIAPPEND, as an APPEND
	// command of its own, once the server has ended the one before.
	var pendingAppend []byte
	idleAudited := false
	for {
		n, plus, isLit := int64(0), -1, false
		message := false // the literal is an APPEND's message
		if !raw {
			n, plus, isLit = clientLiteral(part)
		}
		fwd := part
		if isLit {
			limit := c.literalLimit()
			message = cmd.name == "APPEND" && (len(cmd.parts) > 0 || len(bytes.TrimSpace(literalPrefix(rest))) > 0)
			if !message {
				// go-imap reads any other literal into memory, up to
				// 4096 bytes; past that it refuses it and then parses
				// what follows as the rest of the command.
				limit = min(limit, maxBufferedLiteral)
			}
			if n > limit {
				code, typ := "TOOBIG", "BAD"
				if message {
					typ = "NO"
				}
				if plus >= 0 || len(cmd.parts) > 0 {
					// The client is already sending the data, or the
					// server is inside the command: neither can resume.
					return c.bye(tag, code, fmt.Sprintf("Literal of %d bytes exceeds the limit of %d", n, limit), "limit_literal_size", cmd.name)
				}
				c.srv.auditRefusal(c.info, cmd.name, "limit_literal_size")
				return c.writeClient(fmt.Sprintf("%s %s [%s] Literal of %d bytes exceeds the limit of %d\r\n", tag, typ, code, n, limit))
			}
			if plus >= 0 {
				// Made synchronizing for the server, whose continuation
				// request the response writer swallows: that tells the
				// shim whether the server reads the data as a literal.
				fwd = append(append([]byte{}, part[:plus]...), part[plus+1:]...)
				c.swallowCont.Store(true)
			}
		}
		if len(cmd.parts) == 0 && cmd.name == "IDLE" && len(bytes.TrimSpace(rest)) == 0 {
			// Recorded before go-imap sees the command: its continuation
			// request may reach the client before the shim hears of it,
			// and a client that moves a virtual clock on once told
			// "+ idling" must find the event stamped with the time it
			// asked.
			c.srv.auditIdle(c.info)
			idleAudited = true
		}
		if _, err := c.toServer(fwd); err != nil {
			return err
		}
		cmd.parts = append(cmd.parts, part)
		v, err := c.nextEvent()
		if err != nil {
			return err
		}
		if v.more {
			// The server reads on where the command ended for the shim:
			// it would take what follows for part of this command.
			return c.bye(tag, "CLIENTBUG", "Command not understood", "protocol_desync", cmd.name)
		}
		if !v.cont && pendingAppend != nil {
			part, pendingAppend = pendingAppend, nil
			continue
		}
		if !v.cont {
			c.swallowCont.Store(false)
			if err := c.completed(cmd, v); err != nil {
				return err
			}
			if isLit && plus >= 0 {
				// The server ended the command before its literal: the
				// data the client sent anyway belongs to the refused
				// command, not to the next one.
				return c.discardCommand(n, maxLine-total)
			}
			return nil
		}
		if isLit {
			var src io.Reader = c.cr
			if catPayload != nil {
				src = bytes.NewReader(catPayload)
			}
			if _, err := io.CopyN(serverWriter{c}, src, n); err != nil {
				return err
			}
			if message {
				// The literal was an APPEND's message: the session waits
				// to learn whether another one follows (MULTIAPPEND).
				next := []byte("\r\n") // CATENATE: the client's command is read already
				if catPayload == nil {
					next, err = c.readCommandPart(tag, cmd, maxLine-total)
					if err != nil {
						return err
					}
				}
				total += len(next)
				synthetic := c.nextAppend(tag, rest, next, cmd)
				c.tellAppend(synthetic != nil)
				more, v, err := c.serverWantsMore()
				if err != nil {
					return err
				}
				if !more {
					// Ended right after the literal (see below); the rest
					// of the line, read already, is dropped.
					if err := c.completed(cmd, v); err != nil {
						return err
					}
					if n2, plus2, ok := clientLiteral(next); ok && plus2 >= 0 {
						return c.discardCommand(n2, maxLine-total)
					}
					return nil
				}
				raw = false
				if synthetic != nil {
					// The server's APPEND of this message ends here, its
					// answer unseen by the client; the next message goes
					// to it as an APPEND of its own.
					c.swallowTag.Store(&tag)
					pendingAppend = synthetic
					part = []byte("\r\n")
				} else {
					part = c.appendTail(next, cmd)
				}
				continue
			}
			more, v, err := c.serverWantsMore()
			if err != nil {
				return err
			}
			if !more {
				// go-imap may end a command right after a literal
				// (SELECT {5} of a name that is not modified UTF-7)
				// and would read the rest of the line as a new command;
				// the rest belongs to the ended command: dropped.
				if err := c.completed(cmd, v); err != nil {
					return err
				}
				return c.discardCommand(0, maxLine-total)
			}
			raw = false
		} else {
			if !raw && cmd.name == "IDLE" && !idleAudited {
				c.srv.auditIdle(c.info)
			}
			raw = true
		}
		// A continuation line is read by go-imap with a 4 KiB bufio.Reader
		// (IDLE's DONE, SASL responses): longer would be split in two.
		limit := maxLine - total
		if raw {
			limit = min(limit, maxContLine)
		}
		part, err = readLine(c.cr, max(limit, 0))
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				return c.bye(tag, "TOOBIG", "Command line too long", "limit_line_length", cmd.name)
			}
			return err
		}
		total += len(part)
		if raw {
			if bareCR(part) {
				return c.bye(tag, "CLIENTBUG", "Bare CR in command line", "bare_cr", cmd.name)
			}
		} else if why, reason := badLine(part); why != "" {
			return c.bye(tag, "CLIENTBUG", why, reason, cmd.name)
		}
		if raw && bytes.Equal(bytes.TrimRight(part, "\r\n"), []byte("*")) {
			cmd.cancelled = true
		}
	}
}

// commandHook, when set (by tests), sees every command the shim reads.
var commandHook func(info *ConnInfo, tag, name string)

// searchSaveOnly tells whether a SEARCH's return options are SAVE alone.
func searchSaveOnly(name string, rest []byte) bool {
	r := bytes.TrimLeft(rest, " ")
	if name == "UID SEARCH" {
		i := bytes.IndexByte(r, ' ')
		if i < 0 {
			return false
		}
		r = bytes.TrimLeft(r[i:], " ")
	}
	if len(r) < 7 || !strings.EqualFold(string(r[:7]), "RETURN ") {
		return false
	}
	r = bytes.TrimLeft(r[7:], " ")
	end := bytes.IndexByte(r, ')')
	if len(r) == 0 || r[0] != '(' || end < 0 {
		return false
	}
	opts := strings.Fields(string(r[1:end]))
	return len(opts) == 1 && strings.EqualFold(opts[0], "SAVE")
}

// currentTag returns the tag of the command being relayed, "" between
// commands.
func (c *conn) currentTag() string {
	if cur := c.cur.Load(); cur != nil {
		return cur.tag
	}
	return ""
}

// current returns the name of the command being relayed ("UID FETCH",
// "CLOSE"...), "" between commands.
func (c *conn) current() string {
	if cur := c.cur.Load(); cur != nil {
		return cur.name
	}
	return ""
}

// relayed is the command being relayed.
type relayed struct {
	tag, name   string
	args        []byte // the first line after the name (badArgument reads it)
	parts       [][]byte
	cancelled   bool  // a SASL exchange the client ended with "*"
	before      int64 // session events before the command
	tailDiscard int64 // non-synchronizing literal after an APPEND, dropped
}

// completed handles a command's tagged response: the shim's own audit of
// what the session never saw (syntax errors, refused literals, AUTHENTICATE
// cancellations) and the LOGOUT close reason.
func (c *conn) completed(cmd *relayed, v verdict) error {
	status := ""
	if f := strings.Fields(v.line); len(f) > 1 {
		status = strings.ToUpper(f[1])
	}
	if status == "OK" {
		if cmd.name == "LOGOUT" {
			c.info.SetCloseReason("client_logout")
		}
	} else if c.sessionEvents.Load() == cmd.before {
		c.srv.auditRefusal(c.info, cmd.name, refusalReason(cmd, v.line))
	}
	if cmd.tailDiscard > 0 {
		n := cmd.tailDiscard
		cmd.tailDiscard = 0
		return c.discardCommand(n, c.srv.maxLine())
	}
	return nil
}

// refusalReason names a refusal the session did not see.
func refusalReason(cmd *relayed, line string) string {
	switch {
	case cmd.cancelled:
		return "client_cancelled"
	case strings.Contains(line, textNameInvalid):
		return "invalid_mailbox_name"
	case strings.Contains(line, "Malformed SASL"), strings.Contains(line, "illegal base64"):
		return "malformed_response"
	case strings.Contains(line, "[TOOBIG]"):
		return "limit_literal_size"
	case strings.Contains(line, "[SERVERBUG]"):
		return "server_error"
	case strings.Contains(line, "Unknown command"):
		return "unknown_command"
	case strings.Contains(line, "only valid in"):
		return "bad_state"
	case strings.Contains(line, "Syntax error"), strings.Contains(line, "[CLIENTBUG]"):
		return "syntax_error"
	}
	if f := strings.Fields(line); len(f) > 1 && strings.EqualFold(f[1], "BAD") {
		return "syntax_error" // a BAD of go-imap's own ("Unknown STATUS data item")
	}
	return "refused"
}
