package smtpd_test

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/smtpd"
)

// rawConn speaks SMTP by hand, for transcripts go-smtp's client will not
// produce.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

func (h *harness) raw(addr string) *rawConn {
	h.t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(h.t, err)
	h.t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := &rawConn{t: h.t, conn: conn, tp: textproto.NewConn(conn)}
	r.expect(220)
	return r
}

func (r *rawConn) expect(code int) string {
	r.t.Helper()
	got, msg, err := r.tp.ReadResponse(0)
	require.NoError(r.t, err, "want %d", code)
	require.Equal(r.t, code, got, msg)
	return msg
}

func (r *rawConn) cmd(code int, format string, args ...any) string {
	r.t.Helper()
	require.NoError(r.t, r.tp.PrintfLine(format, args...))
	return r.expect(code)
}

func (r *rawConn) write(s string) {
	r.t.Helper()
	_, err := r.conn.Write([]byte(s))
	require.NoError(r.t, err)
}

// closedByServer asserts the server hangs up (after any final reply).
func (r *rawConn) closedByServer() {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, r.tp.R)
	if errors.Is(err, syscall.ECONNRESET) {
		return // closed with our unread input pending
	}
	require.NoError(r.t, err, "server did not close the connection")
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestRandomBytes(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) {
		c.ReadTimeout = 500 * time.Millisecond
		c.AllowInsecureAuth = true
	})
	rng := rand.New(rand.NewPCG(1, 2))
	fragments := []string{"EHLO x\r\n", "AUTH LOGIN\r\n", "AUTH PLAIN =\r\n", "MAIL FROM:<a@b>\r\n", "RCPT TO:<" + marie + ">\r\n",
		"DATA\r\n", "\r\n.\r\n", "BDAT 10 LAST\r\n", "STARTTLS\r\n", "RSET\r\n", "\x00\xff\r\n", "\r\n"}
	const perPort = 40
	var wg sync.WaitGroup
	for i := range 2 * perPort {
		addr := h.subAddr
		if i%2 == 1 {
			addr = h.mxAddr
		}
		var buf []byte
		for range 1 + rng.IntN(20) {
			if rng.IntN(3) == 0 {
				buf = append(buf, fragments[rng.IntN(len(fragments))]...)
			}
			chunk := make([]byte, rng.IntN(300))
			for j := range chunk {
				chunk[j] = byte(rng.UintN(256))
			}
			buf = append(buf, chunk...)
		}
		hangUp := rng.IntN(2) == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = conn.Write(buf)
			if hangUp {
				return
			}
			_, _ = io.Copy(io.Discard, conn) // until the server gives up on us
		}()
	}
	wg.Wait()

	// The server still works.
	c := h.dial(h.mxAddr)
	require.NoError(t, send(t, c, phisher, []string{marie}, "Subject: still alive\r\n\r\nx\r\n"))
	quit(t, c)

	evs := h.events(2*perPort + 1)
	n := countActions(evs)
	assert.Equal(t, 2*perPort+1, n[audit.SMTPConnect])
	assert.Equal(t, 2*perPort+1, n[audit.SMTPDisconnect])
	seen := map[string]bool{}
	for _, e := range evs {
		if e.Action == audit.SMTPConnect {
			assert.False(t, seen[e.SessionID], "duplicate session id %s", e.SessionID)
			seen[e.SessionID] = true
		}
	}
}

func TestHugeLine(t *testing.T) {
	h := newHarness(t)
	r := h.raw(h.mxAddr)
	r.write("EHLO " + strings.Repeat("a", 100_000) + "\r\n")
	msg := r.expect(500)
	assert.Contains(t, msg, "Too long line")
	r.closedByServer()
	assert.Equal(t, []string{"smtp.connect outcome=success", "smtp.disconnect reason=line_too_long"}, summaries(h.events(1)))
}

