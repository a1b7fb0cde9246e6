package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/mailsim/acceptloop"
	"github.com/maildrill/maildrill/mailsim/audit"
)

// listener is a listener being served: Close stops its accept loop.
type listener struct {
	net.Listener
	once sync.Once
	err  error
	done chan struct{}
}

func (l *listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.err = l.Listener.Close()
	})
	return l.err
}

// temporaryAcceptError reports whether an Accept error is worth retrying:
// out of descriptors or buffers, or a connection that died in the backlog.
func temporaryAcceptError(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EAGAIN, syscall.EINTR, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// acceptLoop accepts connections on l until it is closed, retrying
// transient errors with a capped exponential backoff.
func (s *Server) acceptLoop(l *listener, service string) error {
	var backoff acceptloop.Backoff
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.done:
				return ErrServerClosed
			default:
			}
			if !temporaryAcceptError(err) {
				return err
			}
			delay := backoff.Next()
			s.log.Warn("smtpd: accept error, retrying", logKeyService, service, logKeyErr, err, "delay", delay)
			if !acceptloop.Sleep(delay, l.done) {
				return ErrServerClosed
			}
			continue
		}
		backoff.Reset()
		s.admit(c, service)
	}
}

// sourceKey counts sessions per service and source address.
type sourceKey struct{ service, ip string }

// admit applies the session limits to a new connection and starts its
// session, or refuses it with 421 and an audited connect failure.
func (s *Server) admit(c net.Conn, service string) {
	tc := newTrackedConn(c, s, service)
	cs := tc.state
	total, perIP := s.cfg.sessionLimits(service)
	key := sourceKey{service, cs.ip}
	reason := ""
	s.mu.Lock()
	switch {
	case s.closing.Load():
		reason = ReasonServerShutdown
	case s.perService[service] >= total:
		reason = ReasonLimitSessions
	case s.perSource[key] >= perIP:
		reason = ReasonLimitSessionsPerSource
	default:
		s.conns[tc] = struct{}{}
		s.perService[service]++
		s.perSource[key]++
		s.connWG.Add(1)
	}
	s.mu.Unlock()
	if reason != "" {
		e := cs.event(audit.SMTPConnect)
		e.Outcome, e.Reason = audit.Failure, reason
		s.publish(e)
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		msg := "421 4.7.0 Too many sessions, try again later\r\n"
		if reason == ReasonServerShutdown {
			msg = "421 4.3.2 Service shutting down\r\n"
		}
		_, _ = c.Write([]byte(msg))
		c.Close()
		e = cs.event(audit.SMTPDisconnect)
		e.Reason = reason
		s.publish(e)
		return
	}
	e := cs.event(audit.SMTPConnect)
	e.Outcome = audit.Success
	s.publish(e)

	srv := s.newSMTPServer(service, tc)
	go func() {
		defer s.connWG.Done()
		// go-smtp's Serve runs the session of the one connection; its
		// Debug stream (plaintext, above STARTTLS) is the reply tap.
		_ = srv.Serve(&oneConnListener{c: tc, closed: tc.closed})
		_ = srv.Shutdown(context.Background()) // waits for the session goroutine
	}()
}

// oneConnListener hands go-smtp one connection, then blocks until that
// connection is closed.
type oneConnListener struct {
	c      net.Conn
	once   sync.Once
	closed chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }

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
	reason   string // why the connection ended, for smtp.disconnect
	tap      *replyTap
	sess     *session // the current go-smtp session, once greeted
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
	cs.setReason(ReasonHandshakeFailed)
	reason := ReasonHandshakeFailed
	if cs.disconnectReason() == ReasonTimeoutTLSHandshake {
		reason = ReasonTimeoutTLSHandshake
	}
	e := cs.event(audit.SMTPStartTLS)
	e.Outcome, e.Reason = audit.Failure, reason
	cs.srv.publish(e)
}

// setReason records why the connection is ending; the first reason wins.
func (cs *connState) setReason(r string) {
	cs.mu.Lock()
	if cs.reason == "" {
		cs.reason = r
	}
	cs.mu.Unlock()
}

func (cs *connState) disconnectReason() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.reason
}

// Connection phases, choosing the read timeout and naming it when it fires.
const (
	phaseCommand int32 = iota
	phaseData
	phaseHandshake
)

// trackedConn is the connection go-smtp reads and writes. It lets Close end
// idle sessions, applies the timeouts, caps the session's lifetime, and
// audits the disconnect.
type trackedConn struct {
	net.Conn
	state    *connState
	deadline time.Time // hard end of the session
	once     sync.Once
	closed   chan struct{} // closed by close
	dead     atomic.Bool   // the stream is unusable: reads report EOF
	eof      atomic.Bool   // the client closed its side of the TCP connection
	phase    atomic.Int32
	timedOut atomic.Bool
}

