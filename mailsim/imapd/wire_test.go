package imapd

import (
	"encoding/base64"
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

// loginRaw opens a plaintext transcript and logs in (insecure server).
func dialLogin(t *testing.T, ts *testServer, user string) *rawConn {
	t.Helper()
	r := dialRaw(t, ts.addr)
	r.line() // greeting
	r.send("L LOGIN " + user + " secret-" + strings.Split(user, "@")[0])
	lines := r.until("L ")
	require.True(t, strings.HasPrefix(lines[len(lines)-1], "L OK"), "%q", lines)
	return r
}

func write(t *testing.T, r *rawConn, s string) {
	t.Helper()
	_, err := r.c.Write([]byte(s))
	require.NoError(t, err)
}

// A literal announced on a command the server refuses must not shift the
// shim's idea of where commands start: the IDLE after it is still audited.
func TestRejectedLiteralKeepsShimInSync(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialLogin(t, ts, "agent@interieur.test")
	r.send("s SELECT INBOX")
	r.until("s ")
	// FOO is refused at once (no continuation): the 5 bytes that follow
	// are, for the server, the next command.
	write(t, r, "b FOO {5}\r\n")
	assert.True(t, strings.HasPrefix(r.line(), "b BAD"))
	write(t, r, "c NOOP\r\n")
	assert.True(t, strings.HasPrefix(r.until("c ")[0], "c OK"))
	// Non-synchronizing: the data is already on its way; it belongs to the
	// refused command and must not run as a command of its own.
	write(t, r, "d FOO {15+}\r\ne LOGOUT\r\nxxxxx\r\n")
	assert.True(t, strings.HasPrefix(r.line(), "d BAD"))
	r.send("i IDLE")
	assert.Equal(t, "+ idling", r.line())
	r.send("DONE")
	assert.True(t, strings.HasPrefix(r.until("i ")[0], "i OK"))
	r.send("z LOGOUT")
	r.until("z ")

	evs := ts.events(t)
	require.Len(t, actions(evs, audit.IMAPIdle), 1, "IDLE after the refused literal is audited")
	cmds := actions(evs, audit.IMAPCommand)
	require.Len(t, cmds, 2, "each refused FOO is audited")
	assert.Equal(t, "unknown_command", cmds[0].Reason)
	lo := actions(evs, audit.IMAPLogout)
	require.Len(t, lo, 1)
	assert.Equal(t, "client_logout", lo[0].Reason)
}

// A literal the client may not send is refused when announced, not read.
func TestOversizedLiteralRefusedAtAnnouncement(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialRaw(t, ts.addr)
	r.line()
	r.send("a LOGIN {999999999}")
	assert.Equal(t, "a BAD [TOOBIG] Literal of 999999999 bytes exceeds the limit of 4096", r.line())
	// Before login an APPEND message is bounded by the pre-auth limit.
	r.send("ap APPEND INBOX {9000}")
	assert.Equal(t, "ap NO [TOOBIG] Literal of 9000 bytes exceeds the limit of 8192", r.line())
	// go-imap refuses a literal over 4096 bytes other than a message, then
	// read what followed as more of the command (a hang, or smuggling).
	r.send("l LOGIN {5000}")
	assert.Equal(t, "l BAD [TOOBIG] Literal of 5000 bytes exceeds the limit of 4096", r.line())
	// The connection goes on.
	r.send("b NOOP")
	assert.True(t, strings.HasPrefix(r.until("b ")[0], "b OK"))
	// Non-synchronizing: cannot resume, BYE.
	r.send("c LOGIN {999999999+}")
	assert.True(t, strings.HasPrefix(r.line(), "c BAD [TOOBIG]"))
	assert.True(t, strings.HasPrefix(r.line(), "* BYE [TOOBIG]"))

	// After login the limit is MaxAppendBytes; APPEND gets NO.
	r2 := dialLogin(t, ts, "agent@interieur.test")
	r2.send("p APPEND INBOX {999999999}")
	assert.Equal(t, "p NO [TOOBIG] Literal of 999999999 bytes exceeds the limit of 52428800", r2.line())

	evs := ts.events(t)
	var reasons []string
	for _, e := range evs {
		if e.Reason == "limit_literal_size" && e.Action != audit.IMAPLogout {
			reasons = append(reasons, e.Action)
		}
	}
	assert.Equal(t, []string{audit.IMAPLogin, audit.IMAPAppend, audit.IMAPLogin, audit.IMAPLogin, audit.IMAPAppend}, reasons)
	ts.srv.Close()
	evs = ts.events(t)
	var why []string
	for _, e := range actions(evs, audit.IMAPLogout) {
		why = append(why, e.Reason)
	}
	assert.ElementsMatch(t, []string{"limit_literal_size", "server_shutdown"}, why)
}

func TestOverlongLineRefused(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialRaw(t, ts.addr)
	r.line()
	write(t, r, "a LOGIN "+strings.Repeat("x", 40<<10)+" y\r\n")
	assert.Equal(t, "* BYE [TOOBIG] Command line too long", r.line())
	evs := ts.events(t)
	found := false
	for _, e := range evs {
		if e.Reason == "limit_line_length" && e.Action == audit.IMAPCommand {
			found = true
		}
	}
	assert.True(t, found)
}

// A bare CR would end the command for go-imap and start another.
func TestBareCRRefused(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialLogin(t, ts, "agent@interieur.test")
	r.send("s SELECT INBOX")
	r.until("s ")
	write(t, r, "a NOOP x\rb IDLE\r\n")
	assert.Equal(t, "a BAD [CLIENTBUG] Bare CR in command line", r.line())
	r.send("c NOOP")
	assert.True(t, strings.HasPrefix(r.until("c ")[0], "c OK"))
	assert.Empty(t, actions(ts.events(t), audit.IMAPIdle))
}

func TestAuthenticateRefusalsAudited(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialRaw(t, ts.addr)
	r.line()
	r.send("a AUTHENTICATE PLAIN")
	assert.True(t, strings.HasPrefix(r.line(), "+"))
	r.send("*")
	assert.True(t, strings.HasPrefix(r.line(), "a BAD"))
	r.send("b AUTHENTICATE PLAIN")
	r.line()
	r.send("!!!not-base64")
	assert.True(t, strings.HasPrefix(r.line(), "b BAD"))
	r.send("c AUTHENTICATE CRAM-MD5")
	assert.True(t, strings.HasPrefix(r.line(), "c NO"))
	r.send("d AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00agent@interieur.test\x00secret-agent")))
	assert.True(t, strings.HasPrefix(r.until("d ")[0], "d OK"))

	logins := actions(ts.events(t), audit.IMAPLogin)
	require.Len(t, logins, 4)
	for i, want := range []string{"client_cancelled", "malformed_response", "unknown_mechanism", ""} {
		assert.Equal(t, want, logins[i].Reason, i)
		assert.Equal(t, "AUTHENTICATE", logins[i].Command)
	}
	assert.Equal(t, audit.Success, logins[3].Outcome)
}

