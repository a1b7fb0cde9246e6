package imapd

import (
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Connection timeouts. Each is wall time, and ends the connection with an
// audit record (event.reason) and, where the protocol allows, a BYE.
const (
	// DefaultPreAuthTimeout is how long a connection may stay
	// unauthenticated, counted from its acceptance (Dovecot's imap-login
	// model): then "* BYE Disconnected for inactivity".
	DefaultPreAuthTimeout = 60 * time.Second
	// DefaultIdleTimeout is the autologout of an authenticated session
	// that sends nothing, IDLE included (RFC 9051 §5.4: at least 30
	// minutes; Dovecot's default).
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultTLSHandshakeTimeout bounds the TLS handshake of the
	// implicit-TLS listener and of STARTTLS.
	DefaultTLSHandshakeTimeout = 30 * time.Second

	reasonTimeoutPreAuth      = "timeout_preauth"
	reasonTimeoutIdle         = "timeout_idle"
	reasonTimeoutTLSHandshake = "timeout_tls_handshake"

	byeInactivity = "* BYE Disconnected for inactivity\r\n"
	// byeWriteTimeout bounds the BYE of a timed-out connection.
	byeWriteTimeout = 5 * time.Second
	// byeLockWait is how long the BYE waits for a response being written.
	byeLockWait = time.Second
)

// deadlineConn is the client connection as the shim and TLS see it. Before
// every Read it sets the read deadline from the connection's state:
//   - during a TLS handshake, the handshake deadline (and never later
//     than the pre-authentication deadline);
//   - before authentication, the pre-authentication deadline, fixed from
//     the connection's acceptance;
//   - after it, IdleTimeout from the start of the read or the end of the
//     last write to the client, whichever is later (inactivity both ways);
//     it does not fire while imapserver runs a command (the client awaits
//     its response) unless a write to the client has been blocked for
//     IdleTimeout (the client reads nothing either).
//
// A deadline set on it (SetDeadline or SetReadDeadline, as the TLS
// handshakes of startConn and of the shim's STARTTLS do) marks a TLS
// handshake: the read deadline is then the configured handshake timeout
// from that moment, whatever the time given; a zero time ends it. Write
// deadlines pass through.
//
// When a deadline fires, the reason is recorded in ConnInfo and onTimeout is
// called (outside a handshake) before the error is returned, so the client
// is told BYE before the shim closes the connection.
type deadlineConn struct {
	net.Conn
	info                        *ConnInfo
	start                       time.Time
	preAuth, idle, tlsHandshake time.Duration
	onTimeout                   func(reason string)

	mu         sync.Mutex
	hsDeadline time.Time // non-zero during a TLS handshake
	lastWrite  time.Time // end of the last write to the client
	writeStart time.Time // start of the write in progress, if any
	readStart  time.Time // start of the read in progress, if any

	// A bulk writer's writes wait for room in the socket in the kernel
	// (kernelWrite; see bulkpool.go) while kernelWait is set: raw is the
	// socket (nil where that is not possible).
	raw        syscall.RawConn
	kernelWait atomic.Bool
	kw         kernelWriteState
}

func (s *Server) newDeadlineConn(nc net.Conn, info *ConnInfo) *deadlineConn {
	return &deadlineConn{
		Conn: nc, info: info, start: time.Now(),
		preAuth: s.cfg.PreAuthTimeout, idle: s.cfg.IdleTimeout, tlsHandshake: s.cfg.TLSHandshakeTimeout,
		raw: rawWriterOf(nc),
	}
}

// deadline returns the read deadline for the connection's state, for a
// read that started at readStart, and the reason recorded when it fires.
func (d *deadlineConn) deadline(readStart time.Time) (time.Time, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deadlineLocked(readStart)
}

func (d *deadlineConn) deadlineLocked(readStart time.Time) (time.Time, string) {
	hs, lastWrite := d.hsDeadline, d.lastWrite
	authed := d.info.Authenticated()
	dl, reason := d.start.Add(d.preAuth), reasonTimeoutPreAuth
	if authed {
		// Silence both ways: a response still being written (a slow
		// command, a large FETCH) is activity.
		dl, reason = readStart.Add(d.idle), reasonTimeoutIdle
		if lastWrite.After(readStart) {
			dl = lastWrite.Add(d.idle)
		}
	}
	if !hs.IsZero() && (authed || hs.Before(dl)) {
		dl, reason = hs, reasonTimeoutTLSHandshake
	}
	return dl, reason
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	start := time.Now()
	defer func() {
		d.mu.Lock()
		d.readStart = time.Time{}
		d.mu.Unlock()
	}()
	for {
		d.mu.Lock()
		d.readStart = start
		dl, reason := d.deadlineLocked(start)
		err := d.Conn.SetReadDeadline(dl)
		d.mu.Unlock()
		if err != nil {
			return 0, err
		}
		n, err := d.Conn.Read(p)
		if n > 0 || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		now := time.Now()
		dl2, cur := d.deadline(start)
		switch {
		case cur != reason:
			// The state changed while the read waited (a login
			// completed, a handshake ended): wait on the new deadline.
			continue
		case cur == reasonTimeoutIdle && d.writingFor(now) >= d.idle:
			// A response has been stuck that long: the client reads
			// nothing either.
		case cur == reasonTimeoutIdle && d.info.serverBusy():
			// A command is running: the client waits for it, which
			// is not inactivity.
			start = now
			continue
		case dl2.After(now):
			continue // a response was written meanwhile
		}
		d.info.SetCloseReason(reason)
		d.mu.Lock()
		handshaking := !d.hsDeadline.IsZero()
		d.mu.Unlock()
		if !handshaking && d.onTimeout != nil { // no BYE in the middle of a TLS handshake
			d.onTimeout(reason)
		}
		return n, err
	}
}

// stateChanged moves the deadline of a read in progress to the one of the
// connection's new state (a login makes it IdleTimeout from the read's
// start instead of the pre-authentication deadline).
func (d *deadlineConn) stateChanged() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.readStart.IsZero() {
		return
	}
	dl, _ := d.deadlineLocked(d.readStart)
	_ = d.Conn.SetReadDeadline(dl)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.startWrite()
	var n int
	var err error
	if d.raw != nil && d.kernelWait.Load() {
		var m int64
		m, err = kernelWrite(d.raw, [][]byte{p}, &d.kw)
		n = int(m)
	} else {
		n, err = d.Conn.Write(p)
	}
	d.endWrite(n > 0)
	return n, err
}

