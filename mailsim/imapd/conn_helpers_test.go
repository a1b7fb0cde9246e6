package imapd

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/certs"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/store"
)

// connServerOpts configure startConnServer.
type connServerOpts struct {
	clock clock.Clock // default: a virtual clock
	// wrap, when set, wraps the listeners (e.g. PROXY protocol).
	wrap func(net.Listener) net.Listener
	cfg  func(*Config)
	base store.Base // default: fakeBase
}

// startConnServer is startServer with a configurable Config (limits,
// timeouts, throttle) and clock; the plaintext listener allows LOGIN.
func startConnServer(t testing.TB, o connServerOpts) *testServer {
	t.Helper()
	clk := o.clock
	if clk == nil {
		clk = clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	}
	bus := audit.NewBus(clk, audit.BusOptions{RunID: "test"})
	sub := bus.Subscribe()
	var base store.Base = fakeBase{counts: map[string]uint32{"INBOX": 10, "Sent": 5}}
	if o.base != nil {
		base = o.base
	}
	st := store.New(base, clk, store.Options{})
	b, err := certs.Generate(t.TempDir(), []string{"localhost", "127.0.0.1"}, time.Now())
	require.NoError(t, err)
	cfg := Config{Store: st, Directory: fakeDir{}, Bus: bus, TLSConfig: b.TLSConfig, AllowInsecureAuth: true}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	srv, err := New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ts := &testServer{srv: srv, store: st, bus: bus, sub: sub, addr: ln.Addr().String(), tlsAddr: tln.Addr().String(), certs: b}
	if o.wrap != nil {
		ln, tln = o.wrap(ln), o.wrap(tln)
	}
	go srv.Serve(ln)
	go srv.ServeTLS(tln)
	t.Cleanup(func() {
		srv.Close()
		bus.Close()
	})
	return ts
}

// loginRaw logs in on a raw plaintext connection after its greeting.
func loginRaw(t testing.TB, r *rawConn, user string) {
	t.Helper()
	r.send("l1 LOGIN " + user + " secret-" + strings.Split(user, "@")[0])
	lines := r.until("l1 ")
	require.Contains(t, lines[len(lines)-1], "l1 OK", "%q", lines)
}

// readToEOF reads lines until the server closes the connection and returns
// them; it fails if the connection is not closed within the raw deadline.
func readToEOF(t testing.TB, r *rawConn) []string {
	t.Helper()
	var out []string
	for {
		l, err := r.br.ReadString('\n')
		if l != "" {
			out = append(out, strings.TrimRight(l, "\r\n"))
		}
		if err != nil {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server did not close the connection; read %q", out)
			if !errors.Is(err, io.EOF) {
				t.Logf("read ended with %v", err)
			}
			return out
		}
	}
}

// workingSession checks that the server still serves a full session.
func workingSession(t testing.TB, ts *testServer) {
	t.Helper()
	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	loginRaw(t, r, "agent@interieur.test")
	r.send("w2 SELECT INBOX")
	require.Contains(t, r.until("w2 ")[0], "* ")
	r.send("w3 LOGOUT")
	r.until("w3 ")
	r.c.Close()
}

// waitGoroutines polls runtime.NumGoroutine until it is at most n.
func waitGoroutines(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines remain, baseline %d:\n%s", runtime.NumGoroutine(), n, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventWith waits until an event with action and reason has been published.
func (ts *testServer) eventWith(t testing.TB, action, reason string) *audit.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range ts.events(t) {
			if e.Action == action && e.Reason == reason {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event with reason %q", action, reason)
		}
	}
}
