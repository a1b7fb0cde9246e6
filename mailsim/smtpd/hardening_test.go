package smtpd_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/smtpd"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

// failures lists the failure events as "action reason".
func failures(evs []*audit.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Outcome == audit.Failure {
			out = append(out, e.Action+" "+e.Reason)
		}
	}
	return out
}

// Refusals go-smtp answers without calling the session are audited, in
// plaintext and over TLS.
func TestGoSMTPRefusalsAudited(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.MaxRecipients = 1; c.MaxMessageBytes = 1000 })
	r := h.raw(h.mxAddr)
	r.cmd(502, "MAIL FROM:<%s>", phisher) // before EHLO
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(501, "MAIL FROM:<%s> SIZE=99999999999", phisher)
	r.cmd(552, "MAIL FROM:<%s> SIZE=1001", phisher)
	r.cmd(501, "MAIL FROM %s", phisher)
	r.cmd(502, "RCPT TO:<%s>", marie) // before MAIL
	r.cmd(502, "DATA")
	r.cmd(250, "MAIL FROM:<%s> SIZE=1000", phisher)
	r.cmd(250, "RCPT TO:<%s>", marie)
	r.cmd(452, "RCPT TO:<%s>", cabinet) // over MaxRecipients
	r.cmd(502, "HELP")
	r.cmd(252, "VRFY marie.durand") // answered by go-smtp, verifying nothing: user enumeration
	r.cmd(502, "EXPN direction")
	r.cmd(502, "AUTH PLAIN") // MX: no AUTH session
	r.cmd(221, "QUIT")

	s := h.raw(h.subAddr)
	s.cmd(250, "EHLO ws-042.interieur.test")
	s.cmd(500, "XYZZ")
	s.cmd(502, "AUTH")
	s.cmd(220, "STARTTLS")
	tc := tls.Client(s.conn, h.clientTLS())
	require.NoError(t, tc.Handshake())
	s.tp.Reader.R = bufio.NewReader(tc)
	s.tp.Writer.W = bufio.NewWriter(tc)
	s.cmd(250, "EHLO ws-042.interieur.test")
	s.cmd(454, "AUTH PLAIN !!!notbase64")
	s.cmd(502, "STARTTLS")
	s.cmd(221, "QUIT")

	evs := h.events(2)
	var mx, sub []*audit.Event
	for _, e := range evs {
		if e.ServiceName == smtpd.ServiceMX {
			mx = append(mx, e)
		} else {
			sub = append(sub, e)
		}
	}
	assert.Equal(t, []string{
		"smtp.command out_of_sequence",
		"smtp.mail_from bad_size",
		"smtp.mail_from message_too_large",
		"smtp.mail_from syntax_error",
		"smtp.rcpt out_of_sequence",
		"smtp.data out_of_sequence",
		"smtp.rcpt limit_recipients",
		"smtp.command not_implemented",
		"smtp.command not_implemented",
		"smtp.command not_implemented",
		"smtp.auth unknown_mechanism",
	}, failures(mx))
	var verbs []string
	for _, e := range filter(append(mx, sub...), audit.SMTPCommand) {
		verbs = append(verbs, e.SMTPVerb)
	}
	assert.Equal(t, []string{"", "HELP", "VRFY", "EXPN", "XYZZ"}, verbs, "the command, where the reply names it")
	assert.Equal(t, []string{
		"smtp.command unknown_command",
		"smtp.auth syntax_error",
		"smtp.auth malformed",
		"smtp.starttls out_of_sequence",
	}, failures(sub))
	for _, e := range sub[len(sub)-4:] {
		assert.True(t, e.TLS, summary(e))
	}
	// An initial response that is not base64 is refused before the session
	// hears of it: the mechanism comes from the command line.
	auths := filter(sub, audit.SMTPAuth)
	require.Len(t, auths, 2)
	assert.Equal(t, "", auths[0].AuthMechanism, "AUTH without a mechanism")
	assert.Equal(t, "PLAIN", auths[1].AuthMechanism)
	assert.Equal(t, "smtp.disconnect reason=client_quit", summary(mx[len(mx)-1]))
}