// Abrupt ends of one session (reset, FIN, in the middle of a literal or
// IDLE) end only that session, each with a logout event and a reason, and
// leave no goroutine behind.
func TestAbruptDisconnects(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 200})
	before := runtime.NumGoroutine()
	keep := dialLogin(t, ts, "director@interieur.test")
	abort := func(r *rawConn, reset bool) {
		if reset {
			r.c.(*net.TCPConn).SetLinger(0)
		}
		r.c.Close()
	}
	// Inside IDLE, reset.
	r := dialLogin(t, ts, "agent@interieur.test")
	r.send("s SELECT INBOX")
	r.until("s ")
	r.send("i IDLE")
	r.line()
	abort(r, true)
	// Inside an APPEND literal, FIN.
	r = dialLogin(t, ts, "agent@interieur.test")
	r.send("p APPEND INBOX {100}")
	r.line()
	write(t, r, "From: x\r\n")
	abort(r, false)
	// In the middle of a large FETCH, reset.
	r = dialLogin(t, ts, "agent@interieur.test")
	r.send("s SELECT INBOX")
	r.until("s ")
	r.send("f FETCH 1:* BODY.PEEK[]")
	r.line()
	abort(r, true)
	// After LOGOUT.
	r = dialLogin(t, ts, "agent@interieur.test")
	r.send("z LOGOUT")
	r.until("z ")
	abort(r, false)

	keep.send("k NOOP")
	assert.True(t, strings.HasPrefix(keep.until("k ")[0], "k OK"), "the other session is untouched")
	var why []string
	assert.Eventually(t, func() bool {
		why = why[:0]
		for _, e := range actions(ts.events(t), audit.IMAPLogout) {
			why = append(why, e.Reason)
		}
		return len(why) == 4
	}, 10*time.Second, 50*time.Millisecond)
	require.Len(t, why, 4, "logout reasons so far: %q", why)
	assert.ElementsMatch(t, []string{"client_reset", "client_eof", "client_reset", "client_logout"}, why)
	keep.send("y LOGOUT")
	keep.until("y ")
	// Polled by hand: testify's Eventually runs its condition on goroutines
	// of its own.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if runtime.NumGoroutine() > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d now:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}

func TestIDRefusalAudited(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialRaw(t, ts.addr)
	r.line()
	r.send(`a ID ("name")`)
	assert.True(t, strings.HasPrefix(r.until("a ")[0], "a BAD Invalid ID arguments"))
	r.send(`b ID ("name" {9000}`)
	assert.Equal(t, "b BAD [TOOBIG] ID arguments too long", r.line())
	ids := actions(ts.events(t), audit.IMAPID)
	require.Len(t, ids, 2)
	assert.Equal(t, "syntax_error", ids[0].Reason)
	assert.Equal(t, "limit_literal_size", ids[1].Reason)
}

// Literals anywhere in a command: a mailbox name sent as a literal (as
// clients do for non-ASCII names), a LOGIN with literal credentials, and an
// APPEND whose message is followed by something other than CRLF (go-imap
// stores the message, then sent no response at all).
func TestLiteralArguments(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialRaw(t, ts.addr)
	r.line()
	write(t, r, "L LOGIN {20+}\r\nagent@interieur.test {12+}\r\nsecret-agent\r\n")
	assert.True(t, strings.HasPrefix(r.until("L ")[0], "L OK"))
	msg := "Subject: lit\r\n\r\nhello\r\n"
	r.send("a APPEND {5}")
	assert.True(t, strings.HasPrefix(r.line(), "+"))
	write(t, r, fmt.Sprintf("INBOX (\\Seen) {%d}\r\n", len(msg)))
	assert.True(t, strings.HasPrefix(r.line(), "+"))
	write(t, r, msg+"\r\n")
	assert.True(t, strings.HasPrefix(r.until("a ")[0], "a OK [APPENDUID"))
	write(t, r, fmt.Sprintf("b APPEND INBOX {%d+}\r\n%s garbage {3+}\r\nxyz\r\n", len(msg), msg))
	assert.True(t, strings.HasPrefix(r.until("b ")[0], "b OK [APPENDUID"))
	r.send("c NOOP")
	assert.Equal(t, "c OK NOOP completed", r.until("c ")[0])
	apps := actions(ts.events(t), audit.IMAPAppend)
	require.Len(t, apps, 2)
	assert.Equal(t, audit.Success, apps[0].Outcome)
	assert.Equal(t, audit.Success, apps[1].Outcome)
}
