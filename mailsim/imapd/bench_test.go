package imapd

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/require"
)

// BenchmarkBulkFetch measures a whole-mailbox download (UID FETCH 1:*
// BODY.PEEK[]) through the server, its wire shim and loopback TCP, with 1
// and 4 connections downloading at once; MB/s counts message bytes
// received. The fake corpus is small messages (a third with a 4.6 kB
// attachment), so this measures per-message and per-write overhead more
// than raw copying; scripts/bench-dovecot.sh measures the real corpus
// against Dovecot (docs/performance.md).
//
//	go test ./mailsim/imapd -run '^$' -bench BulkFetch -benchtime 20x
func BenchmarkBulkFetch(b *testing.B) {
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			ts := startServer(b, serverOpts{insecure: true, inbox: 600})
			ts.sub.Close() // nobody reads the audit trail here: no backpressure
			clients := make([]*imapclient.Client, conns)
			for i := range clients {
				c, err := imapclient.DialInsecure(ts.addr, nil)
				require.NoError(b, err)
				b.Cleanup(func() { c.Close() })
				require.NoError(b, c.Login("agent@interieur.test", "secret-agent").Wait())
				_, err = c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
				require.NoError(b, err)
				clients[i] = c
			}
			// One pass to warm the store and learn the size of a pass.
			perPass, err := downloadAll(clients[0])
			require.NoError(b, err)
			require.Positive(b, perPass)
			b.SetBytes(perPass * int64(conns))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				var wg sync.WaitGroup
				errs := make([]error, conns)
				for i, c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						n, err := downloadAll(c)
						if err == nil && n != perPass {
							err = fmt.Errorf("pass of %d bytes, want %d", n, perPass)
						}
						errs[i] = err
					}()
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// downloadAll fetches every message of the selected mailbox and returns the
// message bytes received.
func downloadAll(c *imapclient.Client) (int64, error) {
	cmd := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	var n int64
	for {
		m := cmd.Next()
		if m == nil {
			break
		}
		for {
			item := m.Next()
			if item == nil {
				break
			}
			if bs, ok := item.(imapclient.FetchItemDataBodySection); ok && bs.Literal != nil {
				k, err := io.Copy(io.Discard, bs.Literal)
				n += k
				if err != nil {
					cmd.Close()
					return n, err
				}
			}
		}
	}
	return n, cmd.Close()
}

// BenchmarkLiveSearch measures what live searches (CONTEXT=SEARCH, RFC
// 5267 §4) cost a session: one op is another session's STORE of \Seen on
// one message of a 5,000-message INBOX, then a NOOP of the measured session
// that holds 0 or 10 live searches (UNSEEN, evaluated again after every
// change; they are told REMOVEFROM or ADDTO).
//
//	go test ./mailsim/imapd -run '^$' -bench LiveSearch -benchtime 200x
func BenchmarkLiveSearch(b *testing.B) {
	for _, live := range []int{0, 10} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			ts := startServer(b, serverOpts{insecure: true, inbox: 5000})
			ts.sub.Close()
			a := benchLogin(b, ts)
			other := benchLogin(b, ts)
			for i := range live {
				a.do(fmt.Sprintf("u%d", i), "UID SEARCH RETURN (UPDATE) UNSEEN")
			}
			b.ResetTimer()
			i := 0
			for b.Loop() {
				i++
				op := "+"
				if i%2 == 0 {
					op = "-"
				}
				other.do("st", fmt.Sprintf(`UID STORE 1 %sFLAGS.SILENT (\Seen)`, op))
				lines := a.do("n", "NOOP")
				if live > 0 && len(esearchLines(lines)) != live {
					b.Fatalf("%q", lines)
				}
			}
		})
	}
}

func benchLogin(b *testing.B, ts *testServer) *rawConn {
	r := dialRaw(b, ts.addr)
	r.c.SetDeadline(time.Time{}) // a benchmark runs as long as it needs
	r.line()
	r.do("L", "LOGIN agent@interieur.test secret-agent")
	r.do("s", "SELECT INBOX")
	return r
}

// BenchmarkFetchOneFlags measures the probe of scripts/bench-dovecot.sh on
// its own: one op is FETCH n (FLAGS) or UID FETCH n (FLAGS) of one message,
// answered over loopback TCP, in an INBOX of 1,000 or 100,000 messages.
// The set is resolved within its ranges (store.View.ItemsIn), so the
// mailbox's size should not show.
//
//	go test ./mailsim/imapd -run '^$' -bench FetchOneFlags
func BenchmarkFetchOneFlags(b *testing.B) {
	for _, n := range []uint32{1_000, 100_000} {
		ts := startServer(b, serverOpts{insecure: true, inbox: n})
		ts.sub.Close()
		r := benchLogin(b, ts)
		for _, cmd := range []string{"FETCH", "UID FETCH"} {
			b.Run(fmt.Sprintf("messages=%d/%s", n, strings.ReplaceAll(cmd, " ", "_")), func(b *testing.B) {
				i := uint32(0)
				for b.Loop() {
					i++
					lines := r.do("f", fmt.Sprintf("%s %d (FLAGS)", cmd, i%n+1))
					if len(lines) != 2 || !strings.HasPrefix(lines[1], "f OK") {
						b.Fatalf("%q", lines)
					}
				}
			})
		}
	}
}
