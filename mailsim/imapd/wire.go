package imapd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// The wire shim sits between the client's connection and go-imap's
// imapserver, which is given one end of an in-memory pipe. It parses both
// directions at command/response boundaries (skipping literals) and:
//   - answers ID (RFC 2971) itself, before and after login: the command is
//     passed to imapserver as NOOP so that responses stay in order, and its
//     tagged completion is replaced by the ID response;
//   - performs STARTTLS itself (likewise ordered through NOOP), discarding
//     any plaintext the client pipelined after the command;
//   - rewrites capability lists to advertise ID, STARTTLS and LOGINDISABLED
//     according to the connection's real TLS state and policy;
//   - learns when authentication succeeded.
// imapserver therefore always sees a plaintext stream and never needs to
// know about TLS; the session asks the shim for the TLS state.

const (
	maxLine       = 64 << 10
	maxIDArgBytes = 8 << 10
	writeTimeout  = 2 * time.Minute
)

type pendingKind int

const (
	pendingID pendingKind = iota + 1
	pendingStartTLS
	pendingAuth
)

type pending struct {
	kind   pendingKind
	cmd    string            // original command name for the response text
	params map[string]string // ID parameters, applied when the ID completes
}

// conn is one client connection through the shim.
type conn struct {
	srv  *Server
	info *ConnInfo

	raw    net.Conn // client TCP connection
	client net.Conn // raw or TLS over raw
	cr     *bufio.Reader

	wmu sync.Mutex
	cw  *bufio.Writer

	inner      net.Conn // shim side of the pipe
	server     net.Conn // imapserver's connection: reads the pipe, writes through respWriter
	serverPipe net.Conn

	pmu     sync.Mutex
	pending map[string]pending

	tlsGo   chan struct{} // writer → reader: the STARTTLS OK is flushed
	tlsDone chan error    // reader → writer: handshake finished

	closeOnce sync.Once
	closed    chan struct{}
}

func (c *conn) addPending(tag string, p pending) {
	c.pmu.Lock()
	c.pending[tag] = p
	c.pmu.Unlock()
}

func (c *conn) takePending(tag string) (pending, bool) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	p, ok := c.pending[tag]
	if ok {
		delete(c.pending, tag)
	}
	return p, ok
}

// serve runs both directions until either side ends.
func (c *conn) serve() {
	err := c.clientToServer()
	c.closeAll()
	c.srv.debug("client reader ended", err)
}

func (c *conn) closeAll() {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.wmu.Lock()
		c.cw.Flush()
		c.wmu.Unlock()
		c.inner.Close()
		c.serverPipe.Close()
		c.raw.Close()
	})
}

// readLine reads one CRLF-terminated line (without limit beyond maxLine).
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		buf = append(buf, frag...)
		if err == nil {
			return buf, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(buf) > maxLine {
				return nil, errLineTooLong
			}
			continue
		}
		if len(buf) > 0 && errors.Is(err, io.EOF) {
			return buf, io.ErrUnexpectedEOF
		}
		return nil, err
	}
}

var errLineTooLong = errors.New("imapd: command line too long")

// literalSize returns the size of a literal announced at the end of line
// ("{N}", "{N+}", "~{N}"), and whether it is non-synchronizing.
func literalSize(line []byte) (n int64, nonSync bool, ok bool) {
	l := bytes.TrimRight(line, "\r\n")
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, false, false
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false, false
	}
	num := l[i+1 : len(l)-1]
	if len(num) > 0 && (num[len(num)-1] == '+' || num[len(num)-1] == '-') {
		nonSync = true
		num = num[:len(num)-1]
	}
	v, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || v < 0 {
		return 0, false, false
	}
	return v, nonSync, true
}

// splitCommand returns the tag and upper-cased command name of a command
// line, or ok=false when the line is not shaped like a command.
func splitCommand(line []byte) (tag, name string, rest []byte, ok bool) {
	l := bytes.TrimRight(line, "\r\n")
	sp := bytes.IndexByte(l, ' ')
	if sp <= 0 {
		return "", "", nil, false
	}
	tag = string(l[:sp])
	l = l[sp+1:]
	sp = bytes.IndexByte(l, ' ')
	if sp < 0 {
		return tag, strings.ToUpper(string(l)), nil, true
	}
	return tag, strings.ToUpper(string(l[:sp])), l[sp+1:], true
}