func TestHugeBodyLine(t *testing.T) {
	h := newHarness(t)
	r := h.raw(h.mxAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(250, "MAIL FROM:<%s>", phisher)
	r.cmd(250, "RCPT TO:<%s>", marie)
	r.cmd(354, "DATA")
	// The server may hang up before the whole megabyte is written: a
	// reset on our write is the same outcome, judged by the events.
	if _, err := r.conn.Write([]byte("Subject: x\r\n\r\n" + strings.Repeat("A", 1<<20) + "\r\n.\r\n")); err != nil &&
		!errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatal(err)
	}
	_, _, _ = r.tp.ReadResponse(0) // the reply, if the server sends one before hanging up
	r.closedByServer()
	evs := h.events(1)
	d := filter(evs, audit.SMTPData)
	require.Len(t, d, 1, "%s", strings.Join(summaries(evs), "\n"))
	assert.Equal(t, "smtp.data outcome=failure reason=line_too_long from="+phisher, summary(d[0]))
	assert.Empty(t, h.be.messages(marie))
}

func TestAbruptDisconnectMidData(t *testing.T) {
	h := newHarness(t)
	r := h.raw(h.mxAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(250, "MAIL FROM:<%s>", phisher)
	r.cmd(250, "RCPT TO:<%s>", marie)
	r.cmd(354, "DATA")
	r.write("Subject: half\r\n\r\nhalf a mess")
	r.conn.Close()
	evs := h.events(1)
	assert.Equal(t, []string{
		"smtp.connect outcome=success",
		"smtp.mail_from outcome=success from=" + phisher,
		"smtp.rcpt outcome=success from=" + phisher + " rcpt=" + marie + " domain=interieur.test",
		"smtp.data outcome=failure reason=aborted from=" + phisher,
		"smtp.disconnect reason=client_closed",
	}, summaries(evs))
	assert.Empty(t, h.be.messages(marie))
}

func TestAuthAbandoned(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.AllowInsecureAuth = true })
	// Cancelled with "*" after the user name.
	r := h.raw(h.subAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	assert.Equal(t, b64("Username:"), r.cmd(334, "AUTH LOGIN"))
	assert.Equal(t, b64("Password:"), r.cmd(334, "%s", b64(jean)))
	r.cmd(501, "*")
	// Bad base64, then a successful PLAIN exchange without initial response.
	r.cmd(334, "AUTH PLAIN")
	r.cmd(454, "!!!notbase64")
	r.cmd(334, "AUTH PLAIN")
	r.cmd(235, "%s", b64("\x00"+jean+"\x00"+jeanPass))
	r.cmd(503, "AUTH PLAIN") // already authenticated: go-smtp answers alone
	r.cmd(221, "QUIT")
	// Hung up in the middle of LOGIN.
	r2 := h.raw(h.subAddr)
	r2.cmd(250, "EHLO ws-042.interieur.test")
	r2.cmd(334, "AUTH LOGIN %s", b64(marie))
	r2.conn.Close()

	evs := h.events(2)
	auths := filter(evs, audit.SMTPAuth)
	assert.Equal(t, []string{
		"smtp.auth outcome=failure reason=aborted user=" + jean + " mech=LOGIN cleartext=true",
		"smtp.auth outcome=failure reason=malformed mech=PLAIN cleartext=true",
		"smtp.auth outcome=success user=" + jean + " mech=PLAIN cleartext=true",
		"smtp.auth outcome=failure reason=out_of_sequence user=" + jean + " mech=PLAIN",
		"smtp.auth outcome=failure reason=aborted user=" + marie + " mech=LOGIN cleartext=true",
	}, summaries(auths))
}

func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.ReadTimeout = 200 * time.Millisecond })
	start := time.Now()
	r := h.raw(h.subAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	assert.Contains(t, r.expect(421), "timeout")
	r.closedByServer()
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, []string{"smtp.connect outcome=success", "smtp.disconnect reason=timeout_command"}, summaries(h.events(1)))
}

func TestMaxSessionDuration(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.MaxSessionDuration = 300 * time.Millisecond })
	start := time.Now()
	r := h.raw(h.subAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	var err error
	for err == nil && time.Since(start) < 5*time.Second {
		time.Sleep(50 * time.Millisecond)
		if err = r.tp.PrintfLine("NOOP"); err == nil {
			var code int
			code, _, err = r.tp.ReadResponse(0)
			if err == nil && code != 250 {
				err = errors.New("not 250")
			}
		}
	}
	require.Error(t, err, "session outlived MaxSessionDuration")
	assert.Less(t, time.Since(start), 3*time.Second)
	h.events(1)
}

