package smtpd_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/certs"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/smtpd"
)

const (
	domain    = "interieur.test"
	jean      = "jean.dupont@interieur.test"
	jeanPass  = "Marianne-2025"
	marie     = "marie.curie@interieur.test"
	mariePass = "Polonium-84"
	cabinet   = "cabinet@interieur.test" // shared mailbox, jean holds delegation
	outsider  = "contact@exfil.example"
)

var scenarioStart = time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC)

// fakeBackend is an in-memory mail store.
type fakeBackend struct {
	mu        sync.Mutex
	passwords map[string]string   // address -> password
	aliases   map[string]string   // login name -> address
	shared    map[string]bool     // shared mailboxes
	delegates map[string][]string // user -> mailboxes they may send as
	inbox     map[string][][]byte
	failFor   map[string]bool // Deliver fails for these
	block     chan struct{}   // when set, Deliver waits for it to close
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		passwords: map[string]string{jean: jeanPass, marie: mariePass},
		aliases:   map[string]string{"jdupont": jean},
		shared:    map[string]bool{cabinet: true, "postmaster@interieur.test": true},
		delegates: map[string][]string{jean: {cabinet}},
		inbox:     map[string][][]byte{},
		failFor:   map[string]bool{},
	}
}

func (b *fakeBackend) Authenticate(username, password string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	addr := strings.ToLower(username)
	if a, ok := b.aliases[addr]; ok {
		addr = a
	}
	want, ok := b.passwords[addr]
	if !ok {
		return "", fmt.Errorf("fake: %q: %w", username, smtpd.ErrUnknownUser)
	}
	if password != want {
		return "", fmt.Errorf("fake: %q: %w", username, smtpd.ErrInvalidCredentials)
	}
	return addr, nil
}

func (b *fakeBackend) IsLocal(address string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, person := b.passwords[address]
	return person || b.shared[address]
}

func (b *fakeBackend) CanSendAs(user, from string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if user == from {
		return true
	}
	for _, m := range b.delegates[user] {
		if m == from {
			return true
		}
	}
	return false
}

func (b *fakeBackend) Deliver(address string, raw []byte) error {
	b.mu.Lock()
	block := b.block
	b.mu.Unlock()
	if block != nil {
		<-block
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failFor[address] {
		return errors.New("fake: disk full")
	}
	b.inbox[address] = append(b.inbox[address], append([]byte(nil), raw...))
	return nil
}

func (b *fakeBackend) messages(address string) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inbox[address]
}

// harness runs a Server with both listeners on 127.0.0.1:0.
type harness struct {
	t       testing.TB
	srv     *smtpd.Server
	bus     *audit.Bus
	sub     *audit.Subscription
	be      *fakeBackend
	tls     *certs.Bundle
	subAddr string
	mxAddr  string
	serveWG sync.WaitGroup
	// closeErrOK lets a test expect Close to fail.
	closeErrOK bool
}

func testBundle(t testing.TB) *certs.Bundle {
	t.Helper()
	b, err := certs.Generate(t.TempDir(), []string{"smtp.interieur.test"}, time.Now())
	require.NoError(t, err)
	return b
}

