package dovecot_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/moby/moby/client"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/dovecot"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
	"github.com/maildrill/maildrill/mailsim/store"
)

// imageReady skips the test unless MAILDRILL_DOCKER=1, counts the Dovecot
// containers already there (the test must leave that many) and builds or
// finds the image.
func imageReady(t *testing.T) (before int, img string) {
	t.Helper()
	if os.Getenv("MAILDRILL_DOCKER") != "1" {
		t.Skip("needs Docker, debootstrap and root: set MAILDRILL_DOCKER=1 (apt-get install docker.io debootstrap)")
	}
	ctx := context.Background()
	before, err := dovecot.CountContainers(ctx)
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	t0 := time.Now()
	if img, err = dovecot.BuildImage(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s ready in %s (cold: debootstrap; cached: hash lookups)", img, time.Since(t0).Round(time.Millisecond))
	return before, img
}

// TestContainerTarget builds the Dovecot + Postfix image (debootstrap base
// on first use), starts it once per logging profile with a Maildir export
// of the corpus, and drives an attacker (internet address) and a staff
// member (office network) through the PROXY listeners: failed IMAP and
// SMTP logins, an IMAP download, a submission to a colleague and to the
// outside. The events parsed from the container's log must name the
// actors' own addresses. No container is left behind.
func TestContainerTarget(t *testing.T) {
	ctx := context.Background()
	before, img := imageReady(t)

	org, st, err := mailsim.NewStore(mailsim.Config{Seed: 1, Users: 3, MessagesPerUser: 5})
	if err != nil {
		t.Fatal(err)
	}
	var accounts []account.Account
	for _, u := range org.Users() {
		if u.Kind == "person" {
			accounts = append(accounts, account.Account{Address: u.Address, Password: u.Password})
		}
	}
	staff, colleague := accounts[0], accounts[1]
	attacker := netip.MustParseAddrPort("203.0.113.7:51544")
	attacker6 := netip.MustParseAddrPort("[2001:db8:77::2d86]:40001")
	office := netip.MustParseAddrPort("10.20.0.31:49152")

	for _, profile := range []dovecot.Profile{dovecot.Stock, dovecot.Enhanced} {
		t.Run(string(profile), func(t *testing.T) {
			c, _, events := startMailed(t, st, img, profile, accounts)
			t.Logf("%s: start-to-ready %s", profile, c.StartToReady.Round(time.Millisecond))
			loopbackOnly(t, c.ContainerID)

			// Attacker: one wrong IMAP password, one wrong SMTP password,
			// from an IPv4 address and from an IPv6 network (a TCP6
			// PROXY header, the listener's address IPv4-mapped).
			var ic *imapclient.Client
			var sc *smtp.Client
			for _, src := range []netip.AddrPort{attacker, attacker6} {
				ic = dial(t, c.IMAPProxyAddr, src)
				if err := ic.Login(staff.Address, "Hiver2025!").Wait(); err == nil {
					t.Fatal("wrong password accepted")
				}
				ic.Logout().Wait()
				ic.Close()
				sc = smtpDial(t, c.SubmissionProxyAddr, src)
				if err := sc.Auth(sasl.NewPlainClient("", staff.Address, "Hiver2025!")); err == nil {
					t.Fatal("wrong SMTP password accepted")
				}
				sc.Close()
			}

			// Staff: reads and downloads, then sends inside and outside.
			ic = dial(t, c.IMAPProxyAddr, office)
			if err := ic.Login(staff.Address, staff.Password).Wait(); err != nil {
				t.Fatal(err)
			}
			if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if _, err := ic.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect(); err != nil {
				t.Fatal(err)
			}
			ic.Logout().Wait()
			ic.Close()
			sc = smtpDial(t, c.SubmissionProxyAddr, office)
			if err := sc.Auth(sasl.NewPlainClient("", staff.Address, staff.Password)); err != nil {
				t.Fatal(err)
			}
			// One attachment: the enhanced profile's mime_header_checks logs it.
			msg := "From: " + staff.Address + "\r\nTo: " + colleague.Address + "\r\nSubject: note\r\nMessage-ID: <note-1@interieur.test>\r\n" +
				"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
				"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n" +
				"--b1\r\nContent-Type: application/pdf; name=\"rapport final.pdf\"\r\nContent-Disposition: attachment;\r\n filename=\"rapport final.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n" +
				"--b1--\r\n"
			if err := sc.SendMail(staff.Address, []string{colleague.Address, "drop@proton.example"}, strings.NewReader(msg)); err != nil {
				t.Fatal(err)
			}
			sc.Quit()

			deadline := time.Now().Add(45 * time.Second)
			has := func(action, ip string) bool {
				for _, e := range events.all() {
					if e.Action == action && (ip == "" || e.SourceIP == ip) {
						return true
					}
				}
				return false
			}
			done := func() bool {
				n := 0
				for _, e := range events.all() {
					if e.Action == audit.SMTPDeliver && e.SourceIP == "10.20.0.31" {
						n++
					}
				}
				return n == 2
			}
			for !(has(audit.IMAPLogout, "10.20.0.31") && done() && has(audit.SMTPDisconnect, "10.20.0.31") && has(audit.SMTPDisconnect, "203.0.113.7") && has(audit.SMTPDisconnect, "2001:db8:77::2d86")) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			log := c.Log()
			if dst := os.Getenv("MAILDRILL_DOVECOT_CAPTURE"); dst != "" {
				_ = os.WriteFile(filepath.Join(dst, string(profile)+"-container.log"), []byte(log), 0o644)
			}
			count := map[string]int{}
			for _, e := range events.all() {
				count[e.Action+"/"+e.Outcome+"@"+e.SourceIP]++
				if e.Action == audit.SMTPDeliver && e.SourceIP == "10.20.0.31" {
					if e.UserName != staff.Address || e.SMTPMailFrom != staff.Address || e.MessageID != "note-1@interieur.test" {
						t.Errorf("deliver: %+v", *e)
					}
					// Postfix names attachments only with the enhanced
					// profile's mime_header_checks.
					wantAtt := []string{"rapport final.pdf"}
					if profile == dovecot.Stock {
						wantAtt = nil
					}
					if !slices.Equal(e.AttachmentNames, wantAtt) || e.AttachmentCount != len(wantAtt) {
						t.Errorf("%s: deliver to %s: attachments %d %q, want %q", profile, e.SMTPRcptTo, e.AttachmentCount, e.AttachmentNames, wantAtt)
					}
				}
			}
			t.Logf("%s: %v", profile, count)
			want := []string{
				"imap.login/failure@203.0.113.7", "smtp.auth/failure@203.0.113.7",
				"imap.login/failure@2001:db8:77::2d86", "smtp.auth/failure@2001:db8:77::2d86",
				"imap.login/success@10.20.0.31", "imap.logout/success@10.20.0.31",
				"smtp.connect/success@10.20.0.31", "smtp.auth/success@10.20.0.31",
				"smtp.data/success@10.20.0.31", "smtp.deliver/success@10.20.0.31",
				"smtp.disconnect/success@10.20.0.31",
			}
			if profile == dovecot.Enhanced {
				want = append(want, "imap.select/success@10.20.0.31", "imap.fetch/success@10.20.0.31")
			}
			for _, k := range want {
				if count[k] == 0 {
					t.Errorf("no %s", k)
				}
			}
			if count["smtp.deliver/success@10.20.0.31"] != 2 {
				t.Errorf("smtp.deliver: %d, want 2 (colleague over LMTP, outside world)", count["smtp.deliver/success@10.20.0.31"])
			}
			if t.Failed() {
				t.Logf("log:\n%s", log)
			}
			t0 := time.Now()
			if err := c.Close(); err != nil {
				t.Error(err)
			}
			t.Logf("%s: teardown %s", profile, time.Since(t0).Round(time.Millisecond))
		})
	}
	after, err := dovecot.CountContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("containers: %d before, %d after", before, after)
	}
}

