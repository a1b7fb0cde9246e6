package imapd

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// expectBinary records the partial origin (-1: none) of the next BINARY
// section written; reset forgets those of an earlier FETCH.
func (c *conn) expectBinary(origin int64, reset bool) {
	c.bmu.Lock()
	if reset {
		c.binOrigins = c.binOrigins[:0]
	} else {
		c.binOrigins = append(c.binOrigins, origin)
	}
	c.bmu.Unlock()
}

var binaryLiteral = []byte("] ~{")

// binaryOrigin adds the partial origin to a line ending with a BINARY
// section's literal, when it was partial.
func (c *conn) binaryOrigin(line []byte) []byte {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	if len(c.binOrigins) == 0 {
		return line
	}
	i := bytes.LastIndex(line, binaryLiteral)
	if i < 0 {
		return line
	}
	j := bytes.LastIndex(line[:i], []byte("BINARY["))
	if j < 0 || bytes.ContainsAny(line[j:i], " ()") {
		return line
	}
	o := c.binOrigins[0]
	c.binOrigins = c.binOrigins[1:]
	if o < 0 {
		return line
	}
	out := make([]byte, 0, len(line)+22)
	out = append(out, line[:i+1]...)
	out = append(out, '<')
	out = strconv.AppendInt(out, o, 10)
	out = append(out, '>')
	return append(out, line[i+1:]...)
}

// fixCompletion replaces go-imap's "NO [SERVERBUG]" for a mailbox name it
// could not decode from modified UTF-7 (SELECT "a&b", RFC 3501 §5.1.3)
// with the refusal mailsim gives any invalid name: NO [CANNOT] (RFC 5530).
// A LIST or LSUB pattern that is not valid modified UTF-7 matches nothing
// and answers OK, as Dovecot does; it is audited (imap.list, reason
// invalid_mailbox_name, no hits).
//
// Any other "NO [SERVERBUG]" the session never saw is an argument go-imap
// could not convert (badargs.go): answered BAD [CLIENTBUG], as Dovecot does.
func (c *conn) fixCompletion(tag, line []byte) []byte {
	cur := c.cur.Load()
	if cur == nil || cur.tag != string(tag) ||
		c.sessionEvents.Load() != cur.before || !bytes.Contains(line, []byte("[SERVERBUG]")) {
		return line
	}
	if why := badArgument(cur.name, cur.args); why != "" {
		return []byte(string(tag) + " BAD [CLIENTBUG] Syntax error: " + why + "\r\n")
	}
	if !mailboxCommands[cur.name] {
		return line
	}
	if cur.name == "LIST" || cur.name == "LSUB" {
		c.sessionEvents.Add(1)
		c.srv.emit(c.info, audit.Event{Action: audit.IMAPList, Outcome: audit.Success, Reason: "invalid_mailbox_name",
			Command: cur.name, SearchHits: audit.Int(0), UserName: c.info.user()})
		return []byte(string(tag) + " OK " + cur.name + " completed\r\n")
	}
	return []byte(string(tag) + " NO [CANNOT] " + textNameInvalid + ": not valid modified UTF-7\r\n")
}

