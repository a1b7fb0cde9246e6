package smtpd_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/certs"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/smtpd"
)

func FuzzLoginServer(f *testing.F) {
	f.Add(true, []byte("jean.dupont@interieur.test"), []byte(""), []byte("Marianne-2025"), []byte("extra"))
	f.Add(false, []byte(""), []byte("jdupont"), []byte("pw"), []byte(""))
	f.Add(false, []byte(nil), []byte("\x00\xff"), []byte("\r\n"), []byte(nil))
	f.Add(true, []byte{}, []byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, withIR bool, ir, user, pass, extra []byte) {
		var gotUser, gotPass string
		calls := 0
		srv := smtpd.NewLoginServer(func(u, p string) error {
			calls++
			gotUser, gotPass = u, p
			if u == "jdupont" && p == "pw" {
				return nil
			}
			return smtpd.ErrInvalidCredentials
		})
		wantUser := string(user)
		if withIR {
			if ir == nil {
				ir = []byte{}
			}
			wantUser = string(ir)
			ch, done, err := srv.Next(ir)
			if err != nil || done || string(ch) != "Password:" {
				t.Fatalf("IR step: %q %v %v", ch, done, err)
			}
		} else {
			ch, done, err := srv.Next(nil)
			if err != nil || done || string(ch) != "Username:" {
				t.Fatalf("first step: %q %v %v", ch, done, err)
			}
			if user == nil {
				user = []byte{}
			}
			ch, done, err = srv.Next(user)
			if err != nil || done || string(ch) != "Password:" {
				t.Fatalf("user step: %q %v %v", ch, done, err)
			}
		}
		if srv.Username() != wantUser {
			t.Fatalf("Username() = %q, want %q", srv.Username(), wantUser)
		}
		if pass == nil {
			pass = []byte{}
		}
		ch, done, err := srv.Next(pass)
		if !done || ch != nil {
			t.Fatalf("password step: %q %v", ch, done)
		}
		if calls != 1 || gotUser != wantUser || gotPass != string(pass) {
			t.Fatalf("authenticator got (%q, %q) in %d calls, want (%q, %q)", gotUser, gotPass, calls, wantUser, pass)
		}
		if ok := wantUser == "jdupont" && string(pass) == "pw"; ok != (err == nil) {
			t.Fatalf("outcome err=%v for (%q, %q)", err, wantUser, pass)
		}
		if _, done, err := srv.Next(extra); err == nil || !done {
			t.Fatalf("response after the end accepted: done=%v err=%v", done, err)
		}
		if calls != 1 {
			t.Fatalf("authenticator called %d times", calls)
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(testMessage(jean, outsider, "Budget")))
	f.Add([]byte("Subject: =?iso-8859-1?q?R=E9union?=\r\n\r\nbody"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Disposition: attachment; filename=a.exe; filename=b.pdf\r\n\r\nMZ\r\n--x--\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: application/octet-stream; name=\"=?utf-8?b?ZmFjdHVyZS5wZGYuZXhl?=\"\r\n\r\nMZ\r\n--x\r\nContent-Type: image/png\r\n\r\n--x--\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Disposition: inline; filename*0*=utf-8''r%C3%A9sum; filename*1=\".docm\"\r\n\r\nx\r\n--b--\r\n--a--\r\n"))
	f.Add([]byte("Message-ID: <a@b>\r\nSubject: \x00\x01bell\a\r\n\r\n"))
	f.Add([]byte("no header at all"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		info := smtpd.ParseMessage(raw)
		if info.AttachmentCount < len(info.Attachments) {
			t.Fatalf("count %d < %d names", info.AttachmentCount, len(info.Attachments))
		}
		if len(info.Attachments) > 100 {
			t.Fatalf("%d names", len(info.Attachments))
		}
		for _, n := range info.Attachments {
			checkClean(t, "attachment name", n, 255)
			if n == "" || strings.TrimSpace(n) != n {
				t.Fatalf("untrimmed or empty name %q", n)
			}
		}
		checkClean(t, "subject", info.Subject, 998)
		checkClean(t, "message id", info.MessageID, 998)
	})
}

// FuzzParseMessageLimits checks the bounded MIME walk: never a panic, only
// the two limit errors, and the limits hold. Small limits, so the fuzzer
// reaches them.
func FuzzParseMessageLimits(f *testing.F) {
	f.Add([]byte(testMessage(jean, outsider, "Budget")))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n--a--\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n1\r\n--x\r\n\r\n2\r\n--x\r\n\r\n3\r\n--x--\r\n"))
	f.Add([]byte("From: =?utf-8?q?Jean?= <JEAN@interieur.test>, other@x.test\r\n\r\n"))
	f.Add([]byte("From: broken <<a@b.test\r\n\r\n"))
	const maxDepth, maxParts = 4, 8
	f.Fuzz(func(t *testing.T, raw []byte) {
		info, err := smtpd.ParseMessageLimits(raw, maxDepth, maxParts)
		if err != nil && !errors.Is(err, smtpd.ErrMIMETooDeep) && !errors.Is(err, smtpd.ErrMIMETooManyParts) {
			t.Fatalf("unexpected error %v", err)
		}
		if info.AttachmentCount > maxParts {
			t.Fatalf("%d attachments with %d parts at most", info.AttachmentCount, maxParts)
		}
		checkClean(t, "from", info.From, 320)
		checkClean(t, "subject", info.Subject, 998)
		// The same message within the default limits is never refused
		// for a reason the small limits did not see.
		if err == nil {
			if _, err2 := smtpd.ParseMessageLimits(raw, smtpd.DefaultMaxMIMEDepth, smtpd.DefaultMaxMIMEParts); err2 != nil {
				t.Fatalf("accepted within %d/%d, refused within the defaults: %v", maxDepth, maxParts, err2)
			}
		}
	})
}

func checkClean(t *testing.T, what, s string, max int) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%s not UTF-8: %q", what, s)
	}
	if len(s) > max {
		t.Fatalf("%s longer than %d: %d", what, max, len(s))
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			t.Fatalf("%s holds control character: %q", what, s)
		}
	}
}

