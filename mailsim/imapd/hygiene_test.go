package imapd

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// Abrupt faults at every stage of a connection. After each, no goroutine
// remains for the dead connection, the server still serves, and every
// accepted connection's imap.connect is paired with its end: the
// imap.logout of its session, or the imap.connect failure itself.
func TestAbruptFaultsLeaveNothingBehind(t *testing.T) {
	const timeout = 400 * time.Millisecond
	reset := func(c net.Conn) {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	greeted := func(t *testing.T, ts *testServer) *rawConn {
		r := dialRaw(t, ts.addr)
		require.Contains(t, r.line(), "* OK")
		return r
	}
	loggedIn := func(t *testing.T, ts *testServer) *rawConn {
		r := greeted(t, ts)
		loginRaw(t, r, "agent@interieur.test")
		return r
	}
	startTLS := func(t *testing.T, ts *testServer) *rawConn {
		r := greeted(t, ts)
		r.send("t STARTTLS")
		require.Equal(t, "t OK Begin TLS negotiation now", r.line())
		return r
	}
	clientHelloStart := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}

	cases := []struct {
		name  string
		fault func(t *testing.T, ts *testServer)
		// timeout overrides the server's timeouts: uploading 24 MiB on a
		// loaded 2-core machine can pause longer than 400 ms between reads
		timeout time.Duration
	}{
		{name: "reset before the greeting is read", fault: func(t *testing.T, ts *testServer) { reset(dialRaw(t, ts.addr).c) }},
		{name: "FIN before the greeting is read", fault: func(t *testing.T, ts *testServer) { dialRaw(t, ts.addr).c.Close() }},
		{name: "half-close before login", fault: func(t *testing.T, ts *testServer) {
			r := greeted(t, ts)
			require.NoError(t, r.c.(*net.TCPConn).CloseWrite())
			readToEOF(t, r)
		}},
		{name: "reset mid-command before login", fault: func(t *testing.T, ts *testServer) {
			r := greeted(t, ts)
			_, _ = r.c.Write([]byte("a LOGIN agent@inter"))
			reset(r.c)
		}},
		{name: "stall before login", fault: func(t *testing.T, ts *testServer) {
			assert.Equal(t, []string{"* BYE Disconnected for inactivity"}, readToEOF(t, greeted(t, ts)))
		}},
		{name: "reset inside the IMAPS handshake", fault: func(t *testing.T, ts *testServer) {
			r := dialRaw(t, ts.tlsAddr)
			_, _ = r.c.Write(clientHelloStart)
			reset(r.c)
		}},
		{name: "FIN inside the IMAPS handshake", fault: func(t *testing.T, ts *testServer) {
			r := dialRaw(t, ts.tlsAddr)
			_, _ = r.c.Write(clientHelloStart)
			r.c.Close()
		}},
		{name: "stall inside the IMAPS handshake", fault: func(t *testing.T, ts *testServer) {
			r := dialRaw(t, ts.tlsAddr)
			_, _ = r.c.Write(clientHelloStart)
			readToEOF(t, r)
		}},
		{name: "reset inside the STARTTLS handshake", fault: func(t *testing.T, ts *testServer) {
			r := startTLS(t, ts)
			_, _ = r.c.Write(clientHelloStart)
			reset(r.c)
		}},
		{name: "stall inside the STARTTLS handshake", fault: func(t *testing.T, ts *testServer) {
			r := startTLS(t, ts)
			_, _ = r.c.Write(clientHelloStart)
			readToEOF(t, r)
		}},
		{name: "reset after login", fault: func(t *testing.T, ts *testServer) { reset(loggedIn(t, ts).c) }},
		{name: "FIN after login", fault: func(t *testing.T, ts *testServer) { loggedIn(t, ts).c.Close() }},
		{name: "half-close after login", fault: func(t *testing.T, ts *testServer) {
			r := loggedIn(t, ts)
			require.NoError(t, r.c.(*net.TCPConn).CloseWrite())
			readToEOF(t, r)
		}},
		{name: "reset in IDLE", fault: func(t *testing.T, ts *testServer) {
			r := loggedIn(t, ts)
			r.send("s SELECT INBOX")
			r.until("s ")
			r.send("i IDLE")
			r.until("+ ")
			reset(r.c)
		}},
		{name: "reset mid-literal after login", fault: func(t *testing.T, ts *testServer) {
			r := loggedIn(t, ts)
			r.send("p APPEND INBOX {1000}")
			r.until("+ ")
			_, _ = r.c.Write([]byte("From: x@y.test\r\n"))
			reset(r.c)
		}},
		{name: "stall mid-literal after login", fault: func(t *testing.T, ts *testServer) {
			r := loggedIn(t, ts)
			r.send("p APPEND INBOX {1000}")
			r.until("+ ")
			_, _ = r.c.Write([]byte("From: x@y.test\r\n"))
			lines := readToEOF(t, r)
			assert.Equal(t, "* BYE Disconnected for inactivity", lines[len(lines)-1])
		}},
		{name: "stall after login", fault: func(t *testing.T, ts *testServer) {
			assert.Equal(t, []string{"* BYE Disconnected for inactivity"}, readToEOF(t, loggedIn(t, ts)))
		}},
		{name: "reset after login over IMAPS", fault: func(t *testing.T, ts *testServer) {
			r := dialRaw(t, ts.tlsAddr)
			tc := tls.Client(r.c, ts.certs.ClientConfig("localhost"))
			r2 := &rawConn{t: t, c: tc, br: bufio.NewReader(tc)}
			require.Contains(t, r2.line(), "* OK")
			loginRaw(t, r2, "agent@interieur.test")
			reset(r.c)
		}},
		{name: "reset during a bulk FETCH", fault: func(t *testing.T, ts *testServer) {
			r := loggedIn(t, ts)
			r.send("s SELECT INBOX")
			r.until("s ")
			r.send("f FETCH 1:* (BODY.PEEK[])")
			r.line()
			reset(r.c)
		}},
		{name: "reset during a large FETCH", fault: func(t *testing.T, ts *testServer) {
			msg := largeMessage() // built first: the session times out after a short silence
			r := loggedIn(t, ts)
			appendLarge(t, r, msg)
			r.send("f FETCH * (BODY.PEEK[])")
			r.line()
			reset(r.c)
		}, timeout: 3 * time.Second},
		{name: "stall without reading a large FETCH", fault: func(t *testing.T, ts *testServer) {
			msg := largeMessage() // built first: the session times out after a short silence
			r := loggedIn(t, ts)
			appendLarge(t, r, msg)
			r.send("f FETCH * (BODY.PEEK[])") // 24 MiB the client never reads
			ts.eventWith(t, audit.IMAPLogout, "timeout_idle")
		}, timeout: 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := timeout
			if tc.timeout > 0 {
				d = tc.timeout
			}
			ts := startConnServer(t, shortTimeouts(d, d, d))
			workingSession(t, ts)
			ts.events(t)
			base := runtime.NumGoroutine()

			tc.fault(t, ts)

			waitGoroutines(t, base)
			workingSession(t, ts)
			assertPaired(t, ts.events(t))
		})
	}
}

