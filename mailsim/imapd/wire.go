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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/mailsim/audit"
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
//
// The shim never guesses where a command ends: it relays one command at a
// time (imapserver runs them one at a time anyway) and, after each part it
// forwards, waits for the server's verdict — a continuation request (the
// server wants the literal, or a line for IDLE and AUTHENTICATE), a tagged
// response (the command is over), or, after a literal, the server reading
// on. What go-imap would frame differently from the shim is refused before
// it reaches the server: bare CRs, quoted strings running past the end of
// a line, "+" tags, literals and lines over the limits. FuzzShimFraming
// checks the two agree.

// Limits of the wire shim (Config fields; zero means these defaults).
const (
	// DefaultMaxLineBytes bounds a command's text (its lines, without
	// literals). go-imap gives up on a command past 50 KiB by closing the
	// connection; the shim refuses first, with a clean BYE [TOOBIG].
	DefaultMaxLineBytes = 32 << 10
	// DefaultMaxPreAuthLiteralBytes bounds a literal announced before
	// login (Dovecot's login process allows 8 KiB as well). After login
	// the limit is MaxAppendBytes.
	DefaultMaxPreAuthLiteralBytes = 8 << 10

	hardMaxLineBytes = 48 << 10 // below go-imap's own 50 KiB
	maxIDArgBytes    = 8 << 10
	writeTimeout     = 2 * time.Minute
)

func (s *Server) maxLine() int {
	n := s.cfg.MaxLineBytes
	if n <= 0 {
		n = DefaultMaxLineBytes
	}
	return min(n, hardMaxLineBytes)
}

func (s *Server) maxPreAuthLiteral() int64 {
	if s.cfg.MaxPreAuthLiteralBytes > 0 {
		return s.cfg.MaxPreAuthLiteralBytes
	}
	return DefaultMaxPreAuthLiteralBytes
}

// commandActions maps commands to the audit action of their refusal.
var commandActions = map[string]string{
	"LOGIN": audit.IMAPLogin, "AUTHENTICATE": audit.IMAPLogin,
	"SELECT": audit.IMAPSelect, "EXAMINE": audit.IMAPExamine,
	"APPEND": audit.IMAPAppend, "FETCH": audit.IMAPFetch, "UID FETCH": audit.IMAPFetch,
	"SEARCH": audit.IMAPSearch, "UID SEARCH": audit.IMAPSearch,
	"SORT": audit.IMAPSort, "UID SORT": audit.IMAPSort, "THREAD": audit.IMAPThread, "UID THREAD": audit.IMAPThread,
	"STORE": audit.IMAPStore, "UID STORE": audit.IMAPStore,
	"COPY": audit.IMAPCopy, "UID COPY": audit.IMAPCopy, "MOVE": audit.IMAPMove, "UID MOVE": audit.IMAPMove,
	"EXPUNGE": audit.IMAPExpunge, "UID EXPUNGE": audit.IMAPExpunge,
	"CREATE": audit.IMAPCreate, "DELETE": audit.IMAPDelete, "RENAME": audit.IMAPRename,
	"SUBSCRIBE": audit.IMAPSubscribe, "UNSUBSCRIBE": audit.IMAPSubscribe,
	"LIST": audit.IMAPList, "LSUB": audit.IMAPList, "STATUS": audit.IMAPStatus,
	"NAMESPACE": audit.IMAPNamespace, "IDLE": audit.IMAPIdle, "ID": audit.IMAPID, "STARTTLS": audit.IMAPStartTLS,
}

