package imapd

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
)

// Connections beyond MaxSessions get "* BYE [LIMIT]" and an imap.connect
// failure; a freed slot serves again. The old server had no cap at all.
func TestSessionCapTotal(t *testing.T) {
	ts := startConnServer(t, connServerOpts{cfg: func(c *Config) { c.MaxSessions = 2 }})
	a := dialRaw(t, ts.addr)
	require.Contains(t, a.line(), "* OK")
	b := dialRaw(t, ts.tlsAddr) // the cap counts both listeners
	tb := tls.Client(b.c, ts.certs.ClientConfig("localhost"))
	require.NoError(t, tb.Handshake())
	rb := &rawConn{t: t, c: tb, br: bufio.NewReader(tb)}
	require.Contains(t, rb.line(), "* OK")

	over := dialRaw(t, ts.addr)
	assert.Equal(t, []string{"* BYE [LIMIT] Too many connections"}, readToEOF(t, over))

	// Implicit TLS: the BYE comes over TLS.
	overTLS := dialRaw(t, ts.tlsAddr)
	tc := tls.Client(overTLS.c, ts.certs.ClientConfig("localhost"))
	require.NoError(t, tc.Handshake())
	assert.Equal(t, []string{"* BYE [LIMIT] Too many connections"}, readToEOF(t, &rawConn{t: t, c: tc, br: bufio.NewReader(tc)}))

	refused := 0
	for _, e := range actions(ts.events(t), audit.IMAPConnect) {
		if e.Outcome == audit.Failure {
			refused++
			assert.Equal(t, "limit_sessions", e.Reason)
			assert.Equal(t, "127.0.0.1", e.SourceIP)
		}
	}
	assert.Equal(t, 2, refused)

	// The sessions in use still work; once one ends, a new one is served.
	loginRaw(t, a, "agent@interieur.test")
	a.send("x LOGOUT")
	a.until("x ")
	readToEOF(t, a)
	var c *rawConn
	require.Eventually(t, func() bool {
		c = dialRaw(t, ts.addr)
		l, err := c.br.ReadString('\n')
		return err == nil && strings.HasPrefix(l, "* OK")
	}, 10*time.Second, 20*time.Millisecond)
	loginRaw(t, c, "agent@interieur.test")
}

// The per-source cap counts the client address the PROXY protocol
// announces, as the scenario runner gives each actor its own: one actor at
// its cap does not stop another.
func TestSessionCapPerSource(t *testing.T) {
	ts := startConnServer(t, connServerOpts{
		wrap: func(ln net.Listener) net.Listener { return proxyproto.NewListener(ln, nil) },
		cfg:  func(c *Config) { c.MaxSessionsPerSource = 2 },
	})
	dst := netip.MustParseAddrPort("192.0.2.1:143")
	dialFrom := func(src string) *rawConn {
		r := dialRaw(t, ts.addr)
		require.NoError(t, proxyproto.WriteV1(r.c, netip.MustParseAddrPort(src), dst))
		return r
	}
	a1, a2 := dialFrom("198.51.100.7:40001"), dialFrom("198.51.100.7:40002")
	require.Contains(t, a1.line(), "* OK")
	require.Contains(t, a2.line(), "* OK")
	a3 := dialFrom("198.51.100.7:40003")
	assert.Equal(t, []string{"* BYE [LIMIT] Too many connections"}, readToEOF(t, a3))

	b1 := dialFrom("198.51.100.8:40001")
	require.Contains(t, b1.line(), "* OK")
	loginRaw(t, b1, "agent@interieur.test")

	var refused []*audit.Event
	for _, e := range actions(ts.events(t), audit.IMAPConnect) {
		if e.Outcome == audit.Failure {
			refused = append(refused, e)
		}
	}
	require.Len(t, refused, 1)
	assert.Equal(t, "limit_sessions_per_source", refused[0].Reason)
	assert.Equal(t, "198.51.100.7", refused[0].SourceIP)
	assert.Equal(t, 40003, refused[0].SourcePort)
}

// The defaults let the mailsim concurrency test's 160 sessions from one
// loopback address through.
func TestSessionCapDefaults(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	cfg := ts.srv.cfg
	assert.Equal(t, DefaultMaxSessions, cfg.MaxSessions)
	assert.Equal(t, DefaultMaxSessionsPerSource, cfg.MaxSessionsPerSource)
	assert.GreaterOrEqual(t, cfg.MaxSessionsPerSource, 160)
}
