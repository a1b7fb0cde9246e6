package dovecot_test

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/dovecot"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
)

// lateCloser relays one TCP connection to upstream and, when the client
// closes its side, holds the server's side open for delay before closing
// it: the server notices the disconnection (and logs it) that much later
// than the client closed — what a loaded machine does to a disconnection
// line when the connection's process is not scheduled in time.
type lateCloser struct {
	ln    net.Listener
	done  chan struct{}
	delay time.Duration
}

func newLateCloser(t *testing.T, upstream string, delay time.Duration) *lateCloser {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &lateCloser{ln: ln, done: make(chan struct{}), delay: delay}
	go func() {
		defer close(l.done)
		down, err := ln.Accept()
		if err != nil {
			return
		}
		defer down.Close()
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		defer up.Close()
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(down, up) })
		io.Copy(up, down) // until the client closes
		time.Sleep(l.delay)
		up.Close()
		down.Close()
		wg.Wait()
	}()
	t.Cleanup(func() { ln.Close(); <-l.done })
	return l
}

func (l *lateCloser) addr() string { return l.ln.Addr().String() }

// TestBarrierWaitsForClosedConnections: a client logs in with a wrong
// password over IMAP and over SMTP AUTH and hangs up; Dovecot logs the
// failure, and Postfix the session's end, when they notice the
// disconnection, which here comes
// two seconds after the client closed (lateCloser). A barrier started
// right after the close must not return before those lines have been
// read: the marker connection's own line, logged long before, is not
// enough. And a close reported for a connection whose end is never logged
// makes a barrier give up with an error naming the address, not hang, and
// does not hold back the barriers after it.
func TestBarrierWaitsForClosedConnections(t *testing.T) {
	ctx := context.Background()
	before, img := imageReady(t)
	org, st, err := mailsim.NewStore(mailsim.Config{Seed: 1, Users: 3, MessagesPerUser: 2})
	if err != nil {
		t.Fatal(err)
	}
	var accounts []account.Account
	for _, u := range org.Users() {
		if u.Kind == "person" {
			accounts = append(accounts, account.Account{Address: u.Address, Password: u.Password})
		}
	}
	victim := accounts[0]
	const delay = 2 * time.Second
	c, _, events := startMailed(t, st, img, dovecot.Stock, accounts)

	count := func(action, outcome, ip string) int {
		n := 0
		for _, e := range events.all() {
			if e.Action == action && e.Outcome == outcome && e.SourceIP == ip {
				n++
			}
		}
		return n
	}

	// IMAP: a wrong password, then the client hangs up without LOGOUT
	// (Dovecot logs the failure at the disconnection).
	imapSrc := netip.MustParseAddrPort("203.0.113.21:40001")
	relay := newLateCloser(t, c.IMAPProxyAddr, delay)
	conn, err := net.Dial("tcp", relay.addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := proxyproto.WriteV1(conn, imapSrc, netip.MustParseAddrPort("10.20.0.25:143")); err != nil {
		t.Fatal(err)
	}
	ic := imapclient.New(conn, nil)
	if err := ic.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	if err := ic.Login(victim.Address, "Automne2025!").Wait(); err == nil {
		t.Fatal("wrong password accepted")
	}
	ic.Close()
	c.ConnClosed(imapSrc.String())

	// SMTP AUTH: the same over submission (Postfix logs the failure at
	// once, and "disconnect from" when it notices the close).
	smtpSrc := netip.MustParseAddrPort("203.0.113.22:40002")
	relay2 := newLateCloser(t, c.SubmissionProxyAddr, delay)
	conn2, err := net.Dial("tcp", relay2.addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := proxyproto.WriteV1(conn2, smtpSrc, netip.MustParseAddrPort("10.20.0.25:587")); err != nil {
		t.Fatal(err)
	}
	// By hand: go-smtp's client follows a refused AUTH with "*", which
	// Postfix answers by hanging up itself.
	tp := textproto.NewConn(conn2)
	for _, cmd := range []struct {
		send string
		code int
	}{
		{"", 220},
		{"EHLO desktop-7731", 250},
		{"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+victim.Address+"\x00Automne2025!")), 535},
	} {
		if cmd.send != "" {
			if err := tp.PrintfLine("%s", cmd.send); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := tp.ReadResponse(cmd.code); err != nil {
			t.Fatalf("%q: %v", cmd.send, err)
		}
	}
	tp.Close()
	c.ConnClosed(smtpSrc.String())

	t0 := time.Now()
	if err := c.Barrier(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("barrier passed after %s (the ends were held back %s)", time.Since(t0).Round(time.Millisecond), delay)
	if n := count(audit.IMAPLogin, audit.Failure, imapSrc.Addr().String()); n != 1 {
		t.Errorf("when the barrier returned: %d failed IMAP logins from %s, want 1 (its line not waited for)", n, imapSrc.Addr())
	}
	if n := count(audit.IMAPLogout, audit.Success, imapSrc.Addr().String()); n != 1 {
		t.Errorf("when the barrier returned: %d IMAP disconnections from %s, want 1", n, imapSrc.Addr())
	}
	if n := count(audit.SMTPDisconnect, audit.Success, smtpSrc.Addr().String()); n != 1 {
		t.Errorf("when the barrier returned: %d SMTP disconnections from %s, want 1 (its line not waited for)", n, smtpSrc.Addr())
	}
	if t.Failed() {
		t.Logf("log when the barrier returned:\n%s", c.Log())
	}

	// A close whose end never comes: the barrier gives up with an error
	// that names it, and the next barrier does not wait for it again.
	c.ConnClosed("198.51.100.99:40003")
	err = c.Barrier(ctx, time.Second)
	if err == nil || !strings.Contains(err.Error(), "198.51.100.99 (0 of 1)") {
		t.Fatalf("barrier with a connection end never logged: %v, want an error naming 198.51.100.99 (0 of 1)", err)
	}
	t.Logf("as expected: %v", err)
	if err := c.Barrier(ctx, 30*time.Second); err != nil {
		t.Errorf("the barrier after a timeout: %v", err)
	}
	if passed, timedOut := c.BarrierStats(); passed != 2 || timedOut != 1 {
		t.Errorf("barrier stats: %d passed, %d timed out; want 2, 1", passed, timedOut)
	}

	if err := c.Close(); err != nil {
		t.Error(err)
	}
	if after, err := dovecot.CountContainers(ctx); err != nil || after != before {
		t.Errorf("containers: %d before, %d after (%v)", before, after, err)
	}
}