// newHarness starts a server; configure adjusts the Config first. Cleanup
// closes it and checks that no goroutine is left behind.
func newHarness(t testing.TB, configure ...func(*smtpd.Config)) *harness {
	t.Helper()
	before := runtime.NumGoroutine()
	h := &harness{t: t, be: newFakeBackend(), tls: testBundle(t)}
	h.bus = audit.NewBus(clock.NewVirtual(scenarioStart), audit.BusOptions{RunID: "test"})
	h.sub = h.bus.Subscribe()
	cfg := smtpd.Config{
		Domain:          domain,
		Hostname:        "smtp." + domain,
		Backend:         h.be,
		Bus:             h.bus,
		TLSConfig:       h.tls.TLSConfig,
		ShutdownTimeout: 2 * time.Second,
	}
	for _, f := range configure {
		f(&cfg)
	}
	var err error
	h.srv, err = smtpd.New(cfg)
	require.NoError(t, err)

	subLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	mxLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h.subAddr, h.mxAddr = subLn.Addr().String(), mxLn.Addr().String()
	for _, serve := range []func() error{
		func() error { return h.srv.ServeSubmission(subLn) },
		func() error { return h.srv.ServeMX(mxLn) },
	} {
		h.serveWG.Add(1)
		go func() {
			defer h.serveWG.Done()
			if err := serve(); !errors.Is(err, smtpd.ErrServerClosed) {
				t.Errorf("serve: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		if err := h.close(); !h.closeErrOK {
			require.NoError(t, err)
		}
		h.sub.Close()
		h.bus.Close()
		assertNoGoroutineLeak(t, before)
	})
	return h
}

func (h *harness) close() error {
	err := h.srv.Close()
	h.serveWG.Wait()
	return err
}

// assertNoGoroutineLeak waits for the goroutine count to fall back to what
// it was before the server started.
func assertNoGoroutineLeak(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutine leak: %d before, %d after close\n%s", before, n, buf)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dial opens a client on addr and greets.
func (h *harness) dial(addr string) *smtp.Client {
	h.t.Helper()
	c, err := smtp.Dial(addr)
	require.NoError(h.t, err)
	require.NoError(h.t, c.Hello("ws-042.interieur.test"))
	h.t.Cleanup(func() { c.Close() })
	return c
}

// dialTLS opens a submission client and upgrades with STARTTLS.
func (h *harness) dialTLS() *smtp.Client {
	h.t.Helper()
	return h.dialTLSAfter(h.subAddr, nil)
}

// dialTLSAfter greets addr in plaintext, runs pre (more plaintext
// commands), upgrades with STARTTLS and returns a go-smtp client on the TLS
// connection, greeted again. (go-smtp's client only starts TLS right after
// connecting, as "localhost".)
func (h *harness) dialTLSAfter(addr string, pre func(tp *textproto.Conn)) *smtp.Client {
	t := h.t
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	tp := textproto.NewConn(conn)
	_, _, err = tp.ReadResponse(220)
	require.NoError(t, err)
	require.NoError(t, tp.PrintfLine("EHLO ws-042.interieur.test"))
	_, _, err = tp.ReadResponse(250)
	require.NoError(t, err)
	if pre != nil {
		pre(tp)
	}
	require.NoError(t, tp.PrintfLine("STARTTLS"))
	_, _, err = tp.ReadResponse(220)
	require.NoError(t, err)
	tc := tls.Client(conn, h.clientTLS())
	require.NoError(t, tc.Handshake())
	c := smtp.NewClient(&greetedConn{Conn: tc, r: io.MultiReader(strings.NewReader("220 resumed\r\n"), tc)})
	require.NoError(t, c.Hello("ws-042.interieur.test"))
	return c
}

// greetedConn replays a greeting before the TLS stream, for smtp.NewClient.
type greetedConn struct {
	net.Conn
	r io.Reader
}

func (g *greetedConn) Read(b []byte) (int, error) { return g.r.Read(b) }

func (h *harness) clientTLS() *tls.Config {
	return h.tls.ClientConfig("smtp.interieur.test")
}

// quit ends a client session politely.
func quit(t testing.TB, c *smtp.Client) {
	t.Helper()
	require.NoError(t, c.Quit())
}

// events reads events until n sessions have disconnected.
func (h *harness) events(n int) []*audit.Event {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*audit.Event
	for n > 0 {
		e, err := h.sub.Next(ctx)
		require.NoError(h.t, err, "waiting for events; got so far:\n%s", strings.Join(summaries(out), "\n"))
		out = append(out, e)
		if e.Action == audit.SMTPDisconnect {
			n--
		}
	}
	return out
}

// summary renders the fields tests compare, compactly.
func summary(e *audit.Event) string {
	var b strings.Builder
	b.WriteString(e.Action)
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	add("outcome", e.Outcome)
	add("reason", e.Reason)
	add("user", e.UserName)
	add("mech", e.AuthMechanism)
	if e.AuthCleartext != nil {
		add("cleartext", fmt.Sprint(*e.AuthCleartext))
	}
	add("from", e.SMTPMailFrom)
	add("rcpt", e.SMTPRcptTo)
	add("domain", e.DestDomain)
	add("dir", e.EmailDirection)
	if e.TLS {
		add("tls", "true")
	}
	return b.String()
}

func summaries(evs []*audit.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = summary(e)
	}
	return out
}

// checkCommon asserts the fields every event carries.
func checkCommon(t testing.TB, evs []*audit.Event, service string) {
	t.Helper()
	for _, e := range evs {
		assert.Equal(t, "smtp", e.ServiceType, summary(e))
		assert.Equal(t, service, e.ServiceName, summary(e))
		assert.True(t, strings.HasPrefix(e.SessionID, "smtp-"), summary(e))
		assert.Equal(t, "127.0.0.1", e.SourceIP, summary(e))
		assert.NotZero(t, e.SourcePort, summary(e))
		assert.NotZero(t, e.DestPort, summary(e))
		assert.Equal(t, scenarioStart, e.Timestamp, summary(e))
		if e.Action != audit.SMTPConnect {
			assert.Equal(t, "ws-042.interieur.test", e.SMTPHelo, summary(e))
		}
	}
}

// countActions counts events per action.
func countActions(evs []*audit.Event) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		m[e.Action]++
	}
	return m
}