// auditRefusal records a command refused before the session saw it
// (syntax, state, limits) or by go-imap itself (AUTHENTICATE cancelled).
func (s *Server) auditRefusal(info *ConnInfo, cmd, reason string) {
	action, ok := commandActions[cmd]
	if !ok {
		action = audit.IMAPCommand
	}
	e := audit.Event{Action: action, Outcome: audit.Failure, Reason: reason, Command: cmd, UserName: info.user()}
	if cmd == "AUTHENTICATE" {
		e.AuthMechanism = "PLAIN"
	}
	s.emit(info, e)
}

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

	vmu      sync.Mutex
	verdicts []verdict
	vonce    sync.Once
	vready   chan struct{}

	smu         sync.Mutex // guards the server-read accounting below
	written     int64      // bytes given to the server
	consumed    int64      // bytes the server has read
	readWaiting bool       // the server is in a read with nothing left to read
	wantRead    bool       // the shim waits to learn whether the server reads on

	cur           atomic.Pointer[relayed]     // the command being relayed
	sortReq       atomic.Pointer[sortRequest] // a SORT or THREAD relayed as SEARCH
	saveOnly      atomic.Pointer[string]      // tag of a SEARCH RETURN (SAVE)
	swallowCont   atomic.Bool                 // the next continuation request answers a literal the client sent non-synchronizing
	sessionEvents atomic.Int64                // events the session published
	appendCalled  atomic.Bool                 // the session's Append ran (for the literal just sent)

	// binOrigins are the partial origins of the BINARY sections the
	// session is writing, in order (-1: not partial): go-imap writes
	// "BINARY[1] ~{n}" where RFC 3516 §4.3 wants "BINARY[1]<o> ~{n}".
	bmu        sync.Mutex
	binOrigins []int64

	closeOnce sync.Once
	closed    chan struct{}
}

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
		select {
		case <-c.srv.done:
			c.info.SetCloseReason("server_shutdown")
		default:
		}
		close(c.closed)
		// The client connection closes first: when the shim ends a
		// connection in the middle of a command, the server's answer to
		// its broken pipe must not reach the client after the shim's.
		c.wmu.Lock()
		c.cw.Flush()
		c.raw.Close()
		c.wmu.Unlock()
		c.inner.Close()
		c.serverPipe.Close()
	})
}

// readLine reads one LF-terminated line of at most max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > max {
			return nil, errLineTooLong
		}
		if err == nil {
			return buf, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(buf) > 0 && errors.Is(err, io.EOF) {
			return buf, io.ErrUnexpectedEOF
		}
		return nil, err
	}
}

var errLineTooLong = errors.New("imapd: command line too long")

// literalSize returns the size of a literal announced at the end of a
// response line ("{N}", "{N+}", "~{N}"), and whether it is non-synchronizing.
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

// clientLiteral recognises a literal announced at the end of a client line
// exactly as go-imap's decoder does: "{" digits ["+"] "}" [SP] [CR] LF.
// plus is the index of the "+" of a non-synchronizing literal, else -1.
func clientLiteral(line []byte) (n int64, plus int, ok bool) {
	l := line
	if len(l) == 0 || l[len(l)-1] != '\n' {
		return 0, -1, false
	}
	l = l[:len(l)-1]
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	if len(l) > 0 && l[len(l)-1] == ' ' {
		l = l[:len(l)-1]
	}
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, -1, false
	}
	l = l[:len(l)-1]
	plus = -1
	if l[len(l)-1] == '+' {
		plus = len(l) - 1
		l = l[:len(l)-1]
	}
	i := len(l)
	for i > 0 && l[i-1] >= '0' && l[i-1] <= '9' {
		i--
	}
	if i == len(l) || i == 0 || l[i-1] != '{' {
		return 0, -1, false
	}
	v, err := strconv.ParseInt(string(l[i:]), 10, 64)
	if err != nil {
		return 0, -1, false
	}
	return v, plus, true
}

// bareCR reports whether line holds a CR that does not end it: go-imap's
// decoder would end the command there and read the rest as a new one.
func bareCR(line []byte) bool {
	i := bytes.IndexByte(line, '\r')
	return i >= 0 && i != len(line)-2
}

// openQuote reports whether line ends inside a quoted string: go-imap's
// decoder would read on into the next line (a quoted string cannot hold
// CR or LF in IMAP, but go-imap does not check), where the shim sees a new
// line. Outside quoted strings a '"' is never valid IMAP, so scanning
// every quote is exact for valid commands.
func openQuote(line []byte) bool {
	in := false
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; {
		case in && ch == '\\':
			i++
		case ch == '"':
			in = !in
		}
	}
	return in
}

