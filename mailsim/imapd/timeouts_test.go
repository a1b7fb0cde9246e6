package imapd

import (
	"bufio"
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
)

func shortTimeouts(preAuth, idle, handshake time.Duration) connServerOpts {
	return connServerOpts{cfg: func(c *Config) {
		c.PreAuthTimeout, c.IdleTimeout, c.TLSHandshakeTimeout = preAuth, idle, handshake
	}}
}

// logoutReason returns the reason of the session's imap.logout event.
func logoutReason(t *testing.T, ts *testServer, sessionID string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range actions(ts.events(t), audit.IMAPLogout) {
			if e.SessionID == sessionID {
				return e.Reason
			}
		}
	}
	t.Fatalf("no imap.logout for %s", sessionID)
	return ""
}

func sessionOf(t *testing.T, ts *testServer, port int) string {
	t.Helper()
	for _, e := range actions(ts.events(t), audit.IMAPConnect) {
		if e.SourcePort == port {
			return e.SessionID
		}
	}
	t.Fatalf("no imap.connect from port %d", port)
	return ""
}

func localPort(r *rawConn) int {
	_, p := splitAddr(r.c.LocalAddr())
	return p
}

// An unauthenticated connection is told BYE and closed after
// PreAuthTimeout, counted from its acceptance: commands do not extend it.
// The old server closed idle unauthenticated connections silently after
// imapserver's 30 s and never a busy one.
func TestPreAuthTimeout(t *testing.T) {
	ts := startConnServer(t, shortTimeouts(500*time.Millisecond, 0, 0))
	quiet := dialRaw(t, ts.addr)
	require.Contains(t, quiet.line(), "* OK")
	busy := dialRaw(t, ts.addr)
	require.Contains(t, busy.line(), "* OK")
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a client that keeps talking but never logs in
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := busy.c.Write([]byte("n NOOP\r\n")); err != nil {
					return
				}
			}
		}
	}()
	assert.Equal(t, []string{"* BYE Disconnected for inactivity"}, readToEOF(t, quiet))
	lines := readToEOF(t, busy)
	require.NotEmpty(t, lines)
	assert.Equal(t, "* BYE Disconnected for inactivity", lines[len(lines)-1])

	assert.Equal(t, "timeout_preauth", logoutReason(t, ts, sessionOf(t, ts, localPort(quiet))))
	assert.Equal(t, "timeout_preauth", logoutReason(t, ts, sessionOf(t, ts, localPort(busy))))
}

// Once logged in, the pre-authentication timeout no longer applies, even
// when the login completed while the shim was waiting on its deadline.
func TestPreAuthTimeoutEndsAtLogin(t *testing.T) {
	ts := startConnServer(t, shortTimeouts(400*time.Millisecond, 0, 0))
	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	loginRaw(t, r, "agent@interieur.test")
	time.Sleep(800 * time.Millisecond) // twice the pre-authentication timeout
	r.send("a NOOP")
	assert.Equal(t, "a OK NOOP completed", r.until("a ")[0])
}

// An authenticated session that sends nothing, IDLE included, is logged out
// after IdleTimeout with a BYE; the reason reaches imap.logout.
func TestIdleTimeout(t *testing.T) {
	ts := startConnServer(t, shortTimeouts(0, 500*time.Millisecond, 0))
	quiet := dialRaw(t, ts.addr)
	require.Contains(t, quiet.line(), "* OK")
	loginRaw(t, quiet, "agent@interieur.test")
	idling := dialRaw(t, ts.addr)
	require.Contains(t, idling.line(), "* OK")
	loginRaw(t, idling, "director@interieur.test")
	idling.send("s SELECT INBOX")
	idling.until("s ")
	idling.send("i IDLE")
	idling.until("+ ")

	assert.Equal(t, []string{"* BYE Disconnected for inactivity"}, readToEOF(t, quiet))
	assert.Equal(t, []string{"* BYE Disconnected for inactivity"}, readToEOF(t, idling))
	assert.Equal(t, "timeout_idle", logoutReason(t, ts, sessionOf(t, ts, localPort(quiet))))
	assert.Equal(t, "timeout_idle", logoutReason(t, ts, sessionOf(t, ts, localPort(idling))))
}

// Defaults: RFC 9051 §5.4 wants at least 30 minutes of autologout, IDLE
// clients re-issue IDLE every 29 minutes.
func TestTimeoutDefaults(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	cfg := ts.srv.cfg
	assert.Equal(t, DefaultPreAuthTimeout, cfg.PreAuthTimeout)
	assert.GreaterOrEqual(t, cfg.IdleTimeout, 30*time.Minute)
	assert.Equal(t, DefaultTLSHandshakeTimeout, cfg.TLSHandshakeTimeout)
}

// A client that opens the implicit-TLS port and never completes the
// handshake is cut off after TLSHandshakeTimeout with an imap.connect
// failure; the old server waited forever.
func TestTLSHandshakeTimeoutIMAPS(t *testing.T) {
	ts := startConnServer(t, shortTimeouts(0, 0, 300*time.Millisecond))
	silent := dialRaw(t, ts.tlsAddr)
	assert.Empty(t, readToEOF(t, silent))
	e := ts.eventWith(t, audit.IMAPConnect, "timeout_tls_handshake")
	assert.Equal(t, audit.Failure, e.Outcome)
	assert.Equal(t, localPort(silent), e.SourcePort)
	workingSession(t, ts)
}