func (c *conn) writeClient(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.client.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.cw.WriteString(s); err != nil {
		return err
	}
	return c.cw.Flush()
}

// clientToServer forwards client commands to imapserver, intercepting ID
// and STARTTLS.
func (c *conn) clientToServer() error {
	atCommand := true
	for {
		line, err := readLine(c.cr)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				c.writeClient("* BYE Command line too long\r\n")
			}
			return err
		}
		if atCommand {
			c.info.commands.Add(1)
			if tag, name, rest, ok := splitCommand(line); ok {
				switch name {
				case "ID":
					if err := c.handleID(tag, line, rest); err != nil {
						return err
					}
					continue
				case "STARTTLS":
					handled, err := c.handleStartTLS(tag)
					if err != nil {
						return err
					}
					if handled {
						continue
					}
				case "LOGIN", "AUTHENTICATE":
					c.addPending(tag, pending{kind: pendingAuth, cmd: name})
				case "IDLE":
					c.srv.auditIdle(c.info)
				}
			}
		}
		if _, err := c.inner.Write(line); err != nil {
			return err
		}
		n, _, isLit := literalSize(line)
		if !isLit {
			atCommand = true
			continue
		}
		// Literal data is forwarded verbatim; the command continues after it.
		if _, err := io.CopyN(c.inner, c.cr, n); err != nil {
			return err
		}
		atCommand = false
	}
}

// handleID parses an ID command and queues its answer. The command itself
// reaches imapserver as a NOOP so its completion arrives in order.
func (c *conn) handleID(tag string, line, rest []byte) error {
	args := bytes.TrimRight(rest, "\r\n")
	// Assemble literals, if the client used any (bounded).
	for {
		n, nonSync, ok := literalSize(args)
		if !ok {
			break
		}
		if n > maxIDArgBytes || int64(len(args))+n > maxIDArgBytes {
			return c.writeClient(tag + " BAD ID arguments too long\r\n")
		}
		if !nonSync {
			if err := c.writeClient("+ Ready for literal data\r\n"); err != nil {
				return err
			}
		}
		i := bytes.LastIndexByte(args, '{')
		data := make([]byte, n)
		if _, err := io.ReadFull(c.cr, data); err != nil {
			return err
		}
		more, err := readLine(c.cr)
		if err != nil {
			return err
		}
		args = append(append(args[:i:i], quoteIMAP(string(data))...), bytes.TrimRight(more, "\r\n")...)
	}
	params, err := parseIDParams(args)
	if err != nil {
		// Still ordered after earlier commands: go through NOOP.
		c.addPending(tag, pending{kind: pendingID, cmd: "BAD:" + err.Error()})
	} else {
		c.addPending(tag, pending{kind: pendingID, cmd: "ID", params: params})
	}
	_, werr := c.inner.Write([]byte(tag + " NOOP\r\n"))
	return werr
}

// handleStartTLS intercepts STARTTLS when it applies; otherwise it lets
// imapserver answer (it will refuse).
func (c *conn) handleStartTLS(tag string) (bool, error) {
	if c.srv.tlsConfig == nil || c.info.TLS() || c.info.Authenticated() {
		err := c.writeClient(tag + " BAD STARTTLS not available\r\n")
		return true, err
	}
	c.addPending(tag, pending{kind: pendingStartTLS, cmd: "STARTTLS"})
	if _, err := c.inner.Write([]byte(tag + " NOOP\r\n")); err != nil {
		return true, err
	}
	// Wait until the writer flushed our OK, then handshake.
	select {
	case <-c.tlsGo:
	case <-c.closed:
		return true, net.ErrClosed
	}
	// Discard plaintext pipelined after STARTTLS (command injection).
	if n := c.cr.Buffered(); n > 0 {
		c.cr.Discard(n)
	}
	tc := tls.Server(c.raw, c.srv.tlsConfig)
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	err := tc.Handshake()
	tc.SetDeadline(time.Time{})
	if err == nil {
		c.client = tc
		c.cr.Reset(tc)
		c.info.setTLS(tc.ConnectionState())
		c.srv.auditStartTLS(c.info, nil)
	} else {
		c.srv.auditStartTLS(c.info, err)
	}
	c.tlsDone <- err
	return true, err
}

