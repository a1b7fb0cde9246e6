package remotetest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/ingest"
)

// TestServer: the stand-in server takes logins and mail, and its log
// reaches an ingester through rsyslog as audit events.
func TestServer(t *testing.T) {
	Gate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var evs []audit.Event
	in, err := ingest.Start(ctx, ingest.Config{Syslog: fmt.Sprintf("tcp://127.0.0.1:%d", port)}, func(e *audit.Event) {
		mu.Lock()
		evs = append(evs, *e)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	s, err := Start(ctx, Options{Dir: t.TempDir(), Domain: "example.test", SyslogPort: port,
		Accounts: []Account{{Address: "a@example.test", Password: "pa", Folders: []string{"Archive"}}, {Address: "b@example.test", Password: "pb"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := imapclient.DialInsecure(s.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("a@example.test", "pa").Wait(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	c.Close()
	sc, err := smtp.Dial(s.SubmissionAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Hello("ws"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Auth(sasl.NewPlainClient("", "a@example.test", "pa")); err != nil {
		t.Fatal(err, s.Log())
	}
	if err := sc.SendMail("a@example.test", []string{"b@example.test", "x@outside.test"}, strings.NewReader("Subject: hi\r\nMessage-Id: <1@x>\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	sc.Quit()
	// A barrier-like login hung up on before its answer is logged at once.
	conn, err := net.Dial("tcp", s.IMAPAddr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	conn.Read(buf)
	fmt.Fprintf(conn, "b LOGIN maildrill-barrier-x-1 x\r\n")
	conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		var login, deliver, outbound bool
		for _, e := range evs {
			login = login || e.Action == audit.IMAPLogin && e.UserName == "a@example.test"
			deliver = deliver || strings.HasPrefix(e.Action, "smtp.") && strings.Contains(e.SMTPRcptTo, "b@example.test")
			outbound = outbound || strings.Contains(e.SMTPRcptTo, "x@outside.test")
		}
		n := len(evs)
		mu.Unlock()
		if login && deliver && outbound && strings.Contains(s.Log(), "maildrill-barrier-x-1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d events (login %v, delivery %v, outbound %v); mail.log:\n%s", n, login, deliver, outbound, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var b strings.Builder
	in.Stats().Summary(&b)
	t.Log(b.String())
	t.Log(s.Log())
}
