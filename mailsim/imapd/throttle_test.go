package imapd

import (
	"encoding/base64"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

func throttled(clk clock.Clock, cfg throttle.Config) connServerOpts {
	return connServerOpts{clock: clk, cfg: func(c *Config) { c.Throttle = throttle.New(cfg, clk) }}
}

func plainResp(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// After MaxFailuresPerSource failures the source's LOGIN and AUTHENTICATE
// are refused with NO [UNAVAILABLE], right password or not, until the
// window has passed (scenario time on the virtual clock).
func TestThrottleSource(t *testing.T) {
	clk := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	ts := startConnServer(t, throttled(clk, throttle.Config{MaxFailuresPerSource: 2, Window: 10 * time.Minute}))
	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	r.send("a1 LOGIN agent@interieur.test wrong")
	assert.Contains(t, r.until("a1 ")[0], "a1 NO [AUTHENTICATIONFAILED]")
	r.send("a2 LOGIN director@interieur.test wrong")
	assert.Contains(t, r.until("a2 ")[0], "a2 NO [AUTHENTICATIONFAILED]")
	r.send("a3 LOGIN agent@interieur.test secret-agent")
	assert.Contains(t, r.until("a3 ")[0], "a3 NO [UNAVAILABLE]")
	r.send("a4 AUTHENTICATE PLAIN " + plainResp("agent@interieur.test", "secret-agent"))
	assert.Contains(t, r.until("a4 ")[0], "a4 NO [UNAVAILABLE]")

	require.NoError(t, clk.Advance(11*time.Minute))
	r.send("a5 LOGIN agent@interieur.test secret-agent")
	assert.Contains(t, r.until("a5 ")[0], "a5 OK")

	logins := actions(ts.events(t), audit.IMAPLogin)
	require.Len(t, logins, 5)
	want := []string{"invalid_credentials", "invalid_credentials", "throttled_source", "throttled_source", ""}
	for i, e := range logins {
		assert.Equal(t, want[i], e.Reason, "login %d", i)
	}
	assert.Equal(t, "AUTHENTICATE", logins[3].Command)
	assert.Equal(t, audit.Success, logins[4].Outcome)
}

// Per-account: failures on one account from any source lock that account,
// not the others.
func TestThrottleAccount(t *testing.T) {
	clk := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	ts := startConnServer(t, throttled(clk, throttle.Config{MaxFailuresPerAccount: 2}))
	for i := 0; i < 2; i++ {
		r := dialRaw(t, ts.addr)
		require.Contains(t, r.line(), "* OK")
		r.send("a LOGIN Director@interieur.test guess")
		assert.Contains(t, r.until("a ")[0], "a NO [AUTHENTICATIONFAILED]")
	}
	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	r.send("b LOGIN director@interieur.test secret-director")
	assert.Contains(t, r.until("b ")[0], "b NO [UNAVAILABLE]")
	loginRaw(t, r, "agent@interieur.test")

	e := ts.eventWith(t, audit.IMAPLogin, "throttled_account")
	assert.Equal(t, "director@interieur.test", e.UserName)
	assert.Equal(t, audit.Failure, e.Outcome)
}

// Off by default: no limiter, any number of failures.
func TestThrottleOffByDefault(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	assert.Nil(t, ts.srv.cfg.Throttle)
	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	for i := 0; i < 20; i++ {
		r.send("a LOGIN agent@interieur.test wrong")
		assert.Contains(t, r.until("a ")[0], "a NO [AUTHENTICATIONFAILED]")
	}
	loginRaw(t, r, "agent@interieur.test")
}

// The failure delay holds the failure reply back (the audit event is
// stamped at the attempt); a client that hangs up during the delay ends its
// session at once, leaving no goroutine waiting out the delay.
func TestThrottleFailureDelay(t *testing.T) {
	clk := clock.Real{}
	ts := startConnServer(t, throttled(clk, throttle.Config{FailureDelay: time.Hour}))
	workingSession(t, ts)
	ts.events(t)
	base := runtime.NumGoroutine()

	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	r.send("a LOGIN agent@interieur.test wrong")
	e := ts.eventWith(t, audit.IMAPLogin, "invalid_credentials")
	assert.Equal(t, audit.Failure, e.Outcome)
	// The reply is an hour away.
	r.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := r.br.ReadString('\n')
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "got a reply during the failure delay")

	r.c.(*net.TCPConn).SetLinger(0)
	r.c.Close()
	logoutReason(t, ts, e.SessionID)
	waitGoroutines(t, base)
	workingSession(t, ts)
}
