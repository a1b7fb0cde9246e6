package dovecot_test

import (
	"context"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/dovecot"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
)

// TestLocalDovecot runs Debian's Dovecot 2.3 from its own configuration on
// loopback over a Maildir export of the corpus, once per logging profile,
// drives two actors through the PROXY listener (an attacker from an
// internet address, staff from the office network), and checks the events
// parsed from Dovecot's log.
func TestLocalDovecot(t *testing.T) {
	if os.Getenv("MAILDRILL_DOVECOT") != "1" {
		t.Skip("needs Debian's dovecot-imapd: set MAILDRILL_DOVECOT=1 (apt-get install dovecot-imapd dovecot-lmtpd)")
	}
	if !dovecot.Available() {
		t.Fatal("MAILDRILL_DOVECOT=1 but no dovecot binary on PATH: apt-get install -y dovecot-imapd dovecot-lmtpd")
	}
	org, st, err := mailsim.NewStore(mailsim.Config{Seed: 1, Users: 3, MessagesPerUser: 5})
	if err != nil {
		t.Fatal(err)
	}
	var staff, other account.Account
	var accounts []account.Account
	for _, u := range org.Users() {
		if u.Kind != "person" {
			continue
		}
		accounts = append(accounts, account.Account{Address: u.Address, Password: u.Password})
		if staff.Address == "" {
			staff = account.Account{Address: u.Address, Password: u.Password}
		} else if other.Address == "" {
			other = account.Account{Address: u.Address}
		}
	}
	for _, profile := range []dovecot.Profile{dovecot.Stock, dovecot.Enhanced} {
		t.Run(string(profile), func(t *testing.T) {
			dir := t.TempDir()
			mail := filepath.Join(dir, "mail")
			for _, a := range accounts {
				if err := st.ExportMaildir(context.Background(), a.Address, filepath.Join(mail, a.Address, "Maildir"), nil); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			start := time.Now()
			l, err := dovecot.StartLocal(ctx, dovecot.LocalOptions{Dir: dir, MailRoot: mail, Accounts: accounts, Profile: profile})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			t.Logf("%s: Dovecot ready in %s", profile, time.Since(start).Round(time.Millisecond))

			attacker := netip.MustParseAddrPort("203.0.113.7:51544")
			attacker6 := netip.MustParseAddrPort("[2001:db8:77::2d86]:40001")
			office := netip.MustParseAddrPort("10.20.0.31:49152")

			// The attacker tries the staff member's account twice.
			c := dial(t, l.ProxyAddr, attacker)
			for range 2 {
				if err := c.Login(staff.Address, "Printemps2025!").Wait(); err == nil {
					t.Fatal("a wrong password was accepted")
				}
			}
			c.Logout().Wait()
			c.Close()
			// Once more from an IPv6 network (the PROXY header is then
			// TCP6, the listener's address IPv4-mapped).
			c = dial(t, l.ProxyAddr, attacker6)
			if err := c.Login(staff.Address, "Printemps2025!").Wait(); err == nil {
				t.Fatal("a wrong password was accepted")
			}
			c.Logout().Wait()
			c.Close()
			// Staff logs in, reads INBOX and downloads one message whole.
			c = dial(t, l.ProxyAddr, office)
			if _, err := c.ID(&imap.IDData{Name: "Thunderbird", Version: "128.5.0"}).Wait(); err != nil {
				t.Fatal(err)
			}
			if err := c.Login(staff.Address, staff.Password).Wait(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{"confidentiel"}}, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			msgs, err := c.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("fetch: %v (%d messages)", err, len(msgs))
			}
			if err := c.Create("Exfil", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Copy(imap.UIDSetNum(1), "Exfil").Wait(); err != nil {
				t.Fatal(err)
			}
			c.Logout().Wait()
			c.Close()

			evs := waitEvents(t, l.LogPath, func(evs []*audit.Event) bool {
				for _, e := range evs {
					if e.Action == audit.IMAPLogout && e.UserName == staff.Address && e.SourceIP == office.Addr().String() {
						return true
					}
				}
				return false
			})
			if dst := os.Getenv("MAILDRILL_DOVECOT_CAPTURE"); dst != "" {
				b, _ := os.ReadFile(l.LogPath)
				_ = os.WriteFile(filepath.Join(dst, string(profile)+"-local.log"), b, 0o644)
			}
			count := map[string]int{}
			failedFrom := map[string]int{}
			for _, e := range evs {
				key := e.Action + "/" + e.Outcome
				count[key]++
				switch {
				case e.Action == audit.IMAPLogin && e.Outcome == audit.Failure:
					failedFrom[e.SourceIP]++
					if e.UserName != staff.Address || e.Reason != "invalid_credentials" {
						t.Errorf("failed login: %+v", e)
					}
				case e.Action == audit.IMAPLogin:
					if e.SourceIP != "10.20.0.31" || e.UserName != staff.Address || e.AuthMechanism != "PLAIN" {
						t.Errorf("login: %+v", e)
					}
				case e.Action == audit.IMAPLogout && e.UserName == staff.Address && e.SourceIP == "10.20.0.31":
					if e.SessionBytesOut == 0 || e.SessionFetches != 1 {
						t.Errorf("logout counters: %+v", e)
					}
				case e.Action == audit.IMAPFetch:
					if e.BytesOut == 0 || e.MessageUID != 1 || e.Mailbox != "INBOX" || e.SourceIP != "10.20.0.31" {
						t.Errorf("fetch: %+v", e)
					}
				case e.Action == audit.IMAPCopy:
					if e.DestMailbox != "Exfil" || e.Mailbox != "INBOX" || e.MessageID == "" {
						t.Errorf("copy: %+v", e)
					}
				}
			}
			t.Logf("%s: %v", profile, count)
			if want := map[string]int{"203.0.113.7": 2, "2001:db8:77::2d86": 1}; !maps.Equal(failedFrom, want) {
				t.Errorf("failed logins by source: %v, want %v", failedFrom, want)
			}
			want := map[string]int{"imap.login/failure": 3, "imap.login/success": 1}
			if profile == dovecot.Enhanced {
				want["imap.id/success"] = 1
				want["imap.select/success"] = 1
				want["imap.search/success"] = 1
				want["imap.fetch/success"] = 1
				want["imap.create/success"] = 1
				want["imap.copy/success"] = 1
			} else {
				want["imap.fetch/success"] = 0
				want["imap.copy/success"] = 0
			}
			for k, n := range want {
				if count[k] != n {
					t.Errorf("%s: %d events, want %d", k, count[k], n)
				}
			}
			if count["imap.logout/success"] < 3 {
				t.Errorf("imap.logout: %d events, want the attackers' and the staff's", count["imap.logout/success"])
			}
		})
	}
}

func dial(t *testing.T, addr string, src netip.AddrPort) *imapclient.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := proxyproto.WriteV1(conn, src, netip.MustParseAddrPort("10.20.0.25:143")); err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitEvents parses the whole log until done says the events are all
// there (Dovecot writes some lines after the client has gone).
func waitEvents(t *testing.T, path string, done func([]*audit.Event) bool) []*audit.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := dovecot.ParseAll(f, dovecot.NewParser(dovecot.Options{}))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if done(evs) || time.Now().After(deadline) {
			if !done(evs) {
				b, _ := os.ReadFile(path)
				t.Fatalf("events incomplete; log:\n%s", strings.TrimSpace(string(b)))
			}
			return evs
		}
		time.Sleep(50 * time.Millisecond)
	}
}
