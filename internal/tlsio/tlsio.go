// Package tlsio makes TLS connections cheaper on the wire: records
// written together and read in bulk.
//
// crypto/tls writes each record (at most 16 KiB of plaintext) with a
// write(2) of its own and reads records about one at a time. On loopback,
// where maildrill's clients and servers meet, a 16 KiB write costs the
// kernel nearly twice the CPU per byte of a large one, and a download of
// a few MB is hundreds of system calls on each side. A Conn gathers the
// records of one large Write (up to BatchSize at a time) and reads what
// the socket holds (up to BatchSize) at each read once a read has found
// more waiting than it could take, from a buffer kept only while it holds
// unread bytes.
package tlsio

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// BatchSize is the most a Conn gathers before writing, and the most it
// reads from the socket at once.
const BatchSize = 256 << 10

// maxRecordPlain is the most plaintext a TLS record carries: a Write no
// longer than that is one record, and is not batched.
const maxRecordPlain = 16 << 10

var bufs = sync.Pool{New: func() any { b := make([]byte, BatchSize); return &b }}

// Conn is a TLS connection whose large writes go out in batches of
// records, and whose records are read in bulk.
type Conn struct {
	*tls.Conn
	raw *rawConn

	batching atomic.Int32 // batched Writes in progress
}

// Client is tls.Client over conn, batched.
func Client(conn net.Conn, cfg *tls.Config) *Conn {
	raw := &rawConn{Conn: conn}
	return &Conn{Conn: tls.Client(raw, cfg), raw: raw}
}

// Server is tls.Server over conn, batched.
func Server(conn net.Conn, cfg *tls.Config) *Conn {
	raw := &rawConn{Conn: conn}
	return &Conn{Conn: tls.Server(raw, cfg), raw: raw}
}

// Write writes p; when it takes more than one record, the records are
// written together. When that write fails, records tls.Conn counted as
// written may not have gone out: Write reports 0 bytes and the error, and
// the connection is unusable, as after any failed write.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) <= maxRecordPlain {
		return c.Conn.Write(p)
	}
	// The handshake's flights must go out as they are made (the peer
	// answers them), so it is done first, unbatched.
	if err := c.Conn.Handshake(); err != nil {
		return 0, err
	}
	c.batching.Add(1)
	defer c.batching.Add(-1)
	c.raw.arm()
	n, err := c.Conn.Write(p)
	if ferr := c.raw.disarm(); err == nil && ferr != nil {
		return 0, ferr
	}
	return n, err
}

// Close closes the connection. As tls.Conn.Close does when a Write is in
// progress, it closes the socket without a close_notify when a batched
// Write is: the alert would wait for that Write's records to go out.
func (c *Conn) Close() error {
	if c.batching.Load() > 0 {
		return c.raw.Conn.Close()
	}
	return c.Conn.Close()
}

// rawConn is the socket under the tls.Conn. While armed (one large Write)
// the records are gathered and written BatchSize at a time; otherwise
// (the handshake, alerts, short writes) every write goes straight
// through. Reads take what the socket holds, up to BatchSize, when the
// read before filled its buffer.
type rawConn struct {
	net.Conn

	wmu   sync.Mutex
	armed bool
	wbuf  []byte // from bufs while armed, len the bytes gathered
	werr  error  // the first failed write: every later write fails with it

	// Only tls.Conn reads, under its own lock.
	rbuf *[]byte // from bufs while it holds unread bytes
	r, w int     // unread: (*rbuf)[r:w]
	more bool    // the last read from the socket filled its buffer
}

func (c *rawConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		// Records already counted as sent were lost: the stream cannot
		// go on (a later write would leave a gap the peer rejects).
		return 0, c.werr
	}
	if !c.armed {
		n, err := c.Conn.Write(p)
		c.werr = err
		return n, err
	}
	if c.wbuf == nil {
		c.wbuf = (*bufs.Get().(*[]byte))[:0]
	}
	if len(c.wbuf)+len(p) > cap(c.wbuf) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(c.wbuf) {
			n, err := c.Conn.Write(p)
			c.werr = err
			return n, err
		}
	}
	c.wbuf = append(c.wbuf, p...)
	return len(p), nil
}

func (c *rawConn) arm() {
	c.wmu.Lock()
	c.armed = true
	c.wmu.Unlock()
}

// disarm writes what was gathered, gives the buffer back and reports the
// write's error.
func (c *rawConn) disarm() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.armed = false
	err := c.flushLocked()
	if c.wbuf != nil {
		b := c.wbuf[:cap(c.wbuf)]
		c.wbuf = nil
		bufs.Put(&b)
	}
	return err
}

func (c *rawConn) flushLocked() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	if c.werr != nil {
		c.wbuf = c.wbuf[:0]
		return c.werr
	}
	n, err := c.Conn.Write(c.wbuf)
	if err == nil && n < len(c.wbuf) {
		err = io.ErrShortWrite
	}
	c.wbuf = c.wbuf[:0]
	c.werr = err
	return err
}

func (c *rawConn) Read(p []byte) (int, error) {
	if c.rbuf == nil {
		// A buffer is taken only when the last read filled what it was
		// given, so that more is likely waiting: a connection idle in a
		// read (a server's, waiting for the next command) holds none.
		if !c.more || len(p) >= BatchSize/2 {
			n, err := c.Conn.Read(p)
			c.more = n == len(p)
			return n, err
		}
		b := bufs.Get().(*[]byte)
		n, err := c.Conn.Read(*b)
		c.more = n == len(*b)
		if n <= len(p) {
			copy(p, (*b)[:n])
			bufs.Put(b)
			return n, err
		}
		// More than asked for: keep the rest. An error with data is
		// reported by the next read from the socket, as net.Conn allows.
		c.rbuf, c.r, c.w = b, 0, n
	}
	n := copy(p, (*c.rbuf)[c.r:c.w])
	c.r += n
	if c.r == c.w {
		bufs.Put(c.rbuf)
		c.rbuf = nil
	}
	return n, nil
}
