package imapd

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// outBuf is a connection's output buffer: bufio.Writer's behaviour (errors
// stick; a write larger than the buffer, with nothing buffered, goes out
// directly), and one more. A large write (a literal's chunk: a message, an
// attachment) that comes while the buffer holds the start of its response
// (the FETCH line, the end of the previous message) goes out with it in
// one writev, when the destination can (plain TCP, through deadlineConn),
// instead of being copied into the buffer first: on a download of 100 KB
// messages, that copy was a sixth of the server's CPU. Over TLS every
// write is copied into records anyway, and the buffer behaves as bufio's.
//
// Large writes whose bytes stay as they are until released (a bulk
// FETCH's message bodies: WriteStable) are held by reference, with the
// bytes buffered before them sealed in place, and go out together once
// heldMax bytes are held, in one writev: a client reading a download of
// 100 KB messages is woken once per few messages rather than once per
// message (its CPU a byte fell by half or more in a test build that
// buffered them by copying). Functions given to AfterWrite (the release of
// a pooled buffer) run once what is held has been written, or dropped.
type outBuf struct {
	buf  []byte // len: bytes buffered; cap: room left (a window of arr once bytes before it are held)
	arr  []byte // the whole buffer
	dst  io.Writer
	err  error
	done bool // released: every write fails, even after a Reset

	held     net.Buffers // to go out before buf, in order
	heldN    int
	released []func() // run once held is written or dropped
}

// heldMax is how many bytes of stable writes are held before they go out;
// heldBufs bounds the buffers one writev carries (IOV_MAX is 1,024).
const (
	heldMax  = 256 << 10
	heldBufs = 64
)

// buffersWriter is a destination that writes several buffers in one call
// (deadlineConn over TCP: writev).
type buffersWriter interface {
	WriteBuffers(net.Buffers) (int64, error)
}

// directMin is the least write sent with the buffered bytes in one writev
// rather than copied into the buffer.
const directMin = 32 << 10

// connBufSize is the size of a connection's input and output buffers.
const connBufSize = 64 << 10

// outBufs are the output buffers of connections that ended: a day of
// thousands of short sessions otherwise allocates, and clears, 64 KiB
// for each one.
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, connBufSize); return &b }}

// newOutBuf is an output buffer of connBufSize bytes writing to dst.
func newOutBuf(dst io.Writer) *outBuf {
	p := outBufs.Get().(*[]byte)
	return &outBuf{buf: (*p)[:0], arr: (*p)[:0], dst: dst}
}

// release gives the buffer back for another connection; every later
// write or flush fails with net.ErrClosed. The caller holds the
// connection's write lock, as every writer does: nothing can be using
// the buffer, and nothing will again, since b no longer refers to it.
func (b *outBuf) release() {
	if b.done {
		return
	}
	b.dropHeld()
	buf := b.arr[:0]
	b.buf, b.arr, b.err, b.done = nil, nil, net.ErrClosed, true
	if cap(buf) == connBufSize {
		outBufs.Put(&buf)
	}
}

// Reset discards what is buffered or held and any error, and writes to dst.
func (b *outBuf) Reset(dst io.Writer) {
	if b.done {
		return
	}
	b.dropHeld()
	b.buf, b.dst, b.err = b.arr[:0], dst, nil
}

// AfterWrite runs f once the bytes held now have been written (or
// dropped), at once if none are.
func (b *outBuf) AfterWrite(f func()) {
	if len(b.held) == 0 {
		f()
		return
	}
	b.released = append(b.released, f)
}

