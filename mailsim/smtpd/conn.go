package smtpd

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// listener wraps the caller's listener: it numbers and tracks each
// connection, enforces MaxSessions and audits the connection.
type listener struct {
	net.Listener
	srv     *Server
	service string
	once    sync.Once
	err     error
}

func (l *listener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		s := l.srv
		if s.closing.Load() {
			c.Close()
			return nil, net.ErrClosed
		}
		tc := newTrackedConn(c, s, l.service)
		s.mu.Lock()
		full := len(s.conns) >= s.cfg.MaxSessions
		if !full {
			s.conns[tc] = struct{}{}
		}
		s.mu.Unlock()
		if full {
			e := tc.state.event(audit.SMTPConnect)
			e.Outcome, e.Reason = audit.Failure, ReasonTooManySessions
			s.publish(e)
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("421 4.3.2 Too many sessions, try again later\r\n"))
			c.Close()
			e = tc.state.event(audit.SMTPDisconnect)
			s.publish(e)
			continue
		}
		e := tc.state.event(audit.SMTPConnect)
		e.Outcome = audit.Success
		s.publish(e)
		return tc, nil
	}
}

// connState is what the audit trail knows about one connection. It outlives
// go-smtp's sessions, which restart after STARTTLS.
type connState struct {
	srv     *Server
	tc      *trackedConn
	service string
	id      string
	ip      string
	port    int
	dstPort int

	// busy is set while a message is being received or delivered; Close
	// lets such sessions finish.
	busy atomic.Bool

	mu       sync.Mutex
	idle     *sync.Cond // signalled when inflight drops to zero
	inflight int        // Data calls running (BDAT runs them on their own goroutine)
	closed   bool
	helo     string
	tls      bool
	user     string
	messages int // messages received, numbering trace ids
}

// event returns an event for action carrying the connection's fields.
func (cs *connState) event(action string) audit.Event {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.eventLocked(action)
}

func (cs *connState) eventLocked(action string) audit.Event {
	return audit.Event{
		Action:      action,
		ServiceType: serviceType,
		ServiceName: cs.service,
		SessionID:   cs.id,
		SourceIP:    cs.ip,
		SourcePort:  cs.port,
		DestPort:    cs.dstPort,
		TLS:         cs.tls,
		SMTPHelo:    cs.helo,
		UserName:    cs.user,
	}
}

func (cs *connState) isTLS() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.tls
}

func (cs *connState) authenticatedUser() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.user
}

func (cs *connState) setHelo(h string) {
	h = sanitize(h, maxHeloLen)
	cs.mu.Lock()
	if h != "" {
		cs.helo = h
	}
	cs.mu.Unlock()
}

func (cs *connState) setUser(u string) {
	cs.mu.Lock()
	cs.user = u
	cs.mu.Unlock()
}

// newSession records what go-smtp knows when a session (re)starts after
// HELO/EHLO.
func (cs *connState) newSession(c *smtp.Conn) {
	_, isTLS := c.TLSConnectionState()
	cs.mu.Lock()
	cs.helo = sanitize(c.Hostname(), maxHeloLen)
	cs.tls = isTLS
	cs.user = "" // go-smtp forgets the login on STARTTLS; a first EHLO has none
	cs.mu.Unlock()
}

// handshakeDone records a completed STARTTLS: as in go-smtp, the client
// must greet and authenticate again.
func (cs *connState) handshakeDone() {
	cs.mu.Lock()
	cs.tls = true
	e := cs.eventLocked(audit.SMTPStartTLS)
	cs.helo = ""
	cs.user = ""
	cs.mu.Unlock()
	e.Outcome = audit.Success
	cs.srv.publish(e)
}

// handshakeFailed audits a failed STARTTLS handshake.
func (cs *connState) handshakeFailed() {
	e := cs.event(audit.SMTPStartTLS)
	e.Outcome, e.Reason = audit.Failure, ReasonHandshakeFailed
	cs.srv.publish(e)
}