// assertPaired checks that each connection accepted has ended in the audit
// trail: every imap.connect, successful or refused (a limit, a failed TLS
// handshake), with an imap.logout of the same session carrying its reason.
func assertPaired(t *testing.T, evs []*audit.Event) {
	t.Helper()
	open := map[string]bool{}
	for _, e := range evs {
		switch e.Action {
		case audit.IMAPConnect:
			open[e.SessionID] = true
		case audit.IMAPLogout:
			assert.NotEmpty(t, e.Reason, "imap.logout without a reason for %s", e.SessionID)
			assert.True(t, open[e.SessionID], "imap.logout without imap.connect for %s", e.SessionID)
			delete(open, e.SessionID)
		}
	}
	assert.Empty(t, open, "sessions without an end event")
}

// appendLarge stores a 24 MiB message: more than loopback socket buffers
// hold, so a FETCH of it blocks when the client does not read.
func appendLarge(t *testing.T, r *rawConn, msg string) {
	t.Helper()
	r.send(fmt.Sprintf("p APPEND INBOX {%d}", len(msg)))
	r.until("+ ")
	r.send(msg)
	require.Contains(t, r.until("p ")[0], "p OK")
	r.send("s SELECT INBOX")
	r.until("s ")
}

func largeMessage() string {
	return "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/\r\n", 24<<20/66)
}

// Close while a client is inside the IMAPS handshake closes it; the old
// server flushed the connection's writer before it existed (nil pointer
// panic).
func TestCloseDuringTLSHandshake(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	r := dialRaw(t, ts.tlsAddr)
	_, err := r.c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ts.srv.mu.Lock()
		defer ts.srv.mu.Unlock()
		return len(ts.srv.conns) == 1
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, ts.srv.Close())
	assert.Empty(t, readToEOF(t, r))
}