// WriteStable is Write for bytes that stay as they are until the
// functions given to AfterWrite next run: a large one is held rather than
// written (see outBuf).
func (b *outBuf) WriteStable(p []byte) (int, error) {
	bw, ok := b.dst.(buffersWriter)
	if b.err != nil || len(p) < directMin || !ok {
		return b.Write(p)
	}
	if len(b.buf) > 0 {
		b.held = append(b.held, b.buf) // sealed in place: later bytes go after them
		b.heldN += len(b.buf)
		b.buf = b.buf[len(b.buf):]
	}
	b.held = append(b.held, p)
	b.heldN += len(p)
	if b.heldN >= heldMax || len(b.held) >= heldBufs-2 || cap(b.buf) < 4<<10 {
		if err := b.writeHeld(bw, nil); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// writeHeld writes what is held, what is buffered, then p, in one call,
// and runs the functions waiting for it.
func (b *outBuf) writeHeld(bw buffersWriter, p []byte) error {
	bufs := b.held
	if len(b.buf) > 0 {
		bufs = append(bufs, b.buf)
	}
	if len(p) > 0 {
		bufs = append(bufs, p)
	}
	want := int64(b.heldN + len(b.buf) + len(p))
	n, err := bw.WriteBuffers(bufs)
	if err == nil && n < want {
		err = io.ErrShortWrite
	}
	b.dropHeld()
	b.buf = b.arr[:0]
	if err != nil {
		b.err = err
	}
	return err
}

// dropHeld forgets what is held, written or not, and runs the functions
// waiting for it.
func (b *outBuf) dropHeld() {
	clear(b.held)
	b.held, b.heldN = b.held[:0], 0
	for _, f := range b.released {
		f()
	}
	clear(b.released)
	b.released = b.released[:0]
}

// Buffered is the number of bytes buffered or held.
func (b *outBuf) Buffered() int { return b.heldN + len(b.buf) }

// Flush writes what is buffered.
func (b *outBuf) Flush() error {
	if b.err != nil {
		return b.err
	}
	if len(b.held) > 0 {
		return b.writeHeld(b.dst.(buffersWriter), nil) // only held with one
	}
	if len(b.buf) == 0 {
		return nil
	}
	n, err := b.dst.Write(b.buf)
	if err == nil && n < len(b.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		b.buf = b.buf[:copy(b.buf, b.buf[n:])]
		b.err = err
		return err
	}
	b.buf = b.buf[:0]
	return nil
}

func (b *outBuf) WriteString(s string) (int, error) {
	// Short strings (response lines): copied, as by bufio.Writer.
	nn := 0
	for len(s) > cap(b.buf)-len(b.buf) && b.err == nil {
		k := cap(b.buf) - len(b.buf)
		b.buf = append(b.buf, s[:k]...)
		nn += k
		s = s[k:]
		b.Flush()
	}
	if b.err != nil {
		return nn, b.err
	}
	b.buf = append(b.buf, s...)
	return nn + len(s), nil
}

func (b *outBuf) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(b.held) > 0 && (len(p) >= directMin || len(p) > cap(b.buf)-len(b.buf)) {
		// Behind what is held, in order.
		if err := b.writeHeld(b.dst.(buffersWriter), p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if len(p) >= directMin && len(b.buf) > 0 {
		if bw, ok := b.dst.(buffersWriter); ok {
			return b.writev(bw, p)
		}
	}
	nn := 0
	if k := cap(b.buf) - len(b.buf); len(p) > k && len(b.buf) > 0 {
		// As bufio.Writer: the buffer topped up and written.
		b.buf = append(b.buf, p[:k]...)
		nn, p = k, p[k:]
		if err := b.Flush(); err != nil {
			return nn, err
		}
	}
	if len(p) > cap(b.buf) {
		// Large write, empty buffer: no copy.
		n, err := b.direct(p)
		return nn + n, err
	}
	b.buf = append(b.buf, p...)
	return nn + len(p), nil
}

// direct writes p past the empty buffer.
func (b *outBuf) direct(p []byte) (int, error) {
	n, err := b.dst.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	b.err = err
	return n, err
}

// writev writes what is buffered, then p, in one call.
func (b *outBuf) writev(bw buffersWriter, p []byte) (int, error) {
	held := len(b.buf)
	n, err := bw.WriteBuffers(net.Buffers{b.buf, p})
	if err == nil && n < int64(held+len(p)) {
		err = io.ErrShortWrite
	}
	if err != nil {
		b.err = err
		if n < int64(held) {
			b.buf = b.buf[:copy(b.buf, b.buf[n:])]
			return 0, err
		}
		b.buf = b.buf[:0]
		return int(n - int64(held)), err
	}
	b.buf = b.buf[:0]
	return len(p), nil
}

// A plain connection's output goes out with writev.
var _ buffersWriter = (*deadlineConn)(nil)

// connReaders are the input buffers of connections that ended.
var connReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, connBufSize) }}

// newConnReader is an input buffer of connBufSize bytes reading from src.
func newConnReader(src io.Reader) *bufio.Reader {
	r := connReaders.Get().(*bufio.Reader)
	r.Reset(src)
	return r
}

// releaseConnReader gives r back for another connection once nothing
// reads from it any more.
func releaseConnReader(r *bufio.Reader) {
	if r == nil || r.Size() != connBufSize {
		return
	}
	r.Reset(nil)
	connReaders.Put(r)
}
