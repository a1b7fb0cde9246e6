package container

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
)

func needDocker(t testing.TB) {
	t.Helper()
	if os.Getenv("MAILDRILL_DOCKER") != "1" {
		t.Skip("set MAILDRILL_DOCKER=1 (needs a Docker daemon; see docs/containers.md)")
	}
}

var (
	imgOnce sync.Once
	imgTag  string
	imgErr  error
)

// testImage builds the image once per test binary.
func testImage(t testing.TB) string {
	t.Helper()
	imgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var img Image
		img, imgErr = BuildImage(ctx, BuildOptions{})
		imgTag = img.Tag
		if imgErr == nil {
			t.Logf("image %s cached=%v in %s", img.Tag, img.Cached, img.Took)
		}
	})
	if imgErr != nil {
		t.Fatal(imgErr)
	}
	return imgTag
}

func startTest(t *testing.T, opts Options) *Mailsim {
	t.Helper()
	opts.Image = testImage(t)
	if opts.Users == 0 {
		opts.Users, opts.Messages = 8, 20
	}
	m, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		t0 := time.Now()
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		t.Logf("teardown %s", time.Since(t0))
	})
	t.Logf("start-to-ready %s", m.StartToReady)
	return m
}

// dialAs connects to addr announcing src with a PROXY v1 header.
func dialAs(t *testing.T, addr string, src string, dstPort uint16) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := proxyproto.WriteV1(c, netip.MustParseAddrPort(src), netip.AddrPortFrom(netip.MustParseAddr("10.20.0.25"), dstPort)); err != nil {
		t.Fatal(err)
	}
	return c
}

func person(t *testing.T, m *Mailsim, skip int) account.Account {
	for _, a := range m.Accounts {
		if a.Kind == "person" {
			if skip == 0 {
				return a
			}
			skip--
		}
	}
	t.Fatal("no person account")
	return account.Account{}
}

