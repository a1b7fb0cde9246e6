package imapd

import (
	"crypto/tls"
	"net"
	"sync"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// Session caps: a Server refuses connections beyond them with
// "* BYE [LIMIT]" (RFC 9051 §7.1) and an imap.connect failure event.
const (
	// DefaultMaxSessions bounds the concurrent connections of a Server.
	DefaultMaxSessions = 1000
	// DefaultMaxSessionsPerSource bounds the concurrent connections from
	// one source address: a quarter of the total, so that one source never
	// takes the whole server. Real clients open a handful of connections;
	// the scenario runner gives every actor its own source through the
	// PROXY protocol; without it, local test suites share 127.0.0.1 (the
	// mailsim concurrency test opens 160 sessions from there).
	DefaultMaxSessionsPerSource = 250

	// Refusal reasons (event.reason of the imap.connect failure).
	reasonLimitSessions          = "limit_sessions"
	reasonLimitSessionsPerSource = "limit_sessions_per_source"

	// maxRefusing bounds the refusals in progress (each may need a TLS
	// handshake to say BYE); beyond it a refused connection is closed
	// without a word.
	maxRefusing = 64
	// refuseWriteTimeout bounds the BYE of a refused connection.
	refuseWriteTimeout = 5 * time.Second
)

// sessionCounter counts live connections in total and per source address.
type sessionCounter struct {
	max, maxPerSource int

	mu       sync.Mutex
	total    int
	bySource map[string]int
}

func newSessionCounter(max, perSource int) *sessionCounter {
	return &sessionCounter{max: max, maxPerSource: perSource, bySource: map[string]int{}}
}

// acquire counts a connection from ip, or returns the reason it is refused.
func (c *sessionCounter) acquire(ip string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total >= c.max {
		return reasonLimitSessions
	}
	if c.bySource[ip] >= c.maxPerSource {
		return reasonLimitSessionsPerSource
	}
	c.total++
	c.bySource[ip]++
	return ""
}

func (c *sessionCounter) release(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.bySource[ip]--; c.bySource[ip] <= 0 {
		delete(c.bySource, ip)
	}
}

// refuse records a connection over a cap and sends it "* BYE [LIMIT]"
// (after the TLS handshake on the implicit-TLS listener) before closing it.
func (s *Server) refuse(nc net.Conn, info *ConnInfo, implicitTLS bool, reason string) {
	s.emit(info, audit.Event{Action: audit.IMAPConnect, Outcome: audit.Failure, Reason: reason})
	s.endUnopened(info, reason)
	s.mu.Lock()
	if s.closed || len(s.refusing) >= maxRefusing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.refusing[nc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.refusing, nc)
			s.mu.Unlock()
			nc.Close()
		}()
		c := nc
		if implicitTLS {
			tc := tls.Server(nc, s.tlsConfig)
			nc.SetDeadline(time.Now().Add(s.cfg.TLSHandshakeTimeout))
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
		}
		c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
		_, _ = c.Write([]byte("* BYE [LIMIT] Too many connections\r\n"))
	}()
}

// endUnopened records the end of a connection that never became a session
// (refused at a limit, or its TLS handshake failed): every imap.connect has
// its imap.logout, with the reason the connection ended.
func (s *Server) endUnopened(info *ConnInfo, reason string) {
	info.SetCloseReason(reason)
	s.emit(info, audit.Event{Action: audit.IMAPLogout, Outcome: audit.Success, Reason: info.CloseReason()})
}