// badLine names what makes a command line unsafe to pass on.
func badLine(line []byte) (why, reason string) {
	switch {
	case bareCR(line):
		return "Bare CR in command line", "bare_cr"
	case openQuote(line):
		return "Unterminated quoted string", "unterminated_quote"
	}
	return "", ""
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
	name = strings.ToUpper(string(l[:sp]))
	if name == "UID" {
		sub := l[sp+1:]
		if j := bytes.IndexByte(sub, ' '); j >= 0 {
			sub = sub[:j]
		}
		name = "UID " + strings.ToUpper(string(sub))
	}
	return tag, name, l[sp+1:], true
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

// A verdict is imapserver's answer to the part of a command the shim
// forwarded: a continuation request or the command's tagged completion.
type verdict struct {
	cont bool
	more bool   // the server waits for more of the command (see serverWantsMore)
	line string // the response line, without CRLF
}

// toServer writes to imapserver, counting what it was given.
func (c *conn) toServer(p []byte) (int, error) {
	c.smu.Lock()
	c.written += int64(len(p))
	c.smu.Unlock()
	n, err := c.inner.Write(p)
	if n < len(p) {
		c.smu.Lock()
		c.written -= int64(len(p) - n)
		c.smu.Unlock()
	}
	return n, err
}

type serverWriter struct{ c *conn }

func (w serverWriter) Write(p []byte) (int, error) { return w.c.toServer(p) }

// serverEnd is imapserver's end of the pipe: its reads tell the shim when
// the server waits for more input.
type serverEnd struct {
	net.Conn
	c *conn
}

func (s serverEnd) Read(p []byte) (int, error) {
	c := s.c
	c.smu.Lock()
	c.readWaiting = c.consumed == c.written // everything given was read: it waits for more
	if c.readWaiting && c.wantRead {
		c.wantRead = false
		c.pushVerdict(verdict{more: true})
	}
	c.smu.Unlock()
	n, err := s.Conn.Read(p)
	c.smu.Lock()
	c.consumed += int64(n)
	c.readWaiting = false
	c.smu.Unlock()
	return n, err
}

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
	select {
	case c.ready() <- struct{}{}:
	default:
	}
}

func (c *conn) ready() chan struct{} {
	c.vonce.Do(func() { c.vready = make(chan struct{}, 1) })
	return c.vready
}

