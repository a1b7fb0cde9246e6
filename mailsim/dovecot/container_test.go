package dovecot_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/dovecot"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
)

// TestContainerTarget builds the Dovecot + Postfix image (debootstrap base
// on first use), starts it once per logging profile with a Maildir export
// of the corpus, and drives an attacker (internet address) and a staff
// member (office network) through the PROXY listeners: failed IMAP and
// SMTP logins, an IMAP download, a submission to a colleague and to the
// outside. The events parsed from the container's log must name the
// actors' own addresses. No container is left behind.
func TestContainerTarget(t *testing.T) {
	if os.Getenv("MAILDRILL_DOCKER") != "1" {
		t.Skip("needs Docker, debootstrap and root: set MAILDRILL_DOCKER=1 (apt-get install docker.io debootstrap)")
	}
	ctx := context.Background()
	before, err := dovecot.CountContainers(ctx)
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	t0 := time.Now()
	img, err := dovecot.BuildImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s ready in %s (cold: debootstrap + apt; cached: hash lookups)", img, time.Since(t0).Round(time.Millisecond))

	org, st, err := mailsim.NewStore(mailsim.Config{Seed: 1, Users: 3, MessagesPerUser: 5})
	if err != nil {
		t.Fatal(err)
	}
	var accounts []dovecot.Account
	for _, u := range org.Users() {
		if u.Kind == "person" {
			accounts = append(accounts, dovecot.Account{Address: u.Address, Password: u.Password})
		}
	}
	staff, colleague := accounts[0], accounts[1]
	attacker := netip.MustParseAddrPort("203.0.113.7:51544")
	office := netip.MustParseAddrPort("10.20.0.31:49152")

	for _, profile := range []dovecot.Profile{dovecot.Stock, dovecot.Enhanced} {
		t.Run(string(profile), func(t *testing.T) {
			mail := filepath.Join(t.TempDir(), "mail")
			for _, a := range accounts {
				if err := st.ExportMaildir(ctx, a.Address, filepath.Join(mail, a.Address, "Maildir"), nil); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			var evs []*audit.Event
			c, err := dovecot.StartContainer(ctx, dovecot.ContainerOptions{
				Image: img, Profile: profile, Accounts: accounts, MailRoot: mail,
				Events: func(e *audit.Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			t.Logf("%s: start-to-ready %s", profile, c.StartToReady.Round(time.Millisecond))

			// Attacker: one wrong IMAP password, one wrong SMTP password.
			ic := dial(t, c.IMAPProxyAddr, attacker)
			if err := ic.Login(staff.Address, "Hiver2025!").Wait(); err == nil {
				t.Fatal("wrong password accepted")
			}
			ic.Logout().Wait()
			ic.Close()
			sc := smtpDial(t, c.SubmissionProxyAddr, attacker)
			if err := sc.Auth(sasl.NewPlainClient("", staff.Address, "Hiver2025!")); err == nil {
				t.Fatal("wrong SMTP password accepted")
			}
			sc.Close()

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
			msg := "From: " + staff.Address + "\r\nTo: " + colleague.Address + "\r\nSubject: note\r\nMessage-ID: <note-1@interieur.test>\r\n\r\nhello\r\n"
			if err := sc.SendMail(staff.Address, []string{colleague.Address, "drop@proton.example"}, strings.NewReader(msg)); err != nil {
				t.Fatal(err)
			}
			sc.Quit()

			deadline := time.Now().Add(45 * time.Second)
			has := func(action, ip string) bool {
				mu.Lock()
				defer mu.Unlock()
				for _, e := range evs {
					if e.Action == action && (ip == "" || e.SourceIP == ip) {
						return true
					}
				}
				return false
			}
			done := func() bool {
				mu.Lock()
				defer mu.Unlock()
				n := 0
				for _, e := range evs {
					if e.Action == audit.SMTPDeliver && e.SourceIP == "10.20.0.31" {
						n++
					}
				}
				return n == 2
			}
			for !(has(audit.IMAPLogout, "10.20.0.31") && done() && has(audit.SMTPDisconnect, "10.20.0.31") && has(audit.SMTPDisconnect, "203.0.113.7")) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			log := c.Log()
			if dst := os.Getenv("MAILDRILL_DOVECOT_CAPTURE"); dst != "" {
				_ = os.WriteFile(filepath.Join(dst, string(profile)+"-container.log"), []byte(log), 0o644)
			}
			mu.Lock()
			defer mu.Unlock()
			count := map[string]int{}
			for _, e := range evs {
				count[e.Action+"/"+e.Outcome+"@"+e.SourceIP]++
				if e.Action == audit.SMTPDeliver && e.SourceIP == "10.20.0.31" {
					if e.UserName != staff.Address || e.SMTPMailFrom != staff.Address || e.MessageID != "note-1@interieur.test" {
						t.Errorf("deliver: %+v", *e)
					}
				}
			}
			t.Logf("%s: %v", profile, count)
			want := []string{
				"imap.login/failure@203.0.113.7", "smtp.auth/failure@203.0.113.7",
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
	if os.Getenv("MAILDRILL_DOCKER") != "1" {
		t.Skip("needs Docker, debootstrap and root: set MAILDRILL_DOCKER=1 (apt-get install docker.io debootstrap)")
	}
	ctx := context.Background()
	before, err := dovecot.CountContainers(ctx)
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	img, err := dovecot.BuildImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mail := t.TempDir()
	cctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if c, err := dovecot.StartContainer(cctx, dovecot.ContainerOptions{Image: img, MailRoot: mail}); err == nil {
		c.Close()
		t.Fatal("ready in under 1.5 s, or the cancellation was not honoured")
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
