package imapd

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/certs"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/store"
)

// fakeBase generates small deterministic messages; every third has a PDF
// attachment.
type fakeBase struct{ counts map[string]uint32 }

func (b fakeBase) Folders(owner string) []store.BaseFolder {
	if _, ok := testAccounts[owner]; !ok {
		return nil
	}
	return []store.BaseFolder{
		{Name: "INBOX", Count: b.counts["INBOX"], UIDValidity: 1},
		{Name: "Sent", SpecialUse: `\Sent`, Count: b.counts["Sent"], UIDValidity: 2},
		{Name: "Archive/2024", SpecialUse: `\Archive`, Count: 3, UIDValidity: 3},
	}
}

func fakeMessage(owner, folder string, uid uint32) []byte {
	subj := fmt.Sprintf("Dossier %d de %s", uid, folder)
	if uid%5 == 0 {
		subj = fmt.Sprintf("Note confidentielle %d", uid)
	}
	if uid%3 != 0 {
		return []byte(fmt.Sprintf("From: chef@interieur.test\r\nTo: %s\r\nSubject: %s\r\nDate: Mon, 01 Dec 2025 10:00:00 +0100\r\nMessage-ID: <%s.%s.%d@interieur.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour, voici le dossier %d.\r\n", owner, subj, folder, owner, uid, uid))
	}
	pdf := strings.Repeat("%PDF-1.4 fake pdf body ", 200)
	return []byte(fmt.Sprintf("From: chef@interieur.test\r\nTo: %s\r\nSubject: %s\r\nDate: Mon, 01 Dec 2025 10:00:00 +0100\r\nMessage-ID: <%s.%s.%d@interieur.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XYZ\r\n\r\n--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCi-joint le dossier %d.\r\n--XYZ\r\nContent-Type: application/pdf; name=\"dossier_%d.pdf\"\r\nContent-Disposition: attachment; filename=\"dossier_%d.pdf\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n--XYZ--\r\n", owner, subj, folder, owner, uid, uid, uid, uid, pdf))
}

func (b fakeBase) Message(owner, folder string, uid uint32) (store.BaseMessage, error) {
	var flags []string
	if uid%2 == 0 {
		flags = []string{`\Seen`}
	}
	return store.BaseMessage{
		InternalDate: time.Date(2025, 12, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(uid) * time.Hour),
		Flags:        flags,
		Raw:          fakeMessage(owner, folder, uid),
	}, nil
}

var testAccounts = map[string]account.Account{
	"director@interieur.test":    {Address: "director@interieur.test", Kind: "person", Delegates: []string{"secretariat@interieur.test"}},
	"secretariat@interieur.test": {Address: "secretariat@interieur.test", Kind: "person"},
	"agent@interieur.test":       {Address: "agent@interieur.test", Kind: "person"},
	"cabinet@interieur.test":     {Address: "cabinet@interieur.test", Kind: "shared", Delegates: []string{"director@interieur.test", "secretariat@interieur.test"}},
}

type fakeDir struct{}

func (fakeDir) Authenticate(u, p string) (string, error) {
	u = strings.ToLower(u)
	a, ok := testAccounts[u]
	if !ok || a.Kind != "person" {
		return "", ErrUnknownUser
	}
	if p != "secret-"+strings.Split(u, "@")[0] {
		return "", ErrInvalidCredentials
	}
	return u, nil
}

func (fakeDir) Account(addr string) (account.Account, bool) {
	a, ok := testAccounts[strings.ToLower(addr)]
	return a, ok
}

func (fakeDir) AccessibleBy(user string) []account.Account {
	var out []account.Account
	for _, a := range testAccounts {
		for _, d := range a.Delegates {
			if d == user {
				out = append(out, a)
			}
		}
	}
	return out
}

type testServer struct {
	srv      *Server
	store    *store.Store
	bus      *audit.Bus
	sub      *audit.Subscription
	addr     string // plaintext
	tlsAddr  string
	certs    *certs.Bundle
	mu       sync.Mutex
	received []*audit.Event
}

type serverOpts struct {
	insecure bool
	inbox    uint32
	quota    int64 // store.Options.QuotaBytes
}

func startServer(t testing.TB, o serverOpts) *testServer {
	t.Helper()
	if o.inbox == 0 {
		o.inbox = 30
	}
	clk := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.FixedZone("CET", 3600)))
	bus := audit.NewBus(clk, audit.BusOptions{RunID: "test"})
	sub := bus.Subscribe()
	st := store.New(fakeBase{counts: map[string]uint32{"INBOX": o.inbox, "Sent": 5}}, clk, store.Options{QuotaBytes: o.quota})
	b, err := certs.Generate(t.TempDir(), []string{"localhost", "127.0.0.1"}, time.Now())
	require.NoError(t, err)
	srv, err := New(Config{Store: st, Directory: fakeDir{}, Bus: bus, TLSConfig: b.TLSConfig, AllowInsecureAuth: o.insecure})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	go srv.ServeTLS(tln)
	ts := &testServer{srv: srv, store: st, bus: bus, sub: sub, addr: ln.Addr().String(), tlsAddr: tln.Addr().String(), certs: b}
	t.Cleanup(func() {
		srv.Close()
		bus.Close()
	})
	return ts
}

// events waits until the bus is idle and returns every event so far.
func (ts *testServer) events(t testing.TB) []*audit.Event {
	t.Helper()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		evs, err := ts.sub.NextBatch(ctx, 0)
		cancel()
		if err != nil {
			break
		}
		ts.received = append(ts.received, evs...)
	}
	return append([]*audit.Event(nil), ts.received...)
}

func actions(evs []*audit.Event, action string) []*audit.Event {
	var out []*audit.Event
	for _, e := range evs {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func (ts *testServer) dialTLS(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(ts.tlsAddr, &imapclient.Options{TLSConfig: ts.certs.ClientConfig("localhost")})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func (ts *testServer) login(t testing.TB, user string) *imapclient.Client {
	t.Helper()
	c := ts.dialTLS(t)
	require.NoError(t, c.Login(user, "secret-"+strings.Split(user, "@")[0]).Wait())
	return c
}