// WriteBuffers is Write for several buffers in one call (writev on TCP):
// see outBuf.
func (d *deadlineConn) WriteBuffers(bufs net.Buffers) (int64, error) {
	d.startWrite()
	var n int64
	var err error
	if d.raw != nil && d.kernelWait.Load() {
		n, err = kernelWrite(d.raw, bufs, &d.kw)
	} else {
		n, err = bufs.WriteTo(d.Conn)
	}
	d.endWrite(n > 0)
	return n, err
}

// Close closes the connection; a write waiting in the kernel for room
// gives up within kernelPollMax.
func (d *deadlineConn) Close() error {
	d.kw.closed.Store(true)
	return d.Conn.Close()
}

// SetWriteDeadline sets the connection's write deadline, which writes
// waiting in the kernel honour as well.
func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		d.kw.deadline.Store(0)
	} else {
		d.kw.deadline.Store(t.UnixNano())
	}
	return d.Conn.SetWriteDeadline(t)
}

// waitingSince tells since when (UnixNano) the write in progress has
// waited for the client to make room, 0 if it has not: in the kernel,
// as kernelWrite tells; otherwise since the write began.
func (d *deadlineConn) waitingSince() int64 {
	if d.raw != nil && d.kernelWait.Load() {
		return d.kw.polling.Load()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.writeStart.IsZero() {
		return 0
	}
	return d.writeStart.UnixNano()
}

// startWrite and endWrite bracket a write: writingFor tells how long it
// has been blocked, and a write that sent something is activity.
func (d *deadlineConn) startWrite() {
	d.mu.Lock()
	d.writeStart = time.Now()
	d.mu.Unlock()
}

func (d *deadlineConn) endWrite(sent bool) {
	d.mu.Lock()
	d.writeStart = time.Time{}
	if sent {
		d.lastWrite = time.Now()
	}
	d.mu.Unlock()
}

// writingFor tells how long the write in progress has been blocked.
func (d *deadlineConn) writingFor(now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.writeStart.IsZero() {
		return 0
	}
	return now.Sub(d.writeStart)
}

func (d *deadlineConn) setHandshake(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.IsZero() {
		d.hsDeadline = time.Time{}
	} else {
		d.hsDeadline = time.Now().Add(d.tlsHandshake)
	}
}

func (d *deadlineConn) SetDeadline(t time.Time) error {
	d.setHandshake(t)
	return d.SetWriteDeadline(t)
}

func (d *deadlineConn) SetReadDeadline(t time.Time) error {
	d.setHandshake(t)
	return nil
}

// handshakeFailure returns the audit reason of a failed TLS handshake: the
// timeout that ended it (the handshake's own, or the pre-authentication
// deadline that came first), else tls_handshake_failed.
func handshakeFailure(info *ConnInfo, err error) string {
	switch r := info.CloseReason(); {
	case strings.HasPrefix(r, "timeout_"):
		return r
	case isTimeout(err):
		info.SetCloseReason(reasonTimeoutTLSHandshake)
		return reasonTimeoutTLSHandshake
	}
	return "tls_handshake_failed"
}

// isTimeout reports whether err is a deadline that fired.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// sayByeAndClose tells a timed-out client BYE and closes its connection,
// which ends the shim and, through its reads, imapserver's session. When a
// response is still being written after byeLockWait (the client neither
// reads nor writes: the writer is stuck on a full socket) there is no room
// for a BYE: closing the connection frees the writer at once instead of
// after its write timeout.
func (c *conn) sayByeAndClose(bye string) {
	locked := make(chan struct{})
	go func() { c.wmu.Lock(); close(locked) }()
	t := time.NewTimer(byeLockWait)
	defer t.Stop()
	select {
	case <-locked:
		c.client.SetWriteDeadline(time.Now().Add(byeWriteTimeout))
		if _, err := c.cw.WriteString(bye); err == nil {
			_ = c.cw.Flush()
		}
	case <-t.C:
		c.raw.Close()
		<-locked
	}
	c.wmu.Unlock()
	c.raw.Close()
}