// sessionFuzzer is one server shared by every input of FuzzSession.
type sessionFuzzer struct {
	srv    *smtpd.Server
	addrs  []string
	sub    *audit.Subscription
	panics *panicCatcher
}

// panicCatcher records go-smtp's "panic serving" log lines: go-smtp
// recovers panics in session code and would hide them.
type panicCatcher struct {
	mu  sync.Mutex
	msg string
}

func (p *panicCatcher) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicCatcher) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *panicCatcher) WithGroup(string) slog.Handler            { return p }
func (p *panicCatcher) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		p.mu.Lock()
		p.msg = r.Message
		p.mu.Unlock()
	}
	return nil
}

func (p *panicCatcher) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.msg
	p.msg = ""
	return m
}

func startSessionFuzzer(f *testing.F) *sessionFuzzer {
	f.Helper()
	fz := &sessionFuzzer{panics: &panicCatcher{}}
	bus := audit.NewBus(clock.NewVirtual(scenarioStart), audit.BusOptions{})
	fz.sub = bus.Subscribe()
	b, err := certs.Generate(f.TempDir(), nil, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	fz.srv, err = smtpd.New(smtpd.Config{
		Domain:            domain,
		Backend:           newFakeBackend(),
		Bus:               bus,
		TLSConfig:         b.TLSConfig,
		AllowInsecureAuth: true,
		MaxMessageBytes:   64 << 10,
		ReadTimeout:       2 * time.Second,
		Logger:            slog.New(fz.panics),
		Outbox:            smtpd.NewOutbox(1 << 20),
	})
	if err != nil {
		f.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, serve := range []func(net.Listener) error{fz.srv.ServeSubmission, fz.srv.ServeMX} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.Fatal(err)
		}
		fz.addrs = append(fz.addrs, ln.Addr().String())
		wg.Add(1)
		go func() { defer wg.Done(); _ = serve(ln) }()
	}
	f.Cleanup(func() {
		if err := fz.srv.Close(); err != nil {
			f.Error(err)
		}
		wg.Wait()
		fz.sub.Close()
		bus.Close()
	})
	return fz
}

// FuzzSession throws arbitrary client input at both listeners and checks
// the server neither panics nor loses track of the session.
func FuzzSession(f *testing.F) {
	seeds := []string{
		"EHLO x\r\nAUTH LOGIN\r\n" + b64(jean) + "\r\n" + b64(jeanPass) + "\r\nMAIL FROM:<" + jean + ">\r\nRCPT TO:<" + outsider + ">\r\nDATA\r\n" + testMessage(jean, outsider, "s") + ".\r\n",
		"EHLO x\r\nAUTH PLAIN " + b64("\x00"+jean+"\x00"+jeanPass) + "\r\nMAIL FROM:<" + cabinet + ">\r\nRCPT TO:<" + marie + ">\r\nBDAT 5 LAST\r\nhello",
		"HELO x\r\nMAIL FROM:<a@b> SIZE=999999999\r\nRCPT TO:<" + marie + ">\r\nDATA\r\n.\r\n",
		"EHLO x\r\nAUTH XOAUTH2 abc\r\nAUTH LOGIN *\r\n*\r\nAUTH PLAIN\r\n=\r\n",
		"EHLO x\r\nSTARTTLS\r\n\x16\x03\x01\x00\x05hello",
		"\x00\xff\xfe\r\n\r\n\r\nQUIT\r\n",
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	fz := startSessionFuzzer(f)
	f.Fuzz(func(t *testing.T, port uint8, input []byte) {
		addr := fz.addrs[int(port)%len(fz.addrs)]
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			_, _ = conn.Write(input)
			_, _ = conn.Write([]byte("\r\nQUIT\r\n"))
			_ = conn.(*net.TCPConn).CloseWrite()
		}()
		_, err = io.Copy(io.Discard, conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("server kept the session open")
		}
		// Read this session's events up to its disconnect.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var id string
		for {
			e, err := fz.sub.Next(ctx)
			if err != nil {
				t.Fatalf("no disconnect event: %v", err)
			}
			if e.SessionID == "" || e.ServiceType != "smtp" {
				t.Fatalf("event without session: %+v", e)
			}
			if e.Action == audit.SMTPConnect {
				id = e.SessionID
			} else if e.SessionID != id {
				t.Fatalf("event of session %s inside session %s: %s", e.SessionID, id, summary(e))
			}
			if e.Action == audit.SMTPDisconnect {
				break
			}
		}
		if p := fz.panics.take(); p != "" {
			t.Fatalf("server panicked: %s", p)
		}
	})
}