// TestContainerLoginFetchSend: two actors at their own addresses log in,
// fetch a message with its attachment and send one; the audit trail read
// back from the container names each actor's address and user, stamped by
// the virtual clock the test set.
func TestContainerLoginFetchSend(t *testing.T) {
	needDocker(t)
	start := time.Date(2025, 12, 11, 23, 40, 0, 0, time.FixedZone("CET", 3600))
	m := startTest(t, Options{ProxyProtocol: true, Start: start, RunID: "md-test"})
	ctx := context.Background()
	at := start.Add(7 * time.Minute)
	if err := m.SetClock(ctx, at); err != nil {
		t.Fatal(err)
	}

	// Attacker: IMAPS from an internet range, login + fetch.
	victim := person(t, m, 0)
	conn := tls.Client(dialAs(t, m.IMAPSAddr, "203.0.113.7:51000", 993), m.TLSConfig("imap.interieur.test"))
	c := imapclient.New(conn, nil)
	if err := c.Login(victim.Address, victim.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	found, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Content-Type", Value: "multipart/mixed"}}}, nil).Wait()
	if err != nil || len(found.AllSeqNums()) == 0 {
		t.Fatalf("no message with an attachment in INBOX: %v", err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(found.AllSeqNums()[0]), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 || len(msgs[0].BodySection) == 0 {
		t.Fatalf("fetch: %v, %d messages", err, len(msgs))
	}
	c.Logout().Wait()
	c.Close()

	// Staff: submission from the office network, STARTTLS + AUTH + send.
	sender := person(t, m, 1)
	sc, err := smtp.NewClientStartTLS(dialAs(t, m.SubmissionAddr, "10.20.1.15:40001", 587), m.TLSConfig("smtp.interieur.test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Auth(sasl.NewPlainClient("", sender.Address, sender.Password)); err != nil {
		t.Fatal(err)
	}
	if err := sc.SendMail(sender.Address, []string{victim.Address}, strings.NewReader("Subject: test\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	sc.Quit()

	// Read the trail back until both sessions' events are in.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	seen := map[string]audit.Event{}
	errDone := errors.New("done")
	err = m.Stream(sctx, 1, func(e audit.Event) error {
		seen[e.Action+" "+e.SourceIP] = e
		if _, ok := seen[audit.IMAPFetch+" 203.0.113.7"]; ok {
			if _, ok := seen[audit.SMTPDeliver+" 10.20.1.15"]; ok {
				return errDone
			}
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		keys := []string{}
		for k := range seen {
			keys = append(keys, k)
		}
		t.Fatalf("stream ended (%v) before the expected events; saw %v", err, keys)
	}
	if f := seen[audit.IMAPFetch+" 203.0.113.7"]; f.FileName == "" || f.UserName != victim.Address {
		t.Errorf("imap.fetch of the attachment: %+v", f)
	}
	login := seen[audit.IMAPLogin+" 203.0.113.7"]
	if login.UserName != victim.Address || login.Outcome != audit.Success {
		t.Errorf("imap.login: %+v", login)
	}
	if !login.Timestamp.Equal(at) {
		t.Errorf("imap.login at %s, want the virtual clock's %s", login.Timestamp, at)
	}
	if login.RunID != "md-test" || !strings.HasPrefix(login.ID, "md-test-") {
		t.Errorf("run id: %q %q", login.RunID, login.ID)
	}
	if e, ok := seen[audit.SMTPAuth+" 10.20.1.15"]; !ok || e.UserName != sender.Address {
		t.Errorf("smtp.auth from the staff address: %+v", e)
	}
	n, err := m.Published(ctx)
	if err != nil || n == 0 {
		t.Errorf("published: %d %v", n, err)
	}
}

// TestContainerRefusesUntrustedProxy: only the trusted proxy may name a
// client. With another address trusted, the runner's PROXY header (from
// the gateway) is refused, the session never starts, and the refusal is
// in the trail with the real peer's address.
func TestContainerRefusesUntrustedProxy(t *testing.T) {
	needDocker(t)
	m := startTest(t, Options{ProxyProtocol: true, trusted: "192.0.2.1/32"})
	conn := dialAs(t, m.IMAPAddr, "203.0.113.9:50000", 143)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("got a greeting %q through an untrusted proxy", buf[:n])
	}
	conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errDone := errors.New("done")
	var refused audit.Event
	err := m.Stream(ctx, 1, func(e audit.Event) error {
		if e.SourceIP == "203.0.113.9" {
			t.Errorf("the forged address reached the trail: %+v", e)
		}
		if e.Reason == "proxy_header_refused" {
			refused = e
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("no proxy_header_refused event (%v)", err)
	}
	if refused.SourceIP != m.Gateway.String() {
		t.Errorf("refusal recorded from %q, want the gateway %s", refused.SourceIP, m.Gateway)
	}
}

// TestContainerAdminAPILockedDown: the container's admin API wants the
// token, refuses a rebinding Host and serves no password; the accounts,
// passwords included, come from the --accounts file copied out of the
// container, and they log in.
func TestContainerAdminAPILockedDown(t *testing.T) {
	needDocker(t)
	m := startTest(t, Options{})
	get := func(token, host string) (int, string) {
		req, err := http.NewRequest("GET", m.AdminURL+"/api/users", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	if code, _ := get(m.Token, "rebound.example:8025"); code != http.StatusMisdirectedRequest {
		t.Errorf("rebinding Host: %d, want 421", code)
	}
	code, body := get(m.Token, "")
	if code != http.StatusOK || strings.Contains(strings.ToLower(body), "password") {
		t.Fatalf("GET /api/users: %d %s", code, body)
	}
	victim := person(t, m, 0)
	if victim.Password == "" || strings.Contains(body, victim.Password) {
		t.Fatalf("account %s: password %q, served: %v", victim.Address, victim.Password, strings.Contains(body, victim.Password))
	}
	if !strings.Contains(body, victim.Address) {
		t.Errorf("/api/users does not list %s", victim.Address)
	}
	c, err := imapclient.DialTLS(m.IMAPSAddr, &imapclient.Options{TLSConfig: m.TLSConfig("localhost")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(victim.Address, victim.Password).Wait(); err != nil {
		t.Fatalf("login with the copied-out password: %v", err)
	}
}

// TestContainerSessionLimits: the container keeps the session caps it was
// started with: the IMAP and submission sessions past them, from new
// source addresses, are refused ("* BYE [LIMIT]", 421) and the refusals
// are in the trail.
func TestContainerSessionLimits(t *testing.T) {
	needDocker(t)
	m := startTest(t, Options{ProxyProtocol: true, MaxIMAPSessions: 2, MaxSubmissionSessions: 2})
	greeting := func(addr, src string, port uint16) string {
		t.Helper()
		c := dialAs(t, addr, src, port)
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("%s as %s: no greeting: %v", addr, src, err)
		}
		return line
	}
	for i, src := range []string{"203.0.113.1:40000", "203.0.113.2:40000"} {
		if g := greeting(m.IMAPAddr, src, 143); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("IMAP session %d: %q", i+1, g)
		}
		if g := greeting(m.SubmissionAddr, src, 587); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("submission session %d: %q", i+1, g)
		}
	}
	if g := greeting(m.IMAPAddr, "203.0.113.3:40000", 143); !strings.HasPrefix(g, "* BYE [LIMIT]") {
		t.Errorf("the third IMAP session: %q, want * BYE [LIMIT]", g)
	}
	if g := greeting(m.SubmissionAddr, "203.0.113.3:40000", 587); !strings.HasPrefix(g, "421 ") {
		t.Errorf("the third submission session: %q, want 421", g)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errDone := errors.New("done")
	refused := map[string]bool{}
	err := m.Stream(ctx, 1, func(e audit.Event) error {
		if e.Reason == "limit_sessions" && e.SourceIP == "203.0.113.3" {
			refused[e.ServiceType] = true
		}
		if len(refused) == 2 {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("refusals in the trail: %v (%v)", refused, err)
	}
}