func newTrackedConn(c net.Conn, s *Server, service string) *trackedConn {
	cs := &connState{srv: s, service: service}
	cs.ip, cs.port = splitAddr(c.RemoteAddr())
	next := func() uint64 { return s.nextID.Add(1) }
	if s.cfg.Bus != nil {
		cs.id = s.cfg.Bus.SessionID(s.cfg.SessionIDPrefix, next, cs.ip, cs.port)
	} else {
		cs.id = s.cfg.SessionIDPrefix + strconv.FormatUint(next(), 10)
	}
	cs.idle = sync.NewCond(&cs.mu)
	cs.tap = &replyTap{cs: cs}
	_, cs.dstPort = splitAddr(c.LocalAddr())
	tc := &trackedConn{Conn: c, state: cs, deadline: time.Now().Add(s.cfg.MaxSessionDuration), closed: make(chan struct{})}
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
		c.state.setReason(ReasonServerShutdown)
		return 0, os.ErrDeadlineExceeded
	}
	if c.phase.Load() == phaseData {
		// RFC 5321's data block timeout: each wait for more bytes.
		_ = c.Conn.SetReadDeadline(c.clamp(time.Now().Add(c.state.srv.cfg.DataTimeout)))
	}
	n, err := c.Conn.Read(b)
	if err != nil {
		c.readFailed(err)
	}
	return n, err
}

// readFailed records why a read failed, for the disconnect.
func (c *trackedConn) readFailed(err error) {
	cs := c.state
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		c.eof.Store(true)
		cs.setReason(ReasonClientClosed)
	case errors.As(err, &ne) && ne.Timeout():
		c.timedOut.Store(true)
		switch {
		case cs.srv.closing.Load():
			cs.setReason(ReasonServerShutdown)
		case !time.Now().Before(c.deadline):
			cs.setReason(ReasonSessionDuration)
		case c.phase.Load() == phaseData:
			cs.setReason(ReasonTimeoutData)
			c.dead.Store(true) // end the session after the 421
		case c.phase.Load() == phaseHandshake:
			cs.setReason(ReasonTimeoutTLSHandshake)
		default:
			cs.setReason(ReasonTimeoutCommand)
		}
	default:
		cs.setReason(ReasonClientClosed) // reset by peer and the like
	}
}

// handshakeErrorReply is what go-smtp answers, in the clear, when a
// STARTTLS handshake fails; it then keeps reading the broken stream. Its
// error is not exposed, so the reply itself is the signal.
var handshakeErrorReply = []byte("550 5.0.0 Handshake error\r\n")

// startTLSReply is go-smtp's go-ahead for STARTTLS: the handshake follows.
var startTLSReply = []byte("220 2.0.0 Ready to start TLS\r\n")

func (c *trackedConn) Write(b []byte) (int, error) {
	if bytes.Equal(b, handshakeErrorReply) && !c.dead.Swap(true) {
		c.phase.Store(phaseCommand)
		c.state.handshakeFailed()
	}
	n, err := c.Conn.Write(b)
	if err == nil && bytes.Equal(b, startTLSReply) {
		c.phase.Store(phaseHandshake)
		t := c.clamp(time.Now().Add(c.state.srv.cfg.TLSHandshakeTimeout))
		_ = c.Conn.SetReadDeadline(t)
		_ = c.Conn.SetWriteDeadline(t)
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
	// go-smtp waits for a command again: any STARTTLS handshake is over
	// (VerifyConnection, which records it, runs before its very end).
	c.phase.CompareAndSwap(phaseHandshake, phaseCommand)
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	// go-smtp sets the write deadline before each reply, over TLS too:
	// the next lines on its Debug stream are that reply.
	c.state.tap.replyComing()
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
		close(c.closed)
		cs := c.state
		cs.mu.Lock()
		cs.closed = true
		for wait && cs.inflight > 0 {
			cs.idle.Wait()
		}
		cs.mu.Unlock()
		s := cs.srv
		s.mu.Lock()
		if _, ok := s.conns[c]; ok {
			delete(s.conns, c)
			key := sourceKey{cs.service, cs.ip}
			s.perService[cs.service]--
			if s.perSource[key]--; s.perSource[key] <= 0 {
				delete(s.perSource, key)
			}
		}
		s.mu.Unlock()
		if s.closing.Load() {
			cs.setReason(ReasonServerShutdown)
		}
		cs.setReason(ReasonClientClosed)
		e := cs.event(audit.SMTPDisconnect)
		e.Reason = cs.disconnectReason()
		s.publish(e)
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
