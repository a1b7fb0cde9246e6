package imapd

import (
	"fmt"
	"io"
	"sync"
	"testing"

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