// trackedConn is the connection go-smtp reads and writes. It lets Close end
// idle sessions, caps the session's lifetime, and audits the disconnect.
type trackedConn struct {
	net.Conn
	state    *connState
	deadline time.Time // hard end of the session
	once     sync.Once
	dead     atomic.Bool // the stream is unusable: reads report EOF
}

func newTrackedConn(c net.Conn, s *Server, service string) *trackedConn {
	n := s.nextID.Add(1)
	cs := &connState{
		srv:     s,
		service: service,
		id:      s.cfg.SessionIDPrefix + strconv.FormatUint(n, 10),
	}
	cs.idle = sync.NewCond(&cs.mu)
	cs.ip, cs.port = splitAddr(c.RemoteAddr())
	_, cs.dstPort = splitAddr(c.LocalAddr())
	tc := &trackedConn{Conn: c, state: cs, deadline: time.Now().Add(s.cfg.MaxSessionDuration)}
	cs.tc = tc
	_ = c.SetDeadline(tc.deadline)
	return tc
}

func splitAddr(a net.Addr) (string, int) {
	if a == nil {
		return "", 0
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String(), t.Port
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// stopping reports whether reads should fail now: the server is closing
// and no message is in flight.
func (c *trackedConn) stopping() bool {
	return c.state.srv.closing.Load() && !c.state.busy.Load()
}

func (c *trackedConn) Read(b []byte) (int, error) {
	if c.dead.Load() {
		return 0, io.EOF
	}
	if c.stopping() {
		return 0, os.ErrDeadlineExceeded
	}
	return c.Conn.Read(b)
}

// handshakeErrorReply is what go-smtp answers, in the clear, when a
// STARTTLS handshake fails; it then keeps reading the broken stream. Its
// error is not exposed, so the reply itself is the signal.
var handshakeErrorReply = []byte("550 5.0.0 Handshake error\r\n")

func (c *trackedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if bytes.Equal(b, handshakeErrorReply) && !c.dead.Swap(true) {
		c.state.handshakeFailed()
	}
	return n, err
}

func (c *trackedConn) clamp(t time.Time) time.Time {
	if c.stopping() {
		return time.Unix(1, 0)
	}
	if t.IsZero() || t.After(c.deadline) {
		return c.deadline
	}
	return t
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() || t.After(c.deadline) {
		t = c.deadline
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *trackedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// interruptIfIdle wakes a read blocked waiting for a command, so the
// session ends with "421 Idle timeout".
func (c *trackedConn) interruptIfIdle() {
	if !c.state.busy.Load() {
		_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// forceClose cuts the connection under a busy session. The session's own
// goroutine then fails, records what it was doing and closes the
// trackedConn, which audits the disconnect in order.
func (c *trackedConn) forceClose() { _ = c.Conn.Close() }

// Close closes the connection once and audits the disconnect, after any
// message still being received has been recorded.
func (c *trackedConn) Close() error { return c.close(true) }

// close closes the connection; with wait, it first lets running Data calls
// finish (go-smtp has already cut off their input), so that the disconnect
// is the session's last event.
func (c *trackedConn) close(wait bool) error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		cs := c.state
		cs.mu.Lock()
		cs.closed = true
		for wait && cs.inflight > 0 {
			cs.idle.Wait()
		}
		cs.mu.Unlock()
		s := cs.srv
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.publish(cs.event(audit.SMTPDisconnect))
	})
	return err
}

// beginData registers a running Data call; it fails once the connection is
// closed.
func (cs *connState) beginData() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return false
	}
	cs.inflight++
	return true
}

func (cs *connState) endData() {
	cs.mu.Lock()
	cs.inflight--
	if cs.inflight == 0 {
		cs.idle.Broadcast()
	}
	cs.mu.Unlock()
}

// stateOf finds the connection state behind a go-smtp connection, which may
// have been wrapped by STARTTLS.
func stateOf(c *smtp.Conn) *connState {
	nc := c.Conn()
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	if tc, ok := nc.(*trackedConn); ok {
		return tc.state
	}
	return nil
}
