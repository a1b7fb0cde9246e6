package mailsim_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/admin"
	"github.com/stretchr/testify/require"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/mailsimtest"
)

// faultEnv is what a state's setup needs.
type faultEnv struct {
	srv              *mailsim.Server
	user, pass, rcpt string
	// okHook, when set, is told of each successful login ("imap.login",
	// "smtp.auth") and of each login whose outcome the client could not
	// read ("uncertain"), so that the soak can count the events to expect.
	okHook func(what string)
}

func (e *faultEnv) ok(what string) {
	if e.okHook != nil {
		e.okHook(what)
	}
}

// faultState is a protocol state of a listener a client can be cut off in.
type faultState struct {
	listener string
	state    string
	setup    func(e *faultEnv) (*rawConn, error)
}

func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// imapReady connects to an IMAP listener and brings the connection to the
// not-authenticated state: TLS (implicit or STARTTLS) as asked, greeting read.
func imapReady(e *faultEnv, implicitTLS, startTLS bool) (*rawConn, error) {
	addr := e.srv.IMAPAddr
	if implicitTLS {
		addr = e.srv.IMAPSAddr
	}
	c, err := dialRaw(addr)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*rawConn, error) { c.finish(); return nil, err }
	if implicitTLS {
		if err := c.handshake(e.srv.Certs.ClientConfig("localhost")); err != nil {
			return fail(err)
		}
	}
	if l, err := c.line(); err != nil || !strings.HasPrefix(l, "* OK") {
		return fail(fmt.Errorf("greeting %q: %v", l, err))
	}
	if startTLS {
		if err := c.imapCmd("s1", "STARTTLS"); err != nil {
			return fail(err)
		}
		if err := c.handshake(e.srv.Certs.ClientConfig("localhost")); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// imapStates lists the states of one IMAP listener flavour.
func imapStates(listener string, implicitTLS, startTLS bool) []faultState {
	ready := func(e *faultEnv) (*rawConn, error) { return imapReady(e, implicitTLS, startTLS) }
	steps := func(more ...func(c *rawConn, e *faultEnv) error) func(e *faultEnv) (*rawConn, error) {
		return func(e *faultEnv) (*rawConn, error) {
			c, err := ready(e)
			if err != nil {
				return nil, err
			}
			for _, step := range more {
				if err := step(c, e); err != nil {
					c.finish()
					return nil, err
				}
			}
			return c, nil
		}
	}
	login := func(c *rawConn, e *faultEnv) error {
		err := c.imapCmd("a1", "LOGIN "+imapQuote(e.user)+" "+imapQuote(e.pass))
		if err == nil {
			e.ok("imap.login")
		} else {
			e.ok("uncertain")
		}
		return err
	}
	sel := func(c *rawConn, e *faultEnv) error { return c.imapCmd("a2", "SELECT INBOX") }
	var out []faultState
	switch {
	case implicitTLS:
		out = append(out,
			faultState{listener, "pre-greeting", func(e *faultEnv) (*rawConn, error) { return dialRaw(e.srv.IMAPSAddr) }},
			faultState{listener, "tls-handshake", func(e *faultEnv) (*rawConn, error) {
				c, err := dialRaw(e.srv.IMAPSAddr)
				if err == nil {
					err = c.send(partialClientHello)
				}
				return c, err
			}})
	case startTLS:
		out = append(out, faultState{listener, "tls-handshake", func(e *faultEnv) (*rawConn, error) {
			c, err := imapReady(e, false, false)
			if err != nil {
				return nil, err
			}
			if err := c.imapCmd("s1", "STARTTLS"); err != nil {
				c.finish()
				return nil, err
			}
			return c, c.send(partialClientHello)
		}})
	default:
		out = append(out, faultState{listener, "pre-greeting", func(e *faultEnv) (*rawConn, error) { return dialRaw(e.srv.IMAPAddr) }})
	}
	return append(out,
		faultState{listener, "pre-auth", steps(func(c *rawConn, e *faultEnv) error { return c.imapCmd("a0", "CAPABILITY") })},
		faultState{listener, "post-auth", steps(login, sel)},
		faultState{listener, "append-literal", steps(login, func(c *rawConn, e *faultEnv) error {
			if err := c.send("a3 APPEND INBOX {200}\r\n"); err != nil {
				return err
			}
			if err := c.imapContinuation(); err != nil {
				return err
			}
			return c.send("Subject: cut off\r\n\r\n") // 20 of the 200 bytes
		})},
		faultState{listener, "fetch-literal", steps(login, sel, func(c *rawConn, e *faultEnv) error {
			if err := c.send("a4 FETCH 1:* BODY.PEEK[]\r\n"); err != nil {
				return err
			}
			l, err := c.line()
			if err == nil && !strings.HasPrefix(l, "* 1 FETCH") {
				err = fmt.Errorf("fetch: %q", l)
			}
			return err
		})},
		faultState{listener, "after-logout", steps(login, func(c *rawConn, e *faultEnv) error { return c.imapCmd("a9", "LOGOUT") })},
	)
}

// smtpReady connects to an SMTP listener, reads the greeting and says EHLO
// (after STARTTLS, if asked).
func smtpReady(addr string, e *faultEnv, startTLS bool) (*rawConn, error) {
	c, err := dialRaw(addr)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*rawConn, error) { c.finish(); return nil, err }
	if err := c.smtpReply(220); err != nil {
		return fail(fmt.Errorf("greeting: %w", err))
	}
	if err := c.smtpCmd("EHLO client.example.org", 250); err != nil {
		return fail(err)
	}
	if startTLS {
		if err := c.smtpCmd("STARTTLS", 220); err != nil {
			return fail(err)
		}
		if err := c.handshake(e.srv.Certs.ClientConfig("localhost")); err != nil {
			return fail(err)
		}
		if err := c.smtpCmd("EHLO client.example.org", 250); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

func smtpStates(listener string, mx, startTLS bool) []faultState {
	addr := func(e *faultEnv) string {
		if mx {
			return e.srv.MXAddr
		}
		return e.srv.SubmissionAddr
	}
	steps := func(cmds ...func(e *faultEnv) (string, int)) func(e *faultEnv) (*rawConn, error) {
		return func(e *faultEnv) (*rawConn, error) {
			c, err := smtpReady(addr(e), e, startTLS)
			if err != nil {
				return nil, err
			}
			for _, cmd := range cmds {
				line, code := cmd(e)
				if err := c.smtpCmd(line, code); err != nil {
					if strings.HasPrefix(line, "AUTH ") {
						e.ok("uncertain")
					}
					c.finish()
					return nil, err
				}
				if strings.HasPrefix(line, "AUTH ") {
					e.ok("smtp.auth")
				}
			}
			return c, nil
		}
	}
	auth := func(e *faultEnv) (string, int) { return "AUTH PLAIN " + plainAuth(e.user, e.pass), 235 }
	from := func(e *faultEnv) (string, int) {
		if mx {
			return "MAIL FROM:<contact@partner.example.org>", 250
		}
		return "MAIL FROM:<" + e.user + ">", 250
	}
	rcpt := func(e *faultEnv) (string, int) { return "RCPT TO:<" + e.rcpt + ">", 250 }
	data := func(e *faultEnv) (string, int) { return "DATA", 354 }
	quit := func(e *faultEnv) (string, int) { return "QUIT", 221 }
	var envelope []func(e *faultEnv) (string, int)
	if !mx {
		envelope = append(envelope, auth)
	}
	envelope = append(envelope, from, rcpt, data)

	var out []faultState
	if startTLS || mx {
		out = append(out, faultState{listener, "tls-handshake", func(e *faultEnv) (*rawConn, error) {
			c, err := smtpReady(addr(e), e, false)
			if err != nil {
				return nil, err
			}
			if err := c.smtpCmd("STARTTLS", 220); err != nil {
				c.finish()
				return nil, err
			}
			return c, c.send(partialClientHello)
		}})
	}
	if !startTLS {
		out = append(out, faultState{listener, "pre-greeting", func(e *faultEnv) (*rawConn, error) { return dialRaw(addr(e)) }})
	}
	out = append(out, faultState{listener, "pre-auth", steps()})
	if mx {
		out = append(out, faultState{listener, "after-rcpt", steps(from, rcpt)})
	} else {
		out = append(out, faultState{listener, "post-auth", steps(auth)})
	}
	dataState := steps(envelope...)
	return append(out,
		faultState{listener, "in-data", func(e *faultEnv) (*rawConn, error) {
			c, err := dataState(e)
			if err != nil {
				return nil, err
			}
			return c, c.send("Subject: cut off\r\n\r\nhalf a mes")
		}},
		faultState{listener, "after-quit", steps(quit)},
	)
}

func adminStates() []faultState {
	withRequest := func(req string, then func(c *rawConn) error) func(e *faultEnv) (*rawConn, error) {
		return func(e *faultEnv) (*rawConn, error) {
			c, err := dialRaw(e.srv.AdminAddr)
			if err != nil {
				return nil, err
			}
			if err := c.send(strings.ReplaceAll(req, "{token}", e.srv.AdminToken)); err != nil {
				c.finish()
				return nil, err
			}
			if then != nil {
				if err := then(c); err != nil {
					c.finish()
					return nil, err
				}
			}
			return c, nil
		}
	}
	return []faultState{
		{"admin", "pre-request", func(e *faultEnv) (*rawConn, error) { return dialRaw(e.srv.AdminAddr) }},
		{"admin", "in-headers", withRequest("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", nil)},
		{"admin", "event-stream", withRequest("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n", func(c *rawConn) error {
			l, err := c.line()
			if err == nil && !strings.Contains(l, " 200 ") {
				err = fmt.Errorf("events: %q", l)
			}
			return err
		})},
		{"admin", "keep-alive-idle", withRequest("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", func(c *rawConn) error {
			resp, err := http.ReadResponse(c.r, nil)
			if err != nil {
				return err
			}
			_, err = bufio.NewReader(resp.Body).WriteTo(discard{})
			resp.Body.Close()
			return err
		})},
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func allFaultStates() []faultState {
	var s []faultState
	s = append(s, imapStates("imap", false, false)...)
	s = append(s, imapStates("imap+starttls", false, true)...)
	s = append(s, imapStates("imaps", true, false)...)
	s = append(s, smtpStates("submission", false, false)...)
	s = append(s, smtpStates("submission+starttls", false, true)...)
	s = append(s, smtpStates("mx", true, false)...)
	return append(s, adminStates()...)
}

// Problem kinds of a fault case, as letters in the summary matrix.
const (
	probSetup     = "S" // the harness could not bring the connection to the state
	probHalfClose = "H" // the server kept a half-closed connection open
	probServe     = "A" // a listener did not serve a complete new session
	probBystander = "B" // another client's session was disturbed
	probLeak      = "G" // goroutines did not return to the baseline
	probUnpaired  = "U" // a connect event without its end event (or events after it)
	probReason    = "R" // an end event without event.reason
)

type faultResult struct {
	name     string
	kinds    map[string]bool
	problems []string
}

// TestFaultInjection cuts a client off in every protocol state of every
// listener, with every fault, over real TCP. After each case every listener
// still serves a complete session, an unrelated session is undisturbed, no
// goroutine remains and the audit trail pairs every connect with an end
// event carrying its reason.
//
// Stalls: here a stalled connection is checked not to block anyone (every
// listener serves while it stalls) and then closed; TestStallsEndedByTimeouts
// checks that the server ends each on its own, by the right timeout.
func TestFaultInjection(t *testing.T) {
	ms := mailsimtest.New(t, mailsim.Config{AllowInsecureAuth: true})
	var people []account.Account
	for _, a := range ms.Accounts() {
		if a.Kind == "person" {
			people = append(people, a)
		}
	}
	env := &faultEnv{srv: ms.Server, user: people[0].Address, pass: people[0].Password, rcpt: people[1].Address}
	tracker := newAuditTracker(ms.Bus)

	// A bystander: a session of another user that stays open throughout.
	by, err := imapclient.DialTLS(ms.IMAPSAddr, &imapclient.Options{TLSConfig: ms.Certs.ClientConfig("localhost")})
	if err != nil {
		t.Fatal(err)
	}
	defer by.Close()
	if err := by.Login(people[2].Address, people[2].Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := by.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	bystander := func() error {
		if err := by.Noop().Wait(); err != nil {
			return err
		}
		_, err := by.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
		return err
	}
	tracker.settle(time.Second)
	tracker.check() // the bystander's session stays open: not checked

	// Warm up (first TLS handshakes, lazily started goroutines), then take
	// the goroutine baseline once the count is steady.
	if errs := endToEnd(ms.Server, env.user, env.pass, env.rcpt); len(errs) > 0 {
		t.Fatalf("the mail system does not serve before any fault: %v", errs)
	}
	// Each case runs in a subtest: its own goroutine is part of its baseline.
	baseline := steadyGoroutines() + 1
	tracker.settle(2 * time.Second)
	if unpaired, _ := tracker.check(); len(unpaired) > 0 {
		t.Fatalf("sessions unpaired before any fault: %v", unpaired)
	}
	t.Logf("goroutine baseline %d", baseline)

	var results []faultResult
	for _, st := range allFaultStates() {
		for _, f := range allFaults {
			name := st.listener + "/" + st.state + "/" + string(f)
			t.Run(name, func(t *testing.T) {
				r := faultResult{name: name, kinds: map[string]bool{}}
				add := func(kind, format string, args ...any) {
					r.kinds[kind] = true
					r.problems = append(r.problems, kind+": "+fmt.Sprintf(format, args...))
				}
				c, err := st.setup(env)
				if err != nil {
					add(probSetup, "%v", err)
					if c != nil {
						c.finish()
					}
				} else {
					if err := c.apply(f); err != nil {
						add(probHalfClose, "%v", err)
					}
				}
				for name, err := range endToEnd(ms.Server, env.user, env.pass, env.rcpt) {
					add(probServe, "%s (while %s): %v", name, map[bool]string{true: "stalled", false: "after the fault"}[f == faultStall], err)
				}
				if c != nil && f == faultStall {
					c.finish()
				}
				if err := bystander(); err != nil {
					add(probBystander, "bystander session: %v", err)
				}
				// A session may still be finishing work it had started
				// (generating a large message on a loaded machine takes
				// seconds); it must end, not hang: wait up to 10 s.
				if n := waitGoroutines(baseline, 10*time.Second); n > baseline {
					add(probLeak, "%d goroutines, baseline %d", n, baseline)
					t.Logf("goroutine dump:\n%s", goroutineDump())
					// Later cases are judged on what they leave themselves.
					baseline = steadyGoroutines()
				}
				tracker.settle(500 * time.Millisecond)
				unpaired, missing := tracker.check()
				for _, u := range unpaired {
					add(probUnpaired, "%s", u)
				}
				if len(missing) > 0 {
					add(probReason, "end events without event.reason: %s", strings.Join(missing, ", "))
				}
				results = append(results, r)

				if len(r.problems) > 0 {
					t.Errorf("%s:\n%s", name, strings.Join(r.problems, "\n"))
				}
			})
		}
	}
	report := faultMatrix(results)
	t.Log("\n" + report)
	if p := os.Getenv("MAILDRILL_FAULTS_REPORT"); p != "" {
		if err := os.WriteFile(p, []byte(report+"\n"+faultDetails(results)), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// steadyGoroutines waits until the goroutine count stops changing.
func steadyGoroutines() int {
	n := -1
	for i := 0; i < 100; i++ {
		time.Sleep(30 * time.Millisecond)
		m := waitGoroutines(0, 0)
		if m == n {
			return m
		}
		n = m
	}
	return n
}

// faultMatrix renders the results as a listener/state × fault table; a
// cell lists the problem letters, "ok" when there was none.
func faultMatrix(results []faultResult) string {
	var b strings.Builder
	b.WriteString("fault matrix (S setup, H half-close not closed, A listener not serving, B bystander hurt, G goroutines, U unpaired connect, R end event without reason)\n")
	fmt.Fprintf(&b, "%-40s", "listener/state")
	for _, f := range allFaults {
		fmt.Fprintf(&b, " %-10s", f)
	}
	b.WriteString("\n")
	row := ""
	for _, r := range results {
		i := strings.LastIndexByte(r.name, '/')
		if r.name[:i] != row {
			if row != "" {
				b.WriteString("\n")
			}
			row = r.name[:i]
			fmt.Fprintf(&b, "%-40s", row)
		}
		var ks []string
		for k := range r.kinds {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		cell := strings.Join(ks, "")
		if cell == "" {
			cell = "ok"
		}
		fmt.Fprintf(&b, " %-10s", cell)
	}
	b.WriteString("\n")
	return b.String()
}

func faultDetails(results []faultResult) string {
	var b strings.Builder
	for _, r := range results {
		for _, p := range r.problems {
			fmt.Fprintf(&b, "%s: %s\n", r.name, p)
		}
	}
	return b.String()
}

// TestStallsEndedByTimeouts: a client that stops talking in any protocol
// state is ended by the server on its own, by the timeout of that state
// (pre-authentication, idle, SMTP command, DATA, TLS handshake, the admin
// API's header and keep-alive timeouts), and its end event says which.
// All states stall at once, on a server with short timeouts.
func TestStallsEndedByTimeouts(t *testing.T) {
	const short = 1500 * time.Millisecond
	ms := mailsimtest.New(t, mailsim.Config{
		AllowInsecureAuth: true,
		Limits: mailsim.Limits{
			IMAPPreAuthTimeout: short, IMAPIdleTimeout: short, TLSHandshakeTimeout: short,
			SMTPCommandTimeout: short, SMTPDataTimeout: short,
		},
		Admin: admin.Config{ReadHeaderTimeout: short, ReadTimeout: short, IdleTimeout: short},
	})
	var people []account.Account
	for _, a := range ms.Accounts() {
		if a.Kind == "person" {
			people = append(people, a)
		}
	}
	env := &faultEnv{srv: ms.Server, user: people[0].Address, pass: people[0].Password, rcpt: people[1].Address}
	tracker := newAuditTracker(ms.Bus)

	type stalled struct {
		name string
		c    *rawConn
	}
	var conns []stalled
	for _, st := range allFaultStates() {
		name := st.listener + "/" + st.state
		if name == "admin/event-stream" {
			continue // a live stream: open for as long as the reader wants
		}
		c, err := st.setup(env)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.apply(faultStall); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		conns = append(conns, stalled{name, c})
	}
	var wg sync.WaitGroup
	for _, s := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.c.finish()
			s.c.tcp.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err := io.Copy(io.Discard, s.c.tcp)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("%s: the server kept a stalled connection open for 30 s (timeouts %s)", s.name, short)
			}
		}()
	}
	wg.Wait()

	tracker.settle(5 * time.Second)
	unpaired, missing := tracker.check()
	require.Empty(t, unpaired)
	require.Empty(t, missing)
	reasons := map[string]int{}
	tracker.mu.Lock()
	for _, tr := range tracker.sessions {
		if tr.end != nil {
			reasons[tr.end.Reason]++
		}
	}
	tracker.mu.Unlock()
	for _, want := range []string{"timeout_preauth", "timeout_idle", "timeout_command", "timeout_data", "timeout_tls_handshake"} {
		require.Positive(t, reasons[want], "no session ended by %s; end reasons: %v", want, reasons)
	}
	if errs := endToEnd(ms.Server, env.user, env.pass, env.rcpt); len(errs) > 0 {
		t.Fatalf("the mail system does not serve after the stalls: %v", errs)
	}
}