// rewrite inspects a response line. handled means it wrote everything
// needed itself.
func (c *conn) rewrite(line []byte) ([]byte, bool, error) {
	l := bytes.TrimRight(line, "\r\n")
	if bytes.HasPrefix(l, []byte("* CAPABILITY ")) {
		return []byte("* CAPABILITY " + c.caps(string(l[len("* CAPABILITY "):])) + "\r\n"), false, nil
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
				select {
				case err := <-c.tlsDone:
					if err != nil {
						return nil, true, err
					}
				case <-c.closed:
					return nil, true, net.ErrClosed
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
	return strings.Join(out, " ")
}

// parseIDParams parses "NIL" or a parenthesised list of string pairs.
func parseIDParams(b []byte) (map[string]string, error) {
	s := strings.TrimSpace(string(b))
	if strings.EqualFold(s, "NIL") {
		return map[string]string{}, nil
	}
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, fmt.Errorf("expected NIL or a parenthesized list")
	}
	var toks []*string
	p := s[1 : len(s)-1]
	for {
		p = strings.TrimLeft(p, " ")
		if p == "" {
			break
		}
		switch {
		case p[0] == '"':
			var sb strings.Builder
			i := 1
			closed := false
			for ; i < len(p); i++ {
				ch := p[i]
				if ch == '\\' && i+1 < len(p) {
					i++
					sb.WriteByte(p[i])
					continue
				}
				if ch == '"' {
					closed = true
					break
				}
				sb.WriteByte(ch)
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted string")
			}
			v := sb.String()
			toks = append(toks, &v)
			p = p[i+1:]
		case len(p) >= 3 && strings.EqualFold(p[:3], "NIL"):
			toks = append(toks, nil)
			p = p[3:]
		default:
			// atom
			j := strings.IndexAny(p, " ")
			if j < 0 {
				j = len(p)
			}
			v := p[:j]
			toks = append(toks, &v)
			p = p[j:]
		}
		if len(toks) > 60 {
			return nil, fmt.Errorf("too many ID fields (at most 30 pairs)")
		}
	}
	if len(toks)%2 != 0 {
		return nil, fmt.Errorf("odd number of ID list items")
	}
	out := map[string]string{}
	for i := 0; i < len(toks); i += 2 {
		if toks[i] == nil {
			return nil, fmt.Errorf("ID field name cannot be NIL")
		}
		k := strings.ToLower(*toks[i])
		if len(k) > 30 {
			return nil, fmt.Errorf("ID field name longer than 30 octets")
		}
		if toks[i+1] != nil {
			out[k] = *toks[i+1]
		} else {
			out[k] = ""
		}
	}
	return out, nil
}

func quoteIMAP(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", " ", "\n", " ").Replace(s) + `"`
}

// respWriter is imapserver's output path: it parses responses at line
// boundaries (passing literals through) in imapserver's own goroutine, so a
// bulk download costs no goroutine hand-off per chunk.
type respWriter struct {
	c          *conn
	line       []byte
	litLeft    int64
	atResponse bool
}

func (w *respWriter) Write(p []byte) (int, error) {
	n := len(p)
	c := w.c
	for len(p) > 0 {
		if w.litLeft > 0 {
			k := min(int64(len(p)), w.litLeft)
			c.wmu.Lock()
			c.client.SetWriteDeadline(time.Now().Add(writeTimeout))
			_, err := c.cw.Write(p[:k])
			c.wmu.Unlock()
			if err != nil {
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
	c.wmu.Lock()
	err := c.cw.Flush()
	c.wmu.Unlock()
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (w *respWriter) emit(line []byte) error {
	c := w.c
	out := line
	if w.atResponse {
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
	c.wmu.Lock()
	c.client.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.cw.Write(out)
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	if n, _, isLit := literalSize(line); isLit {
		w.litLeft = n
		w.atResponse = false
	} else {
		w.atResponse = true
	}
	return nil
}