// rewrite inspects a response line. handled means it wrote everything
// needed itself.
func (c *conn) rewrite(line []byte) ([]byte, bool, error) {
	l := bytes.TrimRight(line, "\r\n")
	if bytes.HasPrefix(l, []byte("* CAPABILITY ")) {
		return []byte("* CAPABILITY " + c.caps(string(l[len("* CAPABILITY "):])) + "\r\n"), false, nil
	}
	if nl, handled := c.appendRewrite(l); handled {
		return nil, true, nil
	} else if !bytes.Equal(nl, l) {
		l = nl
		line = append(nl[:len(nl):len(nl)], "\r\n"...)
	}
	if nl := c.condRewrite(l); !bytes.Equal(nl, l) {
		l = nl
		line = append(nl[:len(nl):len(nl)], "\r\n"...)
	}
	if t := c.saveOnly.Load(); t != nil {
		// RFC 5182 §2.4: with SAVE the only return option, no ESEARCH
		// response (go-imap sends one).
		if bytes.HasPrefix(l, []byte("* ESEARCH")) {
			return nil, true, nil
		}
		if bytes.HasPrefix(l, []byte(*t+" ")) {
			c.saveOnly.CompareAndSwap(t, nil)
		}
	}
	if req := c.sortReq.Load(); req != nil {
		if bytes.HasPrefix(l, []byte("* SEARCH")) || bytes.HasPrefix(l, []byte("* ESEARCH")) {
			if req.result != nil {
				return append(req.prefix[:len(req.prefix):len(req.prefix)], c.sortModSeq(req)...), false, nil
			}
		} else if bytes.HasPrefix(l, []byte(req.tag+" ")) {
			c.sortReq.CompareAndSwap(req, nil)
		}
	}
	sp := bytes.IndexByte(l, ' ')
	if sp <= 0 {
		return line, false, nil
	}
	tag := string(l[:sp])
	rest := l[sp+1:]
	if tag != "*" && tag != "+" {
		if p, ok := c.takePending(tag); ok {
			ok := bytes.HasPrefix(rest, []byte("OK"))
			switch p.kind {
			case pendingID:
				var s string
				if strings.HasPrefix(p.cmd, "BAD:") {
					s = tag + " BAD Invalid ID arguments: " + p.cmd[4:] + "\r\n"
				} else {
					// Applied now, in order: commands pipelined before
					// the ID have completed and kept the earlier name.
					c.info.setID(p.params)
					c.srv.auditID(c.info)
					s = "* ID " + c.srv.idResponse() + "\r\n" + tag + " OK ID completed\r\n"
				}
				return nil, true, c.writeClient(s)
			case pendingStartTLS:
				if !ok {
					return line, false, nil
				}
				if err := c.writeClient(tag + " OK Begin TLS negotiation now\r\n"); err != nil {
					return nil, true, err
				}
				c.tlsGo <- struct{}{}
				if err := c.awaitHandshake(); err != nil {
					return nil, true, err
				}
				c.wmu.Lock()
				c.cw.Reset(c.client)
				c.wmu.Unlock()
				return nil, true, nil
			case pendingAuth:
				if ok {
					c.info.setAuthenticated()
				}
			}
		}
	}
	// Capability lists in response codes: "* OK [CAPABILITY ...] text" or
	// "tag OK [CAPABILITY ...] text".
	const code = "[CAPABILITY "
	if i := bytes.Index(rest, []byte(code)); i >= 0 && i < 6 {
		end := bytes.IndexByte(rest[i:], ']')
		if end > 0 {
			list := string(rest[i+len(code) : i+end])
			newLine := string(l[:sp+1]) + string(rest[:i]) + code + c.caps(list) + string(rest[i+end:]) + "\r\n"
			return []byte(newLine), false, nil
		}
	}
	return line, false, nil
}

// caps rewrites a capability list for this connection's state.
func (c *conn) caps(list string) string {
	in := strings.Fields(list)
	out := make([]string, 0, len(in)+3)
	authed := c.info.Authenticated()
	plainOK := c.info.TLS() || c.srv.allowInsecure
	for _, cp := range in {
		up := strings.ToUpper(cp)
		if up == string(imap.CapStartTLS) || up == string(imap.CapLoginDisabled) || up == "ID" {
			continue
		}
		if strings.HasPrefix(up, "AUTH=") && !plainOK {
			continue
		}
		out = append(out, cp)
	}
	if !authed {
		if !c.info.TLS() && c.srv.tlsConfig != nil {
			out = append(out, string(imap.CapStartTLS))
		}
		if !plainOK {
			out = append(out, string(imap.CapLoginDisabled))
		}
	}
	out = append(out, "ID")
	if authed {
		out = append(out, sortCaps...)
		out = append(out, "CONDSTORE", "QRESYNC", "MULTIAPPEND", "CATENATE")
		out = append(out, contextCaps...)
	}
	return strings.Join(out, " ")
}

