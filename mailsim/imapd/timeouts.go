package imapd

import (
	"errors"
	"net"
	"os"
	"sync"
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
)

// deadlineConn is the client connection as the shim and TLS see it. Before
// every Read it sets the read deadline from the connection's state:
//   - during a TLS handshake, the handshake deadline (and never later
//     than the pre-authentication deadline);
//   - before authentication, the pre-authentication deadline, fixed from
//     the connection's acceptance;
//   - after it, IdleTimeout from now (inactivity).
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
}

func (s *Server) newDeadlineConn(nc net.Conn, info *ConnInfo) *deadlineConn {
	return &deadlineConn{
		Conn: nc, info: info, start: time.Now(),
		preAuth: s.cfg.PreAuthTimeout, idle: s.cfg.IdleTimeout, tlsHandshake: s.cfg.TLSHandshakeTimeout,
	}
}

// deadline returns the read deadline for the connection's state at now and
// the reason recorded when it fires.
func (d *deadlineConn) deadline(now time.Time) (time.Time, string) {
	d.mu.Lock()
	hs := d.hsDeadline
	d.mu.Unlock()
	authed := d.info.Authenticated()
	dl, reason := now.Add(d.idle), reasonTimeoutIdle
	if !authed {
		dl, reason = d.start.Add(d.preAuth), reasonTimeoutPreAuth
	}
	if !hs.IsZero() && (authed || hs.Before(dl)) {
		dl, reason = hs, reasonTimeoutTLSHandshake
	}
	return dl, reason
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	for {
		dl, reason := d.deadline(time.Now())
		if err := d.Conn.SetReadDeadline(dl); err != nil {
			return 0, err
		}
		n, err := d.Conn.Read(p)
		if n > 0 || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		// The state may have changed while the read waited (a login
		// completed, a handshake ended): then wait on the new deadline.
		if _, cur := d.deadline(time.Now()); cur != reason {
			continue
		}
		d.info.SetCloseReason(reason)
		if reason != reasonTimeoutTLSHandshake && d.onTimeout != nil {
			d.onTimeout(reason)
		}
		return n, err
	}
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
	return d.Conn.SetWriteDeadline(t)
}

func (d *deadlineConn) SetReadDeadline(t time.Time) error {
	d.setHandshake(t)
	return nil
}

// isTimeout reports whether err is a deadline that fired.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