// Likewise a STARTTLS that never completes: imap.starttls failure and the
// reason on the logout.
func TestTLSHandshakeTimeoutStartTLS(t *testing.T) {
	ts := startConnServer(t, shortTimeouts(0, 0, 300*time.Millisecond))
	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	r.send("t STARTTLS")
	assert.Equal(t, "t OK Begin TLS negotiation now", r.line())
	assert.Empty(t, readToEOF(t, r))
	e := ts.eventWith(t, audit.IMAPStartTLS, "timeout_tls_handshake")
	assert.Equal(t, audit.Failure, e.Outcome)
	assert.Equal(t, "timeout_tls_handshake", logoutReason(t, ts, e.SessionID))

	// A handshake that completes is unaffected.
	ok := dialRaw(t, ts.addr)
	require.Contains(t, ok.line(), "* OK")
	ok.send("t STARTTLS")
	ok.line()
	tc := tls.Client(ok.c, ts.certs.ClientConfig("localhost"))
	require.NoError(t, tc.Handshake())
	r2 := &rawConn{t: t, c: tc, br: bufio.NewReader(tc)}
	loginRaw(t, r2, "agent@interieur.test")
}

// slowBase takes its time to produce one message.
type slowBase struct {
	fakeBase
	uid   uint32
	delay time.Duration
}

func (b slowBase) Message(owner, folder string, uid uint32) (store.BaseMessage, error) {
	if uid == b.uid {
		time.Sleep(b.delay)
	}
	return b.fakeBase.Message(owner, folder, uid)
}

// A client waiting for a command that runs longer than IdleTimeout is not
// inactive: it gets its response, not a BYE.
func TestIdleTimeoutSparesRunningCommand(t *testing.T) {
	ts := startConnServer(t, connServerOpts{
		base: slowBase{fakeBase: fakeBase{counts: map[string]uint32{"INBOX": 10, "Sent": 5}}, uid: 7, delay: 1500 * time.Millisecond},
		cfg:  func(c *Config) { c.IdleTimeout = 300 * time.Millisecond },
	})
	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	loginRaw(t, r, "agent@interieur.test")
	r.send("s SELECT INBOX")
	r.until("s ")
	r.send("f UID FETCH 7 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	lines := r.until("f ")
	assert.Equal(t, "f OK UID FETCH completed", lines[len(lines)-1], "%q", lines)
	// Silence afterwards still ends the session.
	assert.Equal(t, []string{"* BYE Disconnected for inactivity"}, readToEOF(t, r))
}

// slowDir takes its time to check a password.
type slowDir struct{ fakeDir }

func (d slowDir) Authenticate(u, p string) (string, error) {
	time.Sleep(300 * time.Millisecond)
	return d.fakeDir.Authenticate(u, p)
}

// A login completes while the shim already waits for the next command on
// the pre-authentication deadline (a minute by default): that wait must
// switch to IdleTimeout at once, not when the minute is over.
func TestIdleTimeoutStartsAtLogin(t *testing.T) {
	ts := startConnServer(t, connServerOpts{cfg: func(c *Config) {
		c.Directory = slowDir{}
		c.IdleTimeout = 300 * time.Millisecond
	}})
	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	loginRaw(t, r, "agent@interieur.test")
	assert.Equal(t, []string{"* BYE Disconnected for inactivity"}, readToEOF(t, r))
	assert.Equal(t, "timeout_idle", logoutReason(t, ts, sessionOf(t, ts, localPort(r))))
}

// The pre-authentication deadline also bounds a TLS handshake: when it
// comes first it is the reason, and no plaintext BYE is written into the
// handshake.
func TestPreAuthTimeoutDuringHandshake(t *testing.T) {
	ts := startConnServer(t, shortTimeouts(300*time.Millisecond, 0, 0))
	silent := dialRaw(t, ts.tlsAddr)
	assert.Empty(t, readToEOF(t, silent))
	e := ts.eventWith(t, audit.IMAPConnect, "timeout_preauth")
	assert.Equal(t, audit.Failure, e.Outcome)

	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	r.send("t STARTTLS")
	require.Equal(t, "t OK Begin TLS negotiation now", r.line())
	assert.Empty(t, readToEOF(t, r))
	e = ts.eventWith(t, audit.IMAPStartTLS, "timeout_preauth")
	assert.Equal(t, "timeout_preauth", logoutReason(t, ts, e.SessionID))
}

// blockDir holds every authentication until release is closed, telling
// entered when one starts.
type blockDir struct {
	fakeDir
	entered chan struct{}
	release chan struct{}
}

func (d blockDir) Authenticate(u, p string) (string, error) {
	select {
	case d.entered <- struct{}{}:
	default:
	}
	<-d.release
	return d.fakeDir.Authenticate(u, p)
}

// Shutting down does not wait for a command that is still running: the
// connection and its shim end at once, and the session is given up on
// after its grace period, as for any session.
func TestCloseDuringRunningCommand(t *testing.T) {
	dir := blockDir{entered: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(dir.release)
	ts := startConnServer(t, connServerOpts{cfg: func(c *Config) { c.Directory = dir }})
	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	r.send("l1 LOGIN agent@interieur.test secret-agent")
	<-dir.entered // the command runs, held in the directory

	closed := make(chan struct{})
	go func() {
		ts.srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waits for the command to end")
	}
	assert.Empty(t, readToEOF(t, r), "the client's connection is closed")
}