func smtpDial(t *testing.T, addr string, src netip.AddrPort) *smtp.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := proxyproto.WriteV1(conn, src, netip.MustParseAddrPort("10.20.0.25:587")); err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	if err := c.Hello("desktop-7731"); err != nil {
		t.Fatal(err)
	}
	return c
}

// A start cancelled half-way (Ctrl-C while waiting for readiness) and a
// start that fails (no such image) leave no container behind.
func TestContainerStartCancelled(t *testing.T) {
	ctx := context.Background()
	before, img := imageReady(t)
	mail := t.TempDir()
	// Cancelled at several points of the start (the container is ready in
	// about 1.3 s here): each must fail and leave nothing; a start that
	// beats its deadline proves nothing and is only logged.
	cancelled := 0
	for _, d := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond} {
		cctx, cancel := context.WithTimeout(ctx, d)
		c, err := dovecot.StartContainer(cctx, dovecot.ContainerOptions{Image: img, MailRoot: mail})
		cancel()
		if err == nil {
			t.Logf("ready within %s: cancellation at that point not tested", d)
			c.Close()
			continue
		}
		cancelled++
		if n, _ := dovecot.CountContainers(ctx); n != before {
			t.Errorf("cancelled after %s: %d containers, want %d", d, n, before)
		}
	}
	if cancelled == 0 {
		t.Fatal("no start was cancelled: readiness beat every deadline, or cancellation is not honoured")
	}
	if _, err := dovecot.StartContainer(ctx, dovecot.ContainerOptions{Image: "maildrill/dovecot:no-such-tag", MailRoot: mail}); err == nil {
		t.Fatal("a missing image started")
	}
	after, err := dovecot.CountContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("containers: %d before, %d after", before, after)
	}
}

