package tlsio

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/certs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// counted counts the system-level reads and writes under a Conn.
type counted struct {
	net.Conn
	reads, writes atomic.Int64
}

func (c *counted) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

func (c *counted) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// pair is a TLS connection over loopback TCP, both ends Conns.
func pair(t *testing.T) (client, server *Conn, craw, sraw *counted) {
	t.Helper()
	b, err := certs.Generate(t.TempDir(), nil, time.Now())
	require.NoError(t, err)
	cc, sc := tcpPair(t)
	craw, sraw = &counted{Conn: cc}, &counted{Conn: sc}
	client, server = Client(craw, b.ClientConfig("localhost")), Server(sraw, b.TLSConfig)
	t.Cleanup(func() { client.Close(); server.Close() })
	hs := make(chan error, 1)
	go func() { hs <- server.Handshake() }()
	require.NoError(t, client.Handshake())
	require.NoError(t, <-hs)
	return client, server, craw, sraw
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// A large first write, before any handshake: the handshake's flights are
// not held back with the records (that would wait forever).
func TestLargeWriteFirst(t *testing.T) {
	for _, side := range []string{"server", "client"} {
		c, s := tcpPair(t)
		b, err := certs.Generate(t.TempDir(), nil, time.Now())
		require.NoError(t, err)
		var w, r net.Conn = Server(s, b.TLSConfig), Client(c, b.ClientConfig("localhost"))
		if side == "client" {
			w, r = r, w
		}
		want := random(t, 1<<20)
		got := make(chan []byte, 1)
		go func() {
			buf := make([]byte, len(want))
			r.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(r, buf); err != nil {
				got <- nil
				return
			}
			got <- buf
		}()
		w.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = w.Write(want)
		require.NoError(t, err, side)
		require.Equal(t, want, <-got, side)
		w.Close()
		r.Close()
	}
}

// tcpPair is a connected pair of TCP sockets on loopback.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server, ok := <-accepted
	require.True(t, ok, "accepted")
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Every size arrives intact, in order, both ways.
func TestRoundTrip(t *testing.T) {
	client, server, _, _ := pair(t)
	sizes := []int{1, maxRecordPlain, maxRecordPlain + 1, 100 << 10, BatchSize, BatchSize + 3, 3<<20 + 7}
	for _, n := range sizes {
		want := random(t, n)
		errc := make(chan error, 1)
		go func() {
			got := make([]byte, n)
			if _, err := io.ReadFull(server, got); err != nil {
				errc <- err
				return
			}
			_, err := server.Write(got) // echoed as one write
			errc <- err
		}()
		k, err := client.Write(want)
		require.NoError(t, err, "size %d", n)
		require.Equal(t, n, k)
		got := make([]byte, n)
		_, err = io.ReadFull(client, got)
		require.NoError(t, err, "size %d", n)
		require.NoError(t, <-errc)
		require.True(t, bytes.Equal(want, got), "size %d: echoed bytes differ", n)
	}
}

// A write of several records is one system-level write per BatchSize;
// a short one is one write.
func TestWritesBatched(t *testing.T) {
	client, server, craw, _ := pair(t)
	go io.Copy(io.Discard, server)
	for _, tc := range []struct{ size, most int64 }{
		{100, 1},
		{100 << 10, 1},                 // 7 records
		{1 << 20, 1<<20/BatchSize + 1}, // 64 records
	} {
		before := craw.writes.Load()
		_, err := client.Write(random(t, int(tc.size)))
		require.NoError(t, err)
		w := craw.writes.Load() - before
		assert.LessOrEqual(t, w, tc.most, "%d bytes", tc.size)
		assert.Positive(t, w)
	}
}

// Records already in the socket are read with one read, not one each.
func TestReadsInBulk(t *testing.T) {
	client, server, craw, _ := pair(t)
	const n = 48 << 10 // a dozen records (crypto/tls starts with small ones), within a socket's first receive window
	want := random(t, n)
	_, err := server.Write(want)
	require.NoError(t, err)
	// Wait until the whole batch is in the client's socket.
	tcp := craw.Conn.(*net.TCPConn)
	deadline := time.Now().Add(5 * time.Second)
	for {
		rc, err := tcp.SyscallConn()
		require.NoError(t, err)
		var queued int
		rc.Control(func(fd uintptr) { queued = inq(fd) })
		if queued >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := craw.reads.Load()
	got := make([]byte, n)
	_, err = io.ReadFull(client, got)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.LessOrEqual(t, craw.reads.Load()-before, int64(2), "a dozen records read in one or two reads")
}

// fillSocket fills the client's socket towards a server that does not
// read, with fixed buffer sizes so that the kernel makes no more room.
func fillSocket(t *testing.T, craw, sraw *counted) {
	t.Helper()
	require.NoError(t, craw.Conn.(*net.TCPConn).SetWriteBuffer(8<<10))
	require.NoError(t, sraw.Conn.(*net.TCPConn).SetReadBuffer(8<<10))
	require.NoError(t, craw.Conn.SetWriteDeadline(time.Now().Add(300*time.Millisecond)))
	for {
		if _, err := craw.Conn.Write(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	require.NoError(t, craw.Conn.SetWriteDeadline(time.Time{}))
}

// When the batch's last write fails, records crypto/tls counted as sent
// are lost: every later write fails too, even once the socket has room
// (a write then would leave a gap in the stream that the peer rejects).
func TestFailedBatchSticks(t *testing.T) {
	client, _, craw, sraw := pair(t)
	fillSocket(t, craw, sraw)
	require.NoError(t, client.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
	_, err := client.Write(random(t, maxRecordPlain+1)) // two records, one batch
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
	go io.Copy(io.Discard, sraw.Conn) // room again
	require.NoError(t, client.SetWriteDeadline(time.Time{}))
	time.Sleep(100 * time.Millisecond)
	_, err = client.Write([]byte("more"))
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "a write after a failed batch: %v", err)
}

// A batched write that cannot finish reports the socket's error, and
// nothing panics; a Close from another goroutine ends a blocked write.
func TestBatchedWriteErrors(t *testing.T) {
	client, _, _, _ := pair(t) // the server never reads
	require.NoError(t, client.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
	big := random(t, 64<<20)
	_, err := client.Write(big)
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)

	// Close while a batched write waits for the peer, in crypto/tls's
	// buffer or in the batch's final write: both end at once.
	for _, size := range []int{64 << 20, maxRecordPlain + 1} {
		client2, _, craw, sraw := pair(t)
		if size < BatchSize {
			fillSocket(t, craw, sraw) // so that the batch's own write waits
		}
		done := make(chan error, 1)
		go func() { _, err := client2.Write(big[:size]); done <- err }()
		time.Sleep(100 * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- client2.Close() }()
		select {
		case <-closed:
		case <-time.After(2 * time.Second):
			t.Fatalf("%d bytes: Close waited for a blocked write", size)
		}
		select {
		case err := <-done:
			assert.Error(t, err, "%d bytes", size)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d bytes: a write blocked on a closed connection did not return", size)
		}
	}
}

var _ net.Conn = (*Conn)(nil)
var _ = tls.VersionTLS13