// respWriter is imapserver's output path: it parses responses at line
// boundaries (passing literals through) in imapserver's own goroutine, so a
// bulk download costs no goroutine hand-off per chunk.
type respWriter struct {
	c          *conn
	line       []byte
	litLeft    int64
	atResponse bool
	// hold, set by a command that answers with several lines
	// (session.holdResponses), keeps its responses in the connection's
	// buffer (written out as it fills) instead of flushing each line:
	// go-imap flushes at every line's end, and a FETCH of many messages
	// would otherwise cost a TLS record and a write per message. The next
	// tagged completion or continuation request ends it, and is flushed
	// with all that was held.
	hold atomic.Bool
}

func (w *respWriter) Write(p []byte) (int, error) {
	n := len(p)
	c := w.c
	for len(p) > 0 {
		if w.litLeft > 0 {
			k := min(int64(len(p)), w.litLeft)
			c.wmu.Lock()
			c.client.SetWriteDeadline(time.Now().Add(writeTimeout))
			var err error
			if c.stableLit.Load() {
				_, err = c.cw.WriteStable(p[:k])
			} else {
				_, err = c.cw.Write(p[:k])
			}
			c.wmu.Unlock()
			if err != nil {
				c.writeFailed(err)
				return 0, err
			}
			w.litLeft -= k
			p = p[k:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.line = append(w.line, p...)
			break
		}
		w.line = append(w.line, p[:i+1]...)
		p = p[i+1:]
		if err := w.emit(w.line); err != nil {
			return 0, err
		}
		w.line = w.line[:0]
	}
	if w.hold.Load() {
		return n, nil
	}
	c.wmu.Lock()
	err := c.cw.Flush()
	c.wmu.Unlock()
	if err != nil {
		c.writeFailed(err)
		return 0, err
	}
	return n, nil
}

func (w *respWriter) emit(line []byte) error {
	c := w.c
	out := line
	if w.atResponse && len(line) > 0 && line[0] != '*' {
		w.hold.Store(false) // a completion or a continuation: the client waits for it
	}
	if w.atResponse {
		// The shim's reader learns the verdict once the line is on its
		// way to the client (buffered in order before anything the shim
		// writes itself next).
		if len(line) > 0 && line[0] == '+' {
			defer c.pushVerdict(verdict{cont: true})
			if c.swallowCont.Swap(false) {
				return nil // the client sent a non-synchronizing literal
			}
		} else if sp := bytes.IndexByte(line, ' '); sp > 0 && !(sp == 1 && line[0] == '*') {
			line = c.fixCompletion(line[:sp], line)
			out = line
			defer c.pushVerdict(verdict{line: string(bytes.TrimRight(line, "\r\n"))})
		}
		var handled bool
		var err error
		out, handled, err = c.rewrite(line)
		if err != nil {
			return err
		}
		if handled {
			return nil
		}
	}
	// A status response's text is text to its end: "{2}" there is not a
	// literal (an error may quote the client), and the client is told
	// so too, since many clients take any line ending in "{N}" for one.
	status := w.atResponse && statusResponse(line)
	if status {
		out = notLiteral(out)
	} else if _, _, isLit := literalSize(line); isLit {
		out = c.binaryOrigin(out)
	}
	c.wmu.Lock()
	c.client.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.cw.Write(out)
	c.wmu.Unlock()
	if err != nil {
		c.writeFailed(err)
		return err
	}
	if n, _, isLit := literalSize(line); isLit && !status {
		w.litLeft = n
		w.atResponse = false
	} else {
		w.atResponse = true
	}
	return nil
}

// awaitHandshake waits for the shim's STARTTLS handshake, resuming the
// shim to perform it (awaitShim).
func (c *conn) awaitHandshake() error {
	err, ok := awaitShim(c, c.tlsDone)
	if !ok {
		return net.ErrClosed
	}
	return err
}