// TestContainerDelegationTLS starts the enhanced profile with every
// account of a small organisation (people and shared mailboxes, with
// mailsim's delegations) and checks that the container behaves like
// mailsim where scenarios depend on it: a delegate lists and opens the
// owner's mailboxes under Users/<local>/ and a shared mailbox under
// Shared/<local>/, a non-delegate gets NO; the events name the owner as
// mailsim's do; STARTTLS (IMAP, SMTP) and implicit TLS verify against the
// CA; and failed logins are answered at once (lab settings), over IMAP
// and over SMTP AUTH, without the session being cut off.
func TestContainerDelegationTLS(t *testing.T) {
	ctx := context.Background()
	before, img := imageReady(t)
	org, st, err := mailsim.NewStore(mailsim.Config{Seed: 1, Users: 3, MessagesPerUser: 5})
	if err != nil {
		t.Fatal(err)
	}
	var accounts []account.Account
	var owner, delegate, outsider, team account.Account
	for _, u := range org.Users() {
		a := account.Account{Address: u.Address, Password: u.Password, Kind: u.Kind, Delegates: u.Delegates}
		accounts = append(accounts, a)
		if u.Kind == "person" && len(u.Delegates) > 0 && owner.Address == "" {
			owner = a
		}
	}
	if owner.Address == "" {
		t.Fatal("no person with a delegate in the corpus")
	}
	for _, a := range accounts {
		switch {
		case a.Address == owner.Delegates[0]:
			delegate = a
		case a.Kind == "person" && a.Address != owner.Address && !slices.Contains(owner.Delegates, a.Address) && outsider.Address == "":
			outsider = a
		}
	}
	for _, a := range accounts {
		if a.Kind == "shared" && slices.Contains(a.Delegates, delegate.Address) && !slices.Contains(a.Delegates, outsider.Address) {
			team = a
			break
		}
	}
	if delegate.Address == "" || outsider.Address == "" || team.Address == "" {
		t.Fatalf("corpus: owner %s, delegate %q, outsider %q, team %q", owner.Address, delegate.Address, outsider.Address, team.Address)
	}
	local := func(a account.Account) string { l, _, _ := strings.Cut(a.Address, "@"); return l }
	t.Logf("owner %s, delegate %s, outsider %s, shared mailbox %s", owner.Address, delegate.Address, outsider.Address, team.Address)

	for _, profile := range []dovecot.Profile{dovecot.Stock, dovecot.Enhanced} {
		t.Run(string(profile), func(t *testing.T) {
			c, mail, events := startMailed(t, st, img, profile, accounts)
			if _, err := os.Stat(filepath.Join(mail, owner.Address, "Maildir", "dovecot-acl")); err != nil {
				t.Errorf("no ACL written for %s: %v", owner.Address, err)
			}

			office := netip.MustParseAddrPort("10.20.0.31:49152")
			intruder := netip.MustParseAddrPort("10.20.0.66:50100")
			attacker := netip.MustParseAddrPort("203.0.113.7:51544")
			imapTLS := c.TLSConfig("imap.interieur.test")

			// The delegate, over STARTTLS, certificate verified against the CA.
			conn := proxyConn(t, c.IMAPProxyAddr, office, 143)
			ic, err := imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: imapTLS})
			if err != nil {
				t.Fatalf("STARTTLS: %v", err)
			}
			if err := ic.Login(delegate.Address, delegate.Password).Wait(); err != nil {
				t.Fatal(err)
			}
			names := func(ic *imapclient.Client, pattern string) []string {
				t.Helper()
				ls, err := ic.List("", pattern, nil).Collect()
				if err != nil {
					t.Fatalf("LIST %s: %v", pattern, err)
				}
				var out []string
				for _, l := range ls {
					out = append(out, l.Mailbox)
					if testing.Verbose() {
						t.Logf("LIST %s: %s %v", pattern, l.Mailbox, l.Attrs)
					}
				}
				return out
			}
			users := names(ic, "Users/*")
			ownerInbox := "Users/" + local(owner) + "/INBOX"
			teamInbox := "Shared/" + local(team) + "/INBOX"
			if !slices.Contains(users, ownerInbox) {
				t.Errorf("LIST Users/*: %q, want %s", users, ownerInbox)
			}
			for _, n := range users {
				if strings.HasPrefix(n, "Users/"+local(team)) {
					t.Errorf("LIST Users/*: %s (a shared mailbox under Users/)", n)
				}
			}
			shared := names(ic, "Shared/*")
			if !slices.Contains(shared, teamInbox) {
				t.Errorf("LIST Shared/*: %q, want %s", shared, teamInbox)
			}
			for _, n := range shared {
				if strings.HasPrefix(n, "Shared/"+local(owner)) {
					t.Errorf("LIST Shared/*: %s (a person under Shared/)", n)
				}
			}
			if own := names(ic, "*"); !slices.Contains(own, "INBOX") || !slices.Contains(own, "Sent") {
				t.Errorf("LIST *: %q", own)
			}
			sel, err := ic.Select(ownerInbox, nil).Wait()
			if err != nil {
				t.Fatalf("SELECT %s: %v", ownerInbox, err)
			}
			if sel.NumMessages == 0 {
				t.Fatalf("SELECT %s: empty", ownerInbox)
			}
			msgs, err := ic.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil || len(msgs) != 1 || len(msgs[0].BodySection) == 0 {
				t.Fatalf("FETCH in %s: %v (%d messages)", ownerInbox, err, len(msgs))
			}
			if err := ic.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, nil).Close(); err != nil {
				t.Fatalf("STORE in %s: %v", ownerInbox, err)
			}
			if _, err := ic.Select(teamInbox, nil).Wait(); err != nil {
				t.Fatalf("SELECT %s: %v", teamInbox, err)
			}
			if _, err := ic.Select("Shared/"+local(owner)+"/INBOX", nil).Wait(); err == nil {
				t.Errorf("a person's INBOX opens under Shared/")
			}
			ic.Logout().Wait()
			ic.Close()

			// Someone who is no delegate, over implicit TLS: nothing listed, NO.
			// (In that order: after a refused SELECT, Dovecot lists Users/<owner>
			// as a \Noselect name for the rest of the session.)
			conn = proxyConn(t, c.IMAPSProxyAddr, intruder, 993)
			ic = imapclient.New(tls.Client(conn, imapTLS), nil)
			if err := ic.WaitGreeting(); err != nil {
				t.Fatalf("imaps: %v", err)
			}
			if err := ic.Login(outsider.Address, outsider.Password).Wait(); err != nil {
				t.Fatal(err)
			}
			if l := names(ic, "Users/*"); len(l) != 0 {
				t.Errorf("%s: LIST Users/*: %q", outsider.Address, l)
			}
			if _, err := ic.Select(ownerInbox, nil).Wait(); err == nil {
				t.Errorf("%s opened %s", outsider.Address, ownerInbox)
			}
			ic.Logout().Wait()
			ic.Close()

			// Submission: STARTTLS then AUTH, the certificate verified.
			sc, err := smtp.NewClientStartTLS(proxyConn(t, c.SubmissionProxyAddr, office, 587), c.TLSConfig("smtp.interieur.test"))
			if err != nil {
				t.Fatalf("SMTP STARTTLS: %v", err)
			}
			if err := sc.Auth(sasl.NewPlainClient("", delegate.Address, delegate.Password)); err != nil {
				t.Fatal(err)
			}
			sc.Quit()

			// A spray: failed logins are answered at once, and one SMTP session
			// is not cut off after 20 errors.
			// IMAP: one connection per try, then several tries in one.
			const imapTries, smtpTries = 8, 25
			t0 := time.Now()
			for i := range imapTries {
				ic := dial(t, c.IMAPProxyAddr, attacker)
				if err := ic.Login(accounts[i%len(accounts)].Address, "Hiver2025!").Wait(); err == nil {
					t.Fatal("wrong password accepted")
				}
				ic.Close()
			}
			ic = dial(t, c.IMAPProxyAddr, attacker)
			for i := range imapTries {
				if err := ic.Login(accounts[i%len(accounts)].Address, "Printemps2025!").Wait(); err == nil {
					t.Fatal("wrong password accepted")
				}
			}
			ic.Close()
			imapSpray := time.Since(t0)
			// Raw AUTH commands (go-smtp's client sends "*" after a refusal,
			// which Postfix takes for a non-SMTP command).
			t0 = time.Now()
			tp := textproto.NewConn(proxyConn(t, c.SubmissionProxyAddr, attacker, 587))
			expect := func(code int) {
				t.Helper()
				if _, _, err := tp.ReadResponse(code); err != nil {
					t.Fatalf("SMTP: want %d: %v", code, err)
				}
			}
			expect(220)
			tp.PrintfLine("EHLO desktop-7731")
			expect(250)
			for i := range smtpTries {
				a := accounts[i%len(accounts)]
				tp.PrintfLine("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00"+a.Address+"\x00Hiver2025!")))
				expect(535)
			}
			tp.PrintfLine("QUIT")
			expect(221)
			tp.Close()
			smtpSpray := time.Since(t0)
			t.Logf("spray: %d IMAP logins (%d connections) in %s, %d SMTP AUTH in one session in %s", 2*imapTries, imapTries+1, imapSpray.Round(time.Millisecond), smtpTries, smtpSpray.Round(time.Millisecond))
			if imapSpray > time.Duration(2*imapTries)*125*time.Millisecond {
				t.Errorf("IMAP failures are delayed: %s for %d", imapSpray, imapTries)
			}
			if smtpSpray > time.Duration(smtpTries)*250*time.Millisecond {
				t.Errorf("SMTP AUTH failures are delayed: %s for %d", smtpSpray, smtpTries)
			}

			if err := c.Barrier(ctx, 30*time.Second); err != nil {
				t.Error(err)
			}
			// The logout lines come after the barrier's own; wait for them.
			deadline := time.Now().Add(10 * time.Second)
			count := func(action, outcome, ip string) int {
				n := 0
				for _, e := range events.all() {
					if e.Action == action && e.Outcome == outcome && e.SourceIP == ip {
						n++
					}
				}
				return n
			}
			for count(audit.SMTPDisconnect, audit.Success, "203.0.113.7") == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			log := c.Log()
			if dst := os.Getenv("MAILDRILL_DOVECOT_CAPTURE"); dst != "" {
				_ = os.WriteFile(filepath.Join(dst, string(profile)+"-delegation.log"), []byte(log), 0o644)
			}
			if n := count(audit.IMAPLogin, audit.Failure, "203.0.113.7"); n != 2*imapTries {
				t.Errorf("imap.login failures: %d, want %d", n, 2*imapTries)
			}
			if n := count(audit.SMTPAuth, audit.Failure, "203.0.113.7"); n != smtpTries {
				t.Errorf("smtp.auth failures: %d, want %d", n, smtpTries)
			}
			if n := count(audit.SMTPStartTLS, audit.Success, "10.20.0.31"); (n == 0) == (profile == dovecot.Enhanced) {
				t.Errorf("smtp.starttls: %d (Postfix logs the handshake at smtpd_tls_loglevel 1, the enhanced profile)", n)
			}
			want := map[string]bool{}
			for _, e := range events.all() {
				switch {
				case e.Action == audit.IMAPLogin && e.Outcome == audit.Success && e.UserName == delegate.Address:
					if !e.TLS || e.AuthCleartext == nil || *e.AuthCleartext {
						t.Errorf("delegate's login over STARTTLS: %+v", *e)
					}
					want["login"] = true
				case e.Action == audit.IMAPLogin && e.Outcome == audit.Success && e.UserName == outsider.Address:
					// Only the enhanced profile logs the local port (lport).
					if !e.TLS || (profile == dovecot.Enhanced) != (e.ServiceName == "imaps") {
						t.Errorf("outsider's login over imaps: %+v", *e)
					}
					want["imaps"] = true
				case (e.Action == audit.IMAPSelect || e.Action == audit.IMAPFetch || e.Action == audit.IMAPStore) && e.Mailbox == ownerInbox:
					ok := e.MailboxOwner == owner.Address && e.MailboxShared != nil && *e.MailboxShared
					switch e.UserName {
					case delegate.Address:
						ok = ok && e.Outcome == audit.Success
						want[e.Action] = true
					case outsider.Address:
						ok = ok && e.Outcome == audit.Failure
						want["refused"] = true
					}
					if !ok {
						t.Errorf("%s %s: %+v", e.Action, e.Mailbox, *e)
					}
				case e.Action == audit.IMAPSelect && e.Mailbox == teamInbox && e.Outcome == audit.Success:
					if e.MailboxOwner != team.Address || e.MailboxShared == nil || !*e.MailboxShared {
						t.Errorf("select %s: %+v", teamInbox, *e)
					}
					want["team"] = true
				}
			}
			keys := []string{"login", "imaps"}
			if profile == dovecot.Enhanced {
				keys = append(keys, audit.IMAPSelect, audit.IMAPFetch, audit.IMAPStore, "refused", "team")
			}
			for _, k := range keys {
				if !want[k] {
					t.Errorf("no %s event", k)
				}
			}
			if strings.Contains(log, "nodelay") || strings.Contains(log, "static(") {
				t.Errorf("the lab passdb shows in the log")
			}
			if t.Failed() {
				t.Logf("log:\n%s", log)
			}
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	after, err := dovecot.CountContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("containers: %d before, %d after", before, after)
	}
}