func (c *conn) waitVerdict() (verdict, error) {
	var watch *time.Timer // see watchClient
	defer func() {
		if watch != nil {
			watch.Stop()
		}
	}()
	for {
		c.vmu.Lock()
		if len(c.verdicts) > 0 {
			v := c.verdicts[0]
			c.verdicts = c.verdicts[1:]
			c.vmu.Unlock()
			return v, nil
		}
		c.vmu.Unlock()
		if watch == nil {
			watch = time.NewTimer(watchAfter)
		}
		select {
		case <-c.ready():
		case <-c.closed:
			return verdict{}, net.ErrClosed
		case now := <-watch.C:
			if reason, bye := c.watchClient(now); reason != "" {
				c.info.SetCloseReason(reason)
				if bye {
					c.sayByeAndClose(byeInactivity)
				}
				c.closeAll()
				return verdict{}, net.ErrClosed
			}
			watch.Reset(watchEvery)
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
	if isCmd {
		switch name {
		case "ID":
			return c.handleID(tag, line, rest)
		case "STARTTLS":
			return c.handleStartTLS(tag)
		case "SEARCH", "UID SEARCH":
			if searchSaveOnly(name, rest) {
				c.saveOnly.Store(&tag)
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
				if err != nil {
					c.srv.auditRefusal(c.info, name, "syntax_error")
					return c.writeClient(tag + " BAD " + err.Error() + "\r\n")
				}
				verb := " SEARCH "
				if uid {
					verb = " UID SEARCH "
				}
				line = append(append([]byte(tag+verb), search...), "\r\n"...)
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
	cmd := &relayed{tag: tag, name: name, before: c.sessionEvents.Load()}
	c.appendCalled.Store(false)
	c.cur.Store(cmd)
	total := len(line)
	part := line
	raw := false    // part is a continuation line (IDLE, AUTHENTICATE), not command syntax
	msgLit := false // part follows an APPEND's message literal
	for {
		n, plus, isLit := int64(0), -1, false
		if !raw {
			n, plus, isLit = clientLiteral(part)
		}
		fwd := part
		if isLit {
			limit := c.literalLimit()
			message := cmd.name == "APPEND" && (len(cmd.parts) > 0 || len(bytes.TrimSpace(literalPrefix(rest))) > 0)
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
			if _, err := io.CopyN(serverWriter{c}, c.cr, n); err != nil {
				return err
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
			// The literal was an APPEND's message if the session's
			// Append ran for it (a mailbox name can be a literal too).
			msgLit = c.appendCalled.Swap(false)
		} else {
			msgLit = false
			if !raw && (cmd.name == "IDLE") {
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
		if msgLit {
			part = c.appendTail(part, cmd)
		}
	}
}

// maxBufferedLiteral is go-imap's limit on literals it reads into memory
// (every literal but an APPEND's message).
const maxBufferedLiteral = 4096

// commandHook, when set (by tests), sees every command the shim reads.
var commandHook func(info *ConnInfo, tag, name string)

// maxContLine bounds a continuation line: go-imap reads them with a
// bufio.Reader of 4096 bytes and would take the rest as a new command.
const maxContLine = 4000

func validTag(tag string) bool {
	for i := 0; i < len(tag); i++ {
		if !imapwireAtomChar(tag[i]) || tag[i] == '+' {
			return false
		}
	}
	return tag != ""
}

// imapwireAtomChar mirrors go-imap's IsAtomChar.
func imapwireAtomChar(ch byte) bool {
	switch ch {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return ch > 0x1f && ch < 0x7f
}

// appendTail checks what follows an APPEND's message literal. go-imap
// stores the message before it checks the CRLF, and sends no response at
// all when something else follows; the shim sends the server a clean end
// of command instead and drops the rest (the message is stored either way).
func (c *conn) appendTail(part []byte, cmd *relayed) []byte {
	// APPEND ... UTF8 (~{n}) ends with ")": the literal was announced
	// after "(~" on the line before.
	utf8 := len(cmd.parts) > 0 && bytes.HasSuffix(bytes.TrimRight(literalPrefix(cmd.parts[len(cmd.parts)-1]), " "), []byte("(~"))
	t := part
	if utf8 {
		if len(t) == 0 || t[0] != ')' {
			t = nil
		} else {
			t = t[1:]
		}
	}
	switch string(t) {
	case "\r\n", "\n", " \r\n", " \n":
		return part
	}
	if n, plus, ok := clientLiteral(part); ok && plus >= 0 {
		cmd.tailDiscard = n
	}
	if utf8 {
		return []byte(")\r\n")
	}
	return []byte("\r\n")
}

// literalPrefix returns a line without the literal announced at its end.
func literalPrefix(line []byte) []byte {
	if i := bytes.LastIndexByte(line, '{'); i >= 0 {
		return line[:i]
	}
	return line
}

// discardCommand drops the rest of a command the server has already
// ended: a literal of n bytes, then lines (with their non-synchronizing
// literals) up to the end of the command.
func (c *conn) discardCommand(n int64, budget int) error {
	for {
		if _, err := io.CopyN(io.Discard, c.cr, n); err != nil {
			return err
		}
		line, err := readLine(c.cr, max(budget, 0))
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				return c.bye("", "TOOBIG", "Command line too long", "limit_line_length", "")
			}
			return err
		}
		budget -= len(line)
		m, plus, ok := clientLiteral(line)
		if !ok || plus < 0 {
			return nil
		}
		if m > c.literalLimit() {
			return c.bye("", "TOOBIG", "Literal too large", "limit_literal_size", "")
		}
		n = m
	}
}

// fixCompletion replaces go-imap's "NO [SERVERBUG]" for a mailbox name it
// could not decode from modified UTF-7 (SELECT "a&b", RFC 3501 §5.1.3)
// with the refusal mailsim gives any invalid name: NO [CANNOT] (RFC 5530).
// A LIST or LSUB pattern that is not valid modified UTF-7 matches nothing
// and answers OK, as Dovecot does; it is audited (imap.list, reason
// invalid_mailbox_name, no hits).
func (c *conn) fixCompletion(tag, line []byte) []byte {
	cur := c.cur.Load()
	if cur == nil || cur.tag != string(tag) || !mailboxCommands[cur.name] ||
		c.sessionEvents.Load() != cur.before || !bytes.Contains(line, []byte("[SERVERBUG]")) {
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

// current returns the name of the command being relayed ("UID FETCH",
// "CLOSE"...), "" between commands.
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

func (c *conn) currentTag() string {
	if cur := c.cur.Load(); cur != nil {
		return cur.tag
	}
	return ""
}

// current returns the name of the command being relayed.
func (c *conn) current() string {
	if cur := c.cur.Load(); cur != nil {
		return cur.name
	}
	return ""
}

// relayed is the command being relayed.
type relayed struct {
	tag, name   string
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
	return "refused"
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
			if nonSync {
				return c.bye(tag, "TOOBIG", "ID arguments too long", "limit_literal_size", "ID")
			}
			c.srv.auditRefusal(c.info, "ID", "limit_literal_size")
			return c.writeClient(tag + " BAD [TOOBIG] ID arguments too long\r\n")
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
		more, err := readLine(c.cr, maxIDArgBytes)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				return c.bye(tag, "TOOBIG", "ID arguments too long", "limit_line_length", "ID")
			}
			return err
		}
		if bareCR(more) {
			return c.bye(tag, "CLIENTBUG", "Bare CR in command line", "bare_cr", "ID")
		}
		args = append(append(args[:i:i], quoteIMAP(string(data))...), bytes.TrimRight(more, "\r\n")...)
	}
	params, err := parseIDParams(args)
	if err != nil {
		c.srv.auditRefusal(c.info, "ID", "syntax_error")
		// Still ordered after earlier commands: go through NOOP.
		c.addPending(tag, pending{kind: pendingID, cmd: "BAD:" + err.Error()})
	} else {
		c.addPending(tag, pending{kind: pendingID, cmd: "ID", params: params})
	}
	if _, err := c.toServer([]byte(tag + " NOOP\r\n")); err != nil {
		return err
	}
	_, err = c.waitVerdict()
	return err
}

// handleStartTLS intercepts STARTTLS when it applies; otherwise it lets
// imapserver answer (it will refuse).
func (c *conn) handleStartTLS(tag string) error {
	if c.srv.tlsConfig == nil || c.info.TLS() || c.info.Authenticated() {
		c.srv.auditRefusal(c.info, "STARTTLS", "not_available")
		return c.writeClient(tag + " BAD STARTTLS not available\r\n")
	}
	c.addPending(tag, pending{kind: pendingStartTLS, cmd: "STARTTLS"})
	if _, err := c.toServer([]byte(tag + " NOOP\r\n")); err != nil {
		return err
	}
	// Wait until the writer flushed our OK, then handshake.
	select {
	case <-c.tlsGo:
	case <-c.closed:
		return net.ErrClosed
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
	if _, werr := c.waitVerdict(); werr != nil { // the NOOP's, once the writer is done with it
		return werr
	}
	return err
}

// rewrite inspects a response line. handled means it wrote everything
// needed itself.
func (c *conn) rewrite(line []byte) ([]byte, bool, error) {
	l := bytes.TrimRight(line, "\r\n")
	if bytes.HasPrefix(l, []byte("* CAPABILITY ")) {
		return []byte("* CAPABILITY " + c.caps(string(l[len("* CAPABILITY "):])) + "\r\n"), false, nil
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
				return req.result, false, nil
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
	if authed {
		out = append(out, sortCaps...)
	}
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
	if _, _, isLit := literalSize(line); isLit {
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
	if n, _, isLit := literalSize(line); isLit {
		w.litLeft = n
		w.atResponse = false
	} else {
		w.atResponse = true
	}
	return nil
}