// Each service has its own cap: a flood of MX connections never locks out
// submission. Refusals are 421 4.7.0 and audited.
func TestMaxSessions(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.MaxSessions, c.MaxSubmissionSessions = 2, 1 })
	h.raw(h.mxAddr)
	h.raw(h.mxAddr)
	refused := func(addr string) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		line, err := bufio.NewReader(conn).ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "421 4.7.0 Too many sessions, try again later\r\n", line)
	}
	refused(h.mxAddr)
	// MX is full; submission still answers.
	r := h.raw(h.subAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	refused(h.subAddr)
	require.NoError(t, h.close())
	evs := h.events(5)
	var got []string
	for _, e := range evs {
		if e.Outcome == audit.Failure {
			got = append(got, e.ServiceName+" "+summary(e))
		}
	}
	assert.Equal(t, []string{
		"mx smtp.connect outcome=failure reason=limit_sessions",
		"submission smtp.connect outcome=failure reason=limit_sessions",
	}, got)
	assert.Equal(t, 5, countActions(evs)[audit.SMTPDisconnect])
}

func TestMaxSessionsPerIP(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.MaxSessionsPerIP = 1; c.MaxSubmissionSessionsPerIP = 2 })
	h.raw(h.mxAddr)
	conn, err := net.Dial("tcp", h.mxAddr)
	require.NoError(t, err)
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "421 4.7.0 Too many sessions, try again later\r\n", line)
	// The per-source cap is per service too.
	h.raw(h.subAddr)
	h.raw(h.subAddr).cmd(250, "EHLO ws-042.interieur.test")
	require.NoError(t, h.close())
	evs := h.events(4)
	var reasons []string
	for _, e := range evs {
		if e.Action == audit.SMTPConnect && e.Outcome == audit.Failure {
			reasons = append(reasons, e.Reason)
		}
		if e.Action == audit.SMTPDisconnect && e.Reason == "limit_sessions_per_source" {
			reasons = append(reasons, "disconnect")
		}
	}
	assert.Equal(t, []string{"limit_sessions_per_source", "disconnect"}, reasons)
}

func TestBDATAndPipelining(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.AllowInsecureAuth = true })
	r := h.raw(h.subAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(235, "AUTH PLAIN %s", b64("\x00"+jean+"\x00"+jeanPass))
	body := "Subject: chunked\r\n\r\nhello\r\n"
	r.write("MAIL FROM:<" + jean + ">\r\nRCPT TO:<" + outsider + ">\r\nBDAT 10\r\n" + body[:10])
	r.expect(250)
	r.expect(250)
	r.expect(250)
	r.write("BDAT " + strconv.Itoa(len(body)-10) + " LAST\r\n" + body[10:])
	r.expect(250)
	r.cmd(221, "QUIT")
	evs := h.events(1)
	assert.Equal(t, 1, countActions(evs)[audit.SMTPDeliver])
	require.Equal(t, 1, h.srv.Outbox().Len())
	assert.Equal(t, "chunked", h.srv.Outbox().List()[0].Subject)
}

func TestCloseEndsIdleSessions(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.ShutdownTimeout = 10 * time.Second })
	var rs []*rawConn
	for _, addr := range []string{h.subAddr, h.mxAddr, h.subAddr} {
		r := h.raw(addr)
		r.cmd(250, "EHLO ws-042.interieur.test")
		rs = append(rs, r)
	}
	start := time.Now()
	require.NoError(t, h.close())
	assert.Less(t, time.Since(start), 2*time.Second, "idle sessions must not wait for ShutdownTimeout")
	for _, r := range rs {
		r.expect(421)
		r.closedByServer()
	}
	n := countActions(h.events(3))
	assert.Equal(t, 3, n[audit.SMTPDisconnect])
	_, err := net.DialTimeout("tcp", h.subAddr, time.Second)
	assert.Error(t, err, "listener still open")
}