// proxyConn connects to a PROXY listener announcing src (to port dport).
func proxyConn(t *testing.T, addr string, src netip.AddrPort, dport uint16) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := proxyproto.WriteV1(conn, src, netip.AddrPortFrom(netip.MustParseAddr("10.20.0.25"), dport)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// loopbackOnly fails unless every published port of the container is
// bound on 127.0.0.1 alone (Postfix's PROXY ports trust any peer).
func loopbackOnly(t *testing.T, id string) {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	r, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for port, bs := range r.Container.NetworkSettings.Ports {
		for _, b := range bs {
			n++
			if b.HostIP != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("port %s published on %s:%s, want 127.0.0.1 only", port, b.HostIP, b.HostPort)
			}
		}
	}
	if n == 0 {
		t.Error("no published port found")
	}
}

// eventLog collects the events a container's log gives, from its stream.
type eventLog struct {
	mu  sync.Mutex
	evs []*audit.Event
}

func (l *eventLog) add(e *audit.Event) { l.mu.Lock(); l.evs = append(l.evs, e); l.mu.Unlock() }

// all is a copy of the events so far.
func (l *eventLog) all() []*audit.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*audit.Event(nil), l.evs...)
}

// startMailed exports every account's mail from st into a fresh Maildir
// root and starts the image on it with the profile; Close is deferred to
// the test's end.
func startMailed(t *testing.T, st *store.Store, img string, profile dovecot.Profile, accounts []account.Account) (*dovecot.Container, string, *eventLog) {
	t.Helper()
	ctx := context.Background()
	mail := filepath.Join(t.TempDir(), "mail")
	for _, a := range accounts {
		if err := st.ExportMaildir(ctx, a.Address, filepath.Join(mail, a.Address, "Maildir"), nil); err != nil {
			t.Fatal(err)
		}
	}
	events := &eventLog{}
	c, err := dovecot.StartContainer(ctx, dovecot.ContainerOptions{
		Image: img, Profile: profile, Accounts: accounts, MailRoot: mail, Events: events.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, mail, events
}
