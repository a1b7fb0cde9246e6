package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadV1V2(t *testing.T) {
	src := netip.MustParseAddrPort("203.0.113.7:51544")
	dst := netip.MustParseAddrPort("10.20.0.10:993")
	var b bytes.Buffer
	require.NoError(t, WriteV1(&b, src, dst))
	b.WriteString("a1 CAPABILITY\r\n")
	br := bufio.NewReader(&b)
	h, err := Read(br)
	require.NoError(t, err)
	assert.Equal(t, src, h.Source)
	assert.Equal(t, dst, h.Dest)
	rest, _ := io.ReadAll(br)
	assert.Equal(t, "a1 CAPABILITY\r\n", string(rest))

	v2 := append([]byte{}, v2Sig...)
	v2 = append(v2, 0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 20, 0, 10)
	v2 = binary.BigEndian.AppendUint16(v2, 40000)
	v2 = binary.BigEndian.AppendUint16(v2, 143)
	h, err = Read(bufio.NewReader(bytes.NewReader(v2)))
	require.NoError(t, err)
	assert.Equal(t, "198.51.100.9:40000", h.Source.String())

	for _, bad := range []string{"a1 LOGIN x y\r\n", "PROXY TCP4 1.2.3.4\r\n", "PROXY TCP4 ::1 ::1 1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n", "PROXY " + strings.Repeat("x", 200)} {
		_, err := Read(bufio.NewReader(strings.NewReader(bad)))
		assert.Error(t, err, bad)
	}
}

// A header is in one family, both addresses: an IPv6 client reaching an
// IPv4 service announces the service IPv4-mapped (Dovecot resets a TCP6
// header whose local address is IPv4: "Proxied local address is
// invalid"), and the reader refuses a header whose addresses differ in
// family, as Dovecot does.
func TestV1OneFamily(t *testing.T) {
	for _, c := range []struct{ src, dst, line, readSrc, readDst string }{
		{"203.0.113.7:51544", "10.20.0.25:993", "PROXY TCP4 203.0.113.7 10.20.0.25 51544 993\r\n", "203.0.113.7:51544", "10.20.0.25:993"},
		{"[2001:db8:77::2d86]:40001", "10.20.0.25:993", "PROXY TCP6 2001:db8:77::2d86 ::ffff:10.20.0.25 40001 993\r\n", "[2001:db8:77::2d86]:40001", "10.20.0.25:993"},
		{"203.0.113.7:51544", "[2001:db8::25]:143", "PROXY TCP6 ::ffff:203.0.113.7 2001:db8::25 51544 143\r\n", "203.0.113.7:51544", "[2001:db8::25]:143"},
		{"[::ffff:203.0.113.7]:51544", "[::ffff:10.20.0.25]:993", "PROXY TCP4 203.0.113.7 10.20.0.25 51544 993\r\n", "203.0.113.7:51544", "10.20.0.25:993"},
		{"[2001:db8::1]:1", "[2001:db8::2]:2", "PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n", "[2001:db8::1]:1", "[2001:db8::2]:2"},
	} {
		var b bytes.Buffer
		require.NoError(t, WriteV1(&b, netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst)))
		assert.Equal(t, c.line, b.String())
		h, err := Read(bufio.NewReader(&b))
		require.NoError(t, err, c.line)
		assert.Equal(t, c.readSrc, h.Source.String())
		assert.Equal(t, c.readDst, h.Dest.String())
	}
	for _, bad := range []string{
		"PROXY TCP6 2001:db8::1 10.20.0.25 40001 993\r\n",
		"PROXY TCP4 203.0.113.7 2001:db8::25 1 2\r\n",
		"PROXY TCP4 203.0.113.7 ::ffff:10.20.0.25 1 2\r\n",
	} {
		_, err := Read(bufio.NewReader(strings.NewReader(bad)))
		assert.ErrorContains(t, err, "does not match address", bad)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(append(append([]byte{}, v2Sig...), 0x21, 0x11, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		Read(bufio.NewReader(bytes.NewReader(b)))
	})
}

func TestListenerTrust(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := make(chan error, 4)
	ln := NewListener(raw, nil)
	ln.Timeout = 300 * time.Millisecond
	ln.OnRefused = func(_ net.Addr, err error) { refused <- err }
	defer ln.Close()

	// A silent client does not block the next one.
	silent, err := net.Dial("tcp", raw.Addr().String())
	require.NoError(t, err)
	defer silent.Close()

	c, err := net.Dial("tcp", raw.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	WriteV1(c, netip.MustParseAddrPort("10.20.3.4:40001"), netip.MustParseAddrPort("127.0.0.1:143"))
	c.Write([]byte("hello"))
	sc, err := ln.Accept()
	require.NoError(t, err)
	assert.Equal(t, "10.20.3.4:40001", sc.RemoteAddr().String())
	buf := make([]byte, 5)
	_, err = io.ReadFull(sc, buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf))
	sc.Close()
	select {
	case err := <-refused:
		assert.Contains(t, err.Error(), "header")
	case <-time.After(3 * time.Second):
		t.Fatal("silent client not refused after the timeout")
	}

	// Untrusted networks are refused even with a header.
	ln2 := NewListener(raw, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	assert.False(t, ln2.trusted(&net.TCPAddr{IP: net.ParseIP("127.0.0.1")}))
}

// emfileListener fails its first n Accepts as a process out of file
// descriptors does, then hands out real connections.
type emfileListener struct {
	net.Listener
	n atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestListenerRecoversFromEMFILE: running out of descriptors is
// transient; the listener used to stop for good on the first failure.
func TestListenerRecoversFromEMFILE(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fl := &emfileListener{Listener: raw}
	fl.n.Store(5)
	ln := NewListener(fl, nil)
	defer ln.Close()
	c, err := net.Dial("tcp", raw.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	WriteV1(c, netip.MustParseAddrPort("10.20.3.4:40001"), netip.MustParseAddrPort("127.0.0.1:143"))
	sc, err := ln.Accept()
	require.NoError(t, err)
	defer sc.Close()
	assert.Equal(t, "10.20.3.4:40001", sc.RemoteAddr().String())
	assert.Less(t, fl.n.Load(), int32(0), "the failing accepts were retried")

	// Closing still ends Accept.
	ln.Close()
	_, err = ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}