func TestCloseLetsBusySessionFinish(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.ShutdownTimeout = 5 * time.Second })
	r := h.raw(h.mxAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(250, "MAIL FROM:<%s>", phisher)
	r.cmd(250, "RCPT TO:<%s>", marie)
	r.cmd(354, "DATA")
	r.write("Subject: in flight\r\n\r\nfirst half ")
	time.Sleep(50 * time.Millisecond) // let the server enter Data

	closed := make(chan error, 1)
	go func() { closed <- h.close() }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a message was in flight", err)
	default:
	}
	r.write("second half\r\n.\r\n")
	r.expect(250)
	r.expect(421) // then the server hangs up
	require.NoError(t, <-closed)
	require.Len(t, h.be.messages(marie), 1)
	assert.Contains(t, string(h.be.messages(marie)[0]), "first half second half")
}

func TestCloseCutsOffStuckSession(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) {
		c.ShutdownTimeout = 300 * time.Millisecond
		c.AllowInsecureAuth = true
	})
	r := h.raw(h.subAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(235, "AUTH PLAIN %s", b64("\x00"+jean+"\x00"+jeanPass))
	r.cmd(250, "MAIL FROM:<%s>", jean)
	r.cmd(250, "RCPT TO:<%s>", outsider)
	r.cmd(354, "DATA")
	r.write("Subject: never ends\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	require.NoError(t, h.close())
	assert.Less(t, time.Since(start), 2*time.Second)
	evs := h.events(1)
	d := filter(evs, audit.SMTPData)
	require.Len(t, d, 1)
	assert.Equal(t, "smtp.data outcome=failure reason=aborted user="+jean+" from="+jean, summary(d[0]))
	assert.Equal(t, 0, h.srv.Outbox().Len())
}

func TestServeAfterClose(t *testing.T) {
	h := newHarness(t)
	require.NoError(t, h.close())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	assert.ErrorIs(t, h.srv.ServeSubmission(ln), smtpd.ErrServerClosed)
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	assert.Error(t, err, "listener handed to a closed server must be closed")
}

func TestStartTLSHandshakeFailure(t *testing.T) {
	h := newHarness(t)
	r := h.raw(h.subAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(220, "STARTTLS")
	r.write("this is not a ClientHello\r\n")
	r.closedByServer()
	evs := h.events(1)
	assert.Equal(t, []string{
		"smtp.connect outcome=success",
		"smtp.starttls outcome=failure reason=handshake_failed",
		"smtp.disconnect reason=handshake_failed",
	}, summaries(evs))
}

func TestDataGetsFullReadTimeout(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.ReadTimeout = time.Second })
	r := h.raw(h.mxAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(250, "MAIL FROM:<%s>", phisher)
	r.cmd(250, "RCPT TO:<%s>", marie)
	time.Sleep(700 * time.Millisecond) // idle before DATA: counts against the DATA line only
	r.cmd(354, "DATA")
	r.write("Subject: slow\r\n\r\n")
	time.Sleep(600 * time.Millisecond)
	r.write("body\r\n.\r\n")
	r.expect(250)
	r.cmd(221, "QUIT")
	h.events(1)
	assert.Len(t, h.be.messages(marie), 1)
}

func TestCloseReportsStuckBackend(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.ShutdownTimeout = 200 * time.Millisecond })
	h.closeErrOK = true
	block := make(chan struct{})
	h.be.mu.Lock()
	h.be.block = block
	h.be.mu.Unlock()
	r := h.raw(h.mxAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(250, "MAIL FROM:<%s>", phisher)
	r.cmd(250, "RCPT TO:<%s>", marie)
	r.cmd(354, "DATA")
	r.write("Subject: stuck\r\n\r\nx\r\n.\r\n")
	time.Sleep(100 * time.Millisecond) // now inside Deliver

	start := time.Now()
	err := h.srv.Close()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "smtp-1")
	assert.Less(t, time.Since(start), 2*time.Second)
	close(block) // the session can now end; the cleanup checks nothing leaked
	evs := h.events(1)
	assert.Equal(t, audit.SMTPDisconnect, evs[len(evs)-1].Action)
	require.Error(t, h.close(), "Close keeps reporting its first result")
}
