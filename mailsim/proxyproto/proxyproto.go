// Package proxyproto implements the PROXY protocol (v1 text and v2 binary,
// as written by HAProxy and read by Dovecot and Postfix) for mailsim's
// listeners, so that a trusted front — the maildrill runner — can tell the
// servers each actor's own source address. Peers outside the trusted
// networks cannot forge an address: their connections are refused.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maildrill/maildrill/mailsim/acceptloop"
)

// v2Sig is the 12-byte signature of a v2 header.
var v2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Header is a parsed PROXY header.
type Header struct {
	Source, Dest netip.AddrPort
	Local        bool // v2 LOCAL command / v1 UNKNOWN: keep the real address
}

// WriteV1 writes a v1 header announcing src → dst. Both addresses are
// written in the header's family, as the protocol wants (a receiver such
// as Dovecot refuses a TCP6 header with an IPv4 address): TCP4 when both
// are IPv4 (or IPv4-mapped), else TCP6 with an IPv4 address written
// IPv4-mapped (::ffff:10.20.0.25).
func WriteV1(w io.Writer, src, dst netip.AddrPort) error {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	fam := "TCP4"
	if !sa.Is4() || !da.Is4() {
		fam = "TCP6"
		sa, da = netip.AddrFrom16(sa.As16()), netip.AddrFrom16(da.As16())
	}
	_, err := fmt.Fprintf(w, "PROXY %s %s %s %d %d\r\n", fam, sa, da, src.Port(), dst.Port())
	return err
}

// Read parses one v1 or v2 header from r.
func Read(r *bufio.Reader) (Header, error) {
	peek, err := r.Peek(12)
	if err != nil {
		return Header{}, fmt.Errorf("proxyproto: reading header: %w", err)
	}
	if bytes.Equal(peek, v2Sig) {
		return readV2(r)
	}
	if !bytes.HasPrefix(peek, []byte("PROXY ")) {
		return Header{}, errors.New("proxyproto: connection does not start with a PROXY header")
	}
	// v1: at most 107 bytes including CRLF.
	var line []byte
	for len(line) < 107 {
		b, err := r.ReadByte()
		if err != nil {
			return Header{}, fmt.Errorf("proxyproto: v1 header: %w", err)
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return Header{}, errors.New("proxyproto: v1 header longer than 107 bytes or not CRLF-terminated")
	}
	f := strings.Fields(string(line[:len(line)-2]))
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return Header{Local: true}, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return Header{}, fmt.Errorf("proxyproto: malformed v1 header %q", strings.TrimSpace(string(line)))
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sp, err3 := strconv.ParseUint(f[4], 10, 16)
	dp, err4 := strconv.ParseUint(f[5], 10, 16)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Header{}, fmt.Errorf("proxyproto: malformed v1 header %q: %w", strings.TrimSpace(string(line)), err)
	}
	for _, a := range []netip.Addr{src, dst} {
		if (f[1] == "TCP4") != a.Is4() {
			return Header{}, fmt.Errorf("proxyproto: v1 header family %s does not match address %s", f[1], a)
		}
	}
	// An IPv4-mapped address in a TCP6 header is the IPv4 client it maps.
	return Header{Source: netip.AddrPortFrom(src.Unmap(), uint16(sp)), Dest: netip.AddrPortFrom(dst.Unmap(), uint16(dp))}, nil
}

func readV2(r *bufio.Reader) (Header, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Header{}, fmt.Errorf("proxyproto: v2 header: %w", err)
	}
	if hdr[12]>>4 != 2 {
		return Header{}, fmt.Errorf("proxyproto: unsupported version %d", hdr[12]>>4)
	}
	cmd := hdr[12] & 0xf
	fam := hdr[13]
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	if n > 536 {
		return Header{}, fmt.Errorf("proxyproto: v2 address block of %d bytes is too long", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return Header{}, fmt.Errorf("proxyproto: v2 addresses: %w", err)
	}
	switch cmd {
	case 0:
		return Header{Local: true}, nil
	case 1:
	default:
		return Header{}, fmt.Errorf("proxyproto: unknown v2 command %d", cmd)
	}
	switch fam >> 4 {
	case 1: // IPv4
		if n < 12 {
			return Header{}, errors.New("proxyproto: short v2 IPv4 block")
		}
		src := netip.AddrFrom4([4]byte(body[0:4]))
		dst := netip.AddrFrom4([4]byte(body[4:8]))
		return Header{Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:10])), Dest: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[10:12]))}, nil
	case 2: // IPv6
		if n < 36 {
			return Header{}, errors.New("proxyproto: short v2 IPv6 block")
		}
		src := netip.AddrFrom16([16]byte(body[0:16]))
		dst := netip.AddrFrom16([16]byte(body[16:32]))
		return Header{Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:34])), Dest: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[34:36]))}, nil
	case 0:
		return Header{Local: true}, nil
	}
	return Header{}, fmt.Errorf("proxyproto: unsupported v2 address family %d", fam>>4)
}