// The header From: is recorded, and mail from outside claiming a local
// sender (envelope or header) is flagged.
func TestHeaderFromAndSpoofedLocalSender(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.LocalDomains = []string{"prefecture.test"} })
	msg := func(from string) string {
		return "From: \"Jean Dupont\" <" + from + ">\r\nSubject: Virement urgent\r\n\r\nMerci.\r\n"
	}
	c := h.dial(h.mxAddr)
	require.NoError(t, send(t, c, phisher, []string{marie}, msg(phisher)))                       // honest outsider
	require.NoError(t, send(t, c, phisher, []string{marie}, msg("Jean.Dupont@Interieur.test")))  // header spoof
	require.NoError(t, send(t, c, "dg@prefecture.test", []string{marie}, msg("dg@example.org"))) // envelope spoof
	quit(t, c)
	s := h.dialTLS()
	require.NoError(t, s.Auth(plainAuth(jean, jeanPass)))
	require.NoError(t, send(t, s, jean, []string{outsider}, msg(marie))) // submission: recorded, not flagged
	quit(t, s)

	evs := h.events(2)
	var got []string
	for _, e := range filter(evs, audit.SMTPData) {
		flag := "-"
		if e.SMTPSpoofedLocalSender != nil {
			flag = fmt.Sprint(*e.SMTPSpoofedLocalSender)
		}
		got = append(got, e.ServiceName+" "+e.SMTPMailFrom+" "+e.EmailFrom+" "+flag)
	}
	assert.Equal(t, []string{
		"mx " + phisher + " " + phisher + " -",
		"mx " + phisher + " " + jean + " true",
		"mx dg@prefecture.test dg@example.org true",
		"submission " + jean + " " + marie + " -",
	}, got)
	for _, e := range filter(evs, audit.SMTPDeliver) {
		assert.NotEmpty(t, e.EmailFrom, summary(e))
	}
	v, ok := filter(evs, audit.SMTPData)[1].Field("smtp.spoofed_local_sender")
	assert.True(t, ok)
	assert.Equal(t, true, v)
}

