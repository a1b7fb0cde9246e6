package imapd

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tcpPair is a connected pair of TCP sockets on loopback.
func tcpPair(t *testing.T) (server *net.TCPConn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		assert.NoError(t, err)
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = (<-accepted).(*net.TCPConn)
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// kernelWrite writes every byte, in order, to a client that reads slowly
// (the socket fills up many times over).
func TestKernelWrite(t *testing.T) {
	server, client := tcpPair(t)
	rc := rawWriterOf(server)
	require.NotNil(t, rc)
	a := make([]byte, 6<<20+17)
	b := make([]byte, 5<<20+3)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range a {
		a[i] = byte(rng.Uint32())
	}
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	want := sha256.Sum256(append(append([]byte{}, a...), b...))
	got := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		buf := make([]byte, 64<<10)
		for n := 0; n < len(a)+len(b); {
			k, err := client.Read(buf)
			if err != nil {
				break
			}
			h.Write(buf[:k])
			n += k
			time.Sleep(50 * time.Microsecond)
		}
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		got <- sum
	}()
	var st kernelWriteState
	n, err := kernelWrite(rc, [][]byte{a, nil, b}, &st)
	require.NoError(t, err)
	assert.Equal(t, int64(len(a)+len(b)), n)
	assert.Equal(t, want, <-got)
	assert.Zero(t, st.polling.Load(), "not waiting any more")
}

// A write to a client that reads nothing waits (and says since when),
// and gives up when the connection is closed or its deadline passes.
func TestKernelWriteGivesUp(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 64<<20)
	// blocked starts writing big to a client that reads nothing and waits
	// until the write waits for room.
	blocked := func(t *testing.T, server *net.TCPConn) (*kernelWriteState, chan error) {
		var st kernelWriteState
		done := make(chan error, 1)
		go func() {
			_, err := kernelWrite(rawWriterOf(server), [][]byte{big}, &st)
			done <- err
		}()
		require.Eventually(t, func() bool { return st.polling.Load() != 0 }, 5*time.Second, time.Millisecond, "waiting for room")
		return &st, done
	}
	t.Run("closed", func(t *testing.T) {
		server, _ := tcpPair(t)
		st, done := blocked(t, server)
		start := time.Now()
		st.closed.Store(true)
		select {
		case err := <-done:
			assert.ErrorIs(t, err, net.ErrClosed)
			assert.Less(t, time.Since(start), 2*time.Second)
		case <-time.After(5 * time.Second):
			t.Fatal("the write did not give up")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		server, _ := tcpPair(t)
		var st kernelWriteState
		st.deadline.Store(time.Now().Add(100 * time.Millisecond).UnixNano())
		done := make(chan error, 1)
		go func() {
			_, err := kernelWrite(rawWriterOf(server), [][]byte{big}, &st)
			done <- err
		}()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
			assert.True(t, isTimeout(err))
		case <-time.After(5 * time.Second):
			t.Fatal("the deadline did not end the write")
		}
	})
	t.Run("client gone", func(t *testing.T) {
		server, client := tcpPair(t)
		_, done := blocked(t, server)
		client.(*net.TCPConn).SetLinger(0)
		client.Close() // a reset
		select {
		case err := <-done:
			require.Error(t, err)
			assert.False(t, errors.Is(err, io.EOF))
		case <-time.After(5 * time.Second):
			t.Fatal("the write did not notice the reset")
		}
	})
}

// Only TCP and Unix stream sockets are written to directly.
func TestRawWriterOf(t *testing.T) {
	server, _ := tcpPair(t)
	assert.NotNil(t, rawWriterOf(server))
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	assert.Nil(t, rawWriterOf(a))
}

// prefixIOV takes the first limit bytes of the buffers, cutting the one
// that crosses the limit, without copying them.
func TestPrefixIOV(t *testing.T) {
	a, b, c := []byte("abcd"), []byte("efg"), []byte("hijkl")
	iov := [][]byte{a, b, c}
	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{1, []string{"a"}},
		{4, []string{"abcd"}},
		{5, []string{"abcd", "e"}},
		{7, []string{"abcd", "efg"}},
		{11, []string{"abcd", "efg", "hijk"}},
		{12, []string{"abcd", "efg", "hijkl"}},
		{1 << 20, []string{"abcd", "efg", "hijkl"}},
	} {
		got := prefixIOV(nil, iov, tc.limit)
		var s []string
		for _, g := range got {
			s = append(s, string(g))
		}
		assert.Equal(t, tc.want, s, "limit %d", tc.limit)
		assert.Same(t, &a[0], &got[0][0], "shares the caller's memory")
	}
	assert.Equal(t, [][]byte{[]byte("abcd"), []byte("efg"), []byte("hijkl")}, iov, "the input is left alone")
}
