package mailsim_test

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/mailsimtest"
)

// Hostile input on every port: random bytes, protocol-shaped garbage, huge
// literals, abrupt disconnects, a slow client. The server must keep serving,
// corrupt nothing and leave no goroutine behind.
func TestHostileInputOnEveryPort(t *testing.T) {
	ms := mailsimtest.New(t, mailsim.Config{AllowInsecureAuth: true})
	acc := ms.Person("")
	before := runtime.NumGoroutine()

	payloads := [][]byte{
		[]byte("a1 LOGIN\r\n"),
		[]byte("a1 APPEND INBOX {4294967296}\r\n"),
		[]byte("a1 ID (\"name\" {999999}\r\n"),
		[]byte("a1 LOGIN " + acc.Address + " " + acc.Password + "\r\na2 SELECT INBOX\r\na3 FETCH 1:* (BODY[] BODY[999] BINARY[1.2.3])\r\na4 APPEND INBOX {10}\r\nshort"),
		[]byte("a1 STARTTLS\r\n\x16\x03\x01\x02\x00garbage-handshake"),
		[]byte("EHLO x\r\nAUTH LOGIN\r\n=====\r\n"),
		[]byte("EHLO x\r\nMAIL FROM:<" + strings.Repeat("a", 70000) + ">\r\n"),
		[]byte("EHLO x\r\nAUTH PLAIN AGZvbwBiYXI=\r\nBDAT 10 LAST\r\n"),
		[]byte("GET /api/events?from=-1 HTTP/1.1\r\nHost: x\r\n\r\n"),
		[]byte(strings.Repeat("\x00\xff", 40000)),
		[]byte("a1 SEARCH CHARSET X-UNKNOWN OR OR OR ((((((((\r\n"),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20; i++ {
		b := make([]byte, rng.IntN(4096)+1)
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		payloads = append(payloads, b)
	}
	addrs := []string{ms.IMAPAddr, ms.IMAPSAddr, ms.SubmissionAddr, ms.MXAddr, ms.AdminAddr}
	for _, addr := range addrs {
		for _, p := range payloads {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			require.NoError(t, err)
			c.SetDeadline(time.Now().Add(300 * time.Millisecond))
			c.Write(p)
			// Read a little of the answer, then hang up abruptly.
			io.CopyN(io.Discard, bufio.NewReader(c), 512)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
		}
	}
	// A slow client holding a connection open without sending anything
	// must not block others.
	slow, err := net.Dial("tcp", ms.IMAPAddr)
	require.NoError(t, err)
	defer slow.Close()

	// The server still works and the mailbox is intact.
	c, err := imapclient.DialTLS(ms.IMAPSAddr, &imapclient.Options{TLSConfig: ms.Certs.ClientConfig("localhost")})
	require.NoError(t, err)
	require.NoError(t, c.Login(acc.Address, acc.Password).Wait())
	sd, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	msgs, err := c.Fetch(imap.SeqSetNum(sd.NumMessages), &imap.FetchOptions{RFC822Size: true}).Collect()
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.NoError(t, c.Logout().Wait())
	c.Close()
	slow.Close()

	// Every connection ended: goroutines return to (about) the baseline.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before+5, "goroutines leaked")

	// Sequence numbers stay gap-free through all of it.
	evs := ms.Events()
	for i, e := range evs {
		require.Equal(t, uint64(i+1), e.Sequence)
	}
	assert.NotEmpty(t, ms.EventsFor(audit.IMAPConnect))
}