// A BDAT LAST chunk cut short by the client's hang-up is not delivered.
func TestBDATShortLastChunk(t *testing.T) {
	h := newHarness(t)
	r := h.raw(h.mxAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(250, "MAIL FROM:<%s>", phisher)
	r.cmd(250, "RCPT TO:<%s>", marie)
	r.write("BDAT 10\r\nSubject: x")
	r.expect(250)
	r.write("BDAT 100 LAST\r\n\r\nonly twenty bytes\r\n")
	require.NoError(t, r.conn.(*net.TCPConn).CloseWrite())
	assert.Contains(t, r.expect(554), "truncated")
	r.closedByServer()

	evs := h.events(1)
	assert.Equal(t, []string{"smtp.data truncated"}, failures(evs))
	assert.Zero(t, countActions(evs)[audit.SMTPDeliver])
	assert.Empty(t, h.be.messages(marie))
	assert.Equal(t, "client_closed", evs[len(evs)-1].Reason)
}

// Over TLS, a client may end its stream with close_notify, which only the
// TLS layer sees: the short chunk is still refused (go-smtp's own reads are
// followed to know where the chunk ends).
func TestBDATShortLastChunkTLS(t *testing.T) {
	h := newHarness(t)
	r := h.raw(h.mxAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(220, "STARTTLS")
	tc := tls.Client(r.conn, h.clientTLS())
	require.NoError(t, tc.Handshake())
	r.tp.Reader.R = bufio.NewReader(tc)
	r.tp.Writer.W = bufio.NewWriter(tc)
	r.cmd(250, "EHLO ws-042.interieur.test")
	// Pipelined: a complete first chunk, then a LAST one announcing 100
	// bytes and carrying 21.
	_, err := tc.Write([]byte("MAIL FROM:<" + phisher + ">\r\nRCPT TO:<" + marie + ">\r\n" +
		"BDAT 9\r\nSubject: " + "BDAT 100 LAST\r\n" + "x\r\n\r\nonly twenty bytes"))
	require.NoError(t, err)
	r.expect(250)
	r.expect(250)
	r.expect(250)
	require.NoError(t, tc.CloseWrite()) // close_notify; TCP stays open
	assert.Contains(t, r.expect(554), "truncated")
	r.conn.Close()

	evs := h.events(1)
	assert.Equal(t, []string{"smtp.data truncated"}, failures(evs))
	assert.Empty(t, h.be.messages(marie))

	// The same chunks complete, then close_notify: delivered.
	r = h.raw(h.mxAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(220, "STARTTLS")
	tc = tls.Client(r.conn, h.clientTLS())
	require.NoError(t, tc.Handshake())
	r.tp.Reader.R = bufio.NewReader(tc)
	r.tp.Writer.W = bufio.NewWriter(tc)
	r.cmd(250, "EHLO ws-042.interieur.test")
	_, err = tc.Write([]byte("MAIL FROM:<" + phisher + ">\r\nRCPT TO:<" + marie + ">\r\n" +
		"BDAT 9\r\nSubject: " + "BDAT 6 LAST\r\n" + "x\r\n\r\nz"))
	require.NoError(t, err)
	r.expect(250)
	r.expect(250)
	r.expect(250)
	require.NoError(t, tc.CloseWrite())
	r.expect(250)
	r.conn.Close()
	h.events(1)
	require.Len(t, h.be.messages(marie), 1)
	assert.Contains(t, string(h.be.messages(marie)[0]), "Subject: x\r\n\r\nz")
}

// nestedMultipart is a message nested depth multiparts deep.
func nestedMultipart(depth int) string {
	var b strings.Builder
	b.WriteString("From: <" + phisher + ">\r\nSubject: deep\r\nMIME-Version: 1.0\r\n")
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nx\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.String()
}

// nestedRFC822 is a message with depth attached messages inside one another.
func nestedRFC822(depth int) string {
	var b strings.Builder
	for range depth {
		b.WriteString("Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("Subject: inner\r\n\r\nx\r\n")
	return b.String()
}

// A deeply nested message on the unauthenticated MX is refused with 552 and
// audited, and its parse does bounded work.
func TestDeepMIMERefused(t *testing.T) {
	deep := nestedMultipart(5000) // about 190 KB
	h := newHarness(t)
	c := h.dial(h.mxAddr)
	err := send(t, c, phisher, []string{marie}, deep)
	assert.Equal(t, 552, smtpCode(err), "%v", err)
	err = send(t, c, phisher, []string{marie}, nestedRFC822(3000))
	assert.Equal(t, 552, smtpCode(err), "%v", err)
	err = send(t, c, phisher, []string{marie}, nestedMultipart(smtpd.DefaultMaxMIMEDepth))
	require.NoError(t, err, "a message at the depth limit is accepted")
	quit(t, c)
	evs := h.events(1)
	assert.Equal(t, []string{"smtp.data limit_mime_depth", "smtp.data limit_mime_depth"}, failures(evs))
	assert.Len(t, h.be.messages(marie), 1)

	// Work: past the limit, the parse stops; 5000 levels cost what 100 do.
	allocs := func(raw string) float64 {
		return testing.AllocsPerRun(3, func() {
			_, err := smtpd.ParseMessageLimits([]byte(raw), smtpd.DefaultMaxMIMEDepth, smtpd.DefaultMaxMIMEParts)
			require.ErrorIs(t, err, smtpd.ErrMIMETooDeep)
		})
	}
	small, big := allocs(nestedMultipart(100)), allocs(deep)
	assert.LessOrEqual(t, big, small*1.1+10, "allocations grow with depth past the limit: %v vs %v", big, small)
	_, err = smtpd.ParseMessageLimits([]byte(nestedRFC822(3000)), 50, 1000)
	assert.ErrorIs(t, err, smtpd.ErrMIMETooDeep)
}

func TestManyMIMEPartsRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: parts\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n")
	for range 3000 {
		b.WriteString("--x\r\nContent-Type: application/octet-stream\r\n\r\nA\r\n")
	}
	b.WriteString("--x--\r\n")
	info, err := smtpd.ParseMessageLimits([]byte(b.String()), 50, 1000)
	require.ErrorIs(t, err, smtpd.ErrMIMETooManyParts)
	assert.Equal(t, 999, info.AttachmentCount) // the root is one of the 1000

	h := newHarness(t)
	c := h.dial(h.mxAddr)
	err = send(t, c, phisher, []string{marie}, b.String())
	assert.Equal(t, 552, smtpCode(err), "%v", err)
	quit(t, c)
	assert.Equal(t, []string{"smtp.data limit_mime_parts"}, failures(h.events(1)))
	assert.Empty(t, h.be.messages(marie))
}

// flakyListener fails its first Accepts with transient errors.
type flakyListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// The accept loop survives transient errors, however they are wrapped.
func TestAcceptRetriesTransientErrors(t *testing.T) {
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fl := &flakyListener{Listener: ln, errs: []error{
		&net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept", syscall.EMFILE)},
		fmt.Errorf("accept: %w", syscall.ENFILE),
		syscall.ECONNABORTED,
		fmt.Errorf("accept: %w", syscall.EMFILE),
	}}
	done := make(chan error, 1)
	go func() { done <- h.srv.ServeMX(fl) }()
	r := h.raw(ln.Addr().String())
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(221, "QUIT")
	h.events(1)

	require.NoError(t, h.close())
	assert.ErrorIs(t, <-done, smtpd.ErrServerClosed)

	// A permanent error ends Serve.
	h2 := newHarness(t)
	boom := errors.New("boom")
	err = h2.srv.ServeMX(&flakyListener{Listener: ln, errs: []error{boom}})
	assert.ErrorIs(t, err, boom)
}

// A client stalling inside DATA gets 421 4.4.2 after DataTimeout.
func TestDataTimeout(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.DataTimeout = 300 * time.Millisecond })
	r := h.raw(h.mxAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(250, "MAIL FROM:<%s>", phisher)
	r.cmd(250, "RCPT TO:<%s>", marie)
	r.cmd(354, "DATA")
	r.write("Subject: stall\r\n\r\n")
	msg := r.expect(421)
	assert.Contains(t, msg, "4.4.2")
	assert.Contains(t, msg, "imeout")
	r.closedByServer()
	evs := h.events(1)
	assert.Equal(t, []string{"smtp.data timeout_data"}, failures(evs))
	assert.Equal(t, "timeout_data", evs[len(evs)-1].Reason)
	assert.Empty(t, h.be.messages(marie))
}

// A STARTTLS handshake that never comes ends after TLSHandshakeTimeout.
func TestTLSHandshakeTimeout(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.TLSHandshakeTimeout = 300 * time.Millisecond })
	r := h.raw(h.subAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(220, "STARTTLS")
	r.closedByServer()
	evs := h.events(1)
	assert.Equal(t, []string{"smtp.starttls timeout_tls_handshake"}, failures(evs))
	assert.Equal(t, "timeout_tls_handshake", evs[len(evs)-1].Reason)
}

// Throttling: the failure delay is recorded; past the per-source limit,
// attempts are refused with 454 without checking the password.
func TestAuthThrottle(t *testing.T) {
	vc := clock.NewVirtual(scenarioStart)
	lim := throttle.New(throttle.Config{FailureDelay: 2 * time.Second, MaxFailuresPerSource: 2}, vc)
	h := newHarness(t, func(c *smtpd.Config) { c.Throttle = lim; c.Clock = vc })
	c := h.dialTLS()
	for range 2 {
		err := c.Auth(plainAuth(jean, "guess"))
		assert.Equal(t, 535, smtpCode(err), "%v", err)
	}
	err := c.Auth(plainAuth(jean, jeanPass))
	assert.Equal(t, 454, smtpCode(err), "%v", err)
	quit(t, c)
	auths := filter(h.events(1), audit.SMTPAuth)
	require.Len(t, auths, 3)
	assert.Equal(t, "invalid_credentials", auths[0].Reason)
	assert.Equal(t, 2*time.Second, auths[0].Duration)
	assert.Equal(t, 2*time.Second, auths[1].Duration)
	assert.Equal(t, throttle.ReasonSourceLocked, auths[2].Reason)
	assert.Equal(t, audit.Failure, auths[2].Outcome)
}

// Every connection ends with one smtp.disconnect naming why, whatever state
// the client vanishes in, and leaves no goroutine behind.
func TestDisconnectAccounting(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.AllowInsecureAuth = true })
	before := runtime.NumGoroutine()
	reset := func(conn net.Conn) {
		_ = conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
		conn.Close()
	}
	// Before reading the greeting.
	conn, err := net.Dial("tcp", h.mxAddr)
	require.NoError(t, err)
	reset(conn)
	// During the STARTTLS handshake.
	r := h.raw(h.subAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(220, "STARTTLS")
	r.write("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") // start of a ClientHello
	time.Sleep(50 * time.Millisecond)
	reset(r.conn)
	// After AUTH.
	r = h.raw(h.subAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(235, "AUTH PLAIN %s", b64("\x00"+jean+"\x00"+jeanPass))
	reset(r.conn)
	// Inside DATA.
	r = h.raw(h.mxAddr)
	r.cmd(250, "EHLO ws-042.interieur.test")
	r.cmd(250, "MAIL FROM:<%s>", phisher)
	r.cmd(250, "RCPT TO:<%s>", marie)
	r.cmd(354, "DATA")
	r.write("Subject: cut\r\n\r\nhalf")
	reset(r.conn)
	// After QUIT (once answered: a reset that overtakes the command would
	// discard it unread).
	r = h.raw(h.mxAddr)
	r.cmd(221, "QUIT")
	reset(r.conn)

	evs := h.events(5)
	connects, disconnects := map[string]int{}, map[string]string{}
	for _, e := range evs {
		switch e.Action {
		case audit.SMTPConnect:
			connects[e.SessionID]++
		case audit.SMTPDisconnect:
			_, dup := disconnects[e.SessionID]
			assert.False(t, dup, "two disconnects for %s", e.SessionID)
			disconnects[e.SessionID] = e.Reason
		}
	}
	assert.Len(t, connects, 5)
	var reasons []string
	for id := range connects {
		require.Contains(t, disconnects, id)
		reasons = append(reasons, disconnects[id])
	}
	assert.ElementsMatch(t, []string{"client_closed", "client_closed", "client_closed", "client_closed", "client_quit"}, reasons)
	// Sessions end on their own goroutines: the two failures may be
	// published in either order.
	assert.ElementsMatch(t, []string{"smtp.starttls handshake_failed", "smtp.data aborted"}, failures(evs))
	// Every session goroutine is gone, before Close.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before)
}

func plainAuth(user, pass string) sasl.Client { return sasl.NewPlainClient("", user, pass) }