// Listener requires a PROXY header on every connection from a trusted peer
// and refuses every other connection. Headers are read off the accept
// path, so a silent peer never blocks others.
type Listener struct {
	net.Listener
	Trusted []netip.Prefix
	Timeout time.Duration
	// OnRefused is told about refused connections (for the audit trail).
	OnRefused func(remote net.Addr, err error)

	once  sync.Once
	ch    chan net.Conn
	errCh chan error
	done  chan struct{}
}

// NewListener wraps ln. trusted defaults to loopback.
func NewListener(ln net.Listener, trusted []netip.Prefix) *Listener {
	if len(trusted) == 0 {
		trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	return &Listener{Listener: ln, Trusted: trusted, Timeout: 5 * time.Second}
}

func (l *Listener) start() {
	l.ch = make(chan net.Conn)
	l.errCh = make(chan error, 1)
	l.done = make(chan struct{})
	go func() {
		var backoff acceptloop.Backoff
		for {
			c, err := l.Listener.Accept()
			if err != nil {
				// Out of descriptors (EMFILE, ENFILE) or a connection aborted
				// before it was accepted: wait and try again; the listener
				// recovers when descriptors free up. Only a closed listener
				// ends the loop.
				if !errors.Is(err, net.ErrClosed) && acceptloop.Sleep(backoff.Next(), l.done) {
					continue
				}
				l.errCh <- err
				return
			}
			backoff.Reset()
			go l.handshake(c)
		}
	}()
}

func (l *Listener) trusted(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range l.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (l *Listener) handshake(c net.Conn) {
	refuse := func(err error) {
		if l.OnRefused != nil {
			l.OnRefused(c.RemoteAddr(), err)
		}
		c.Close()
	}
	if !l.trusted(c.RemoteAddr()) {
		refuse(fmt.Errorf("proxyproto: %s is not a trusted proxy", c.RemoteAddr()))
		return
	}
	c.SetReadDeadline(time.Now().Add(l.Timeout))
	br := bufio.NewReaderSize(c, 256)
	h, err := Read(br)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		refuse(err)
		return
	}
	pc := &Conn{Conn: c, r: br}
	if !h.Local {
		pc.remote = net.TCPAddrFromAddrPort(h.Source)
		pc.local = net.TCPAddrFromAddrPort(h.Dest)
	}
	select {
	case l.ch <- pc:
	case <-l.done:
		c.Close()
	}
}

// Accept returns the next connection whose header was read.
func (l *Listener) Accept() (net.Conn, error) {
	l.once.Do(l.start)
	select {
	case c := <-l.ch:
		return c, nil
	case err := <-l.errCh:
		l.errCh <- err
		return nil, err
	}
}

// Close stops the listener.
func (l *Listener) Close() error {
	l.once.Do(l.start)
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return l.Listener.Close()
}

// Conn is a connection whose remote address came from a PROXY header.
type Conn struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
	local  net.Addr
}

func (c *Conn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}

// RemoteAddr is the address the proxy announced.
func (c *Conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// LocalAddr is the destination the proxy announced (the front's address).
func (c *Conn) LocalAddr() net.Addr {
	if c.local != nil {
		return c.local
	}
	return c.Conn.LocalAddr()
}

// NetConn returns the underlying connection (for socket-level checks).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// ParsePrefix reads a trusted proxy: a CIDR, or a bare address (one
// host).
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}
