package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a destination that records its writes; with vec, it also
// writes several buffers in one call. After limit bytes, it fails.
type recorder struct {
	out          bytes.Buffer
	writes, vecs int
	limit        int
}

var errFull = errors.New("full")

func (r *recorder) Write(p []byte) (int, error) {
	r.writes++
	if r.limit > 0 && r.out.Len()+len(p) > r.limit {
		n := r.limit - r.out.Len()
		r.out.Write(p[:n])
		return n, errFull
	}
	return r.out.Write(p)
}

type vecRecorder struct{ *recorder }

func (r vecRecorder) WriteBuffers(bufs net.Buffers) (int64, error) {
	r.vecs++
	var n int64
	for _, b := range bufs {
		k, err := r.recorder.Write(b)
		r.writes--
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Whatever the mix of writes, the destination receives the same bytes in
// the same order, with or without writev; large writes behind buffered
// bytes go out with them in one writev when the destination can.
func TestOutBufKeepsTheStream(t *testing.T) {
	for _, vec := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(1, 2))
		rec := &recorder{}
		var dst io.Writer = rec
		if vec {
			dst = vecRecorder{rec}
		}
		b := newOutBuf(dst)
		var want bytes.Buffer
		for i := range 2000 {
			n := rng.IntN(100)
			switch rng.IntN(4) {
			case 0:
				n = rng.IntN(200 << 10)
			case 1:
				n = directMin + rng.IntN(1024)
			}
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(i + j)
			}
			want.Write(p)
			if rng.IntN(2) == 0 {
				k, err := b.Write(p)
				require.NoError(t, err)
				require.Equal(t, n, k)
			} else {
				k, err := b.WriteString(string(p))
				require.NoError(t, err)
				require.Equal(t, n, k)
			}
			if rng.IntN(10) == 0 {
				require.NoError(t, b.Flush())
			}
		}
		require.NoError(t, b.Flush())
		assert.Zero(t, b.Buffered())
		assert.True(t, bytes.Equal(want.Bytes(), rec.out.Bytes()), "vec %v", vec)
		if vec {
			assert.Positive(t, rec.vecs)
		} else {
			assert.Zero(t, rec.vecs)
		}
	}

	// The FETCH line, then the message: one writev, nothing copied.
	rec := &recorder{}
	b := newOutBuf(vecRecorder{rec})
	b.WriteString(fmt.Sprintf("* 1 FETCH (BODY[] {%d}\r\n", directMin))
	msg := bytes.Repeat([]byte("x"), directMin)
	n, err := b.Write(msg)
	require.NoError(t, err)
	assert.Equal(t, directMin, n)
	assert.Equal(t, 1, rec.vecs)
	assert.Zero(t, rec.writes)
	assert.Zero(t, b.Buffered())
	// A small chunk is buffered.
	b.Write([]byte(")\r\n"))
	assert.Equal(t, 3, b.Buffered())
	assert.Equal(t, 1, rec.vecs)
}

// A failed write sticks, as with bufio.Writer; a writev counts only the
// bytes of the caller's slice that went out.
func TestOutBufErrorsStick(t *testing.T) {
	for _, vec := range []bool{false, true} {
		rec := &recorder{limit: 10 + directMin/2}
		var dst io.Writer = rec
		if vec {
			dst = vecRecorder{rec}
		}
		b := newOutBuf(dst)
		_, err := b.WriteString("0123456789")
		require.NoError(t, err)
		p := bytes.Repeat([]byte("y"), directMin*5)
		n, err := b.Write(p)
		require.ErrorIs(t, err, errFull, "vec %v", vec)
		if vec {
			assert.Equal(t, directMin/2, n, "the bytes of p written")
		} else {
			// as bufio.Writer counts: what was copied into the buffer
			assert.Less(t, n, len(p))
		}
		_, err = b.Write([]byte("z"))
		assert.ErrorIs(t, err, errFull)
		assert.ErrorIs(t, b.Flush(), errFull)
		_, err = b.WriteString("z")
		assert.ErrorIs(t, err, errFull)
		assert.Equal(t, 10+directMin/2, rec.out.Len(), "nothing more written")
		b.Reset(io.Discard)
		_, err = b.WriteString("again")
		assert.NoError(t, err)
		assert.NoError(t, b.Flush())
	}
}

// A released output buffer fails every later write and flush, even after
// a Reset (STARTTLS resets the writer), and never hangs; the buffer goes
// to the next connection, empty.
func TestOutBufRelease(t *testing.T) {
	rec := &recorder{}
	b := newOutBuf(rec)
	require.Equal(t, connBufSize, cap(b.buf))
	_, err := b.WriteString("* OK ready\r\n")
	require.NoError(t, err)
	require.NoError(t, b.Flush())
	_, err = b.WriteString("a1 OK done\r\n") // left buffered
	require.NoError(t, err)
	b.release()
	b.release() // harmless
	assert.Nil(t, b.buf, "the buffer is no longer b's")
	for _, step := range []func() error{
		func() error { _, err := b.Write([]byte("x")); return err },
		func() error { _, err := b.Write(make([]byte, 100<<10)); return err },
		func() error { _, err := b.WriteString("* BYE\r\n"); return err },
		b.Flush,
		func() error { b.Reset(rec); _, err := b.WriteString("after reset\r\n"); return err },
		func() error { b.Reset(rec); return b.Flush() },
	} {
		assert.ErrorIs(t, step(), net.ErrClosed)
	}
	assert.Equal(t, "* OK ready\r\n", rec.out.String(), "nothing written after the release")

	next := newOutBuf(rec)
	assert.Equal(t, connBufSize, cap(next.buf))
	assert.Zero(t, next.Buffered())
}

// A connection's reader goes back for reuse and reads the next
// connection's bytes only.
func TestConnReaderReuse(t *testing.T) {
	releaseConnReader(nil) // harmless
	r := newConnReader(bytes.NewReader([]byte("a1 LOGIN x y\r\na2 SELECT INBOX\r\n")))
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "a1 LOGIN x y\r\n", line)
	require.Positive(t, r.Buffered(), "the rest of the first connection's bytes are buffered")
	releaseConnReader(r)
	r2 := newConnReader(bytes.NewReader([]byte("b1 NOOP\r\n")))
	assert.Equal(t, connBufSize, r2.Size())
	all, err := io.ReadAll(r2)
	require.NoError(t, err)
	assert.Equal(t, "b1 NOOP\r\n", string(all))
	// A reader of another size is not kept.
	small := bufio.NewReaderSize(nil, 4096)
	releaseConnReader(small)
	assert.Equal(t, connBufSize, newConnReader(nil).Size())
}

// Stable writes are held and sent several at a time, after the bytes
// before them and before those after them; a held buffer is released only
// once it was written: a release that came early would let the scribbling
// below reach the stream.
func TestOutBufHoldsStableWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rec := &recorder{}
	b := newOutBuf(vecRecorder{rec})
	var want bytes.Buffer
	stable, released := 0, 0
	for i := range 3000 {
		n := rng.IntN(100)
		kind := rng.IntN(5)
		switch kind {
		case 0, 1:
			n = directMin + rng.IntN(100<<10)
		case 2:
			n = rng.IntN(40 << 10)
		}
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i + j)
		}
		want.Write(p)
		switch kind {
		case 0:
			k, err := b.WriteStable(p)
			require.NoError(t, err)
			require.Equal(t, n, k)
			stable++
			written := want.Len()
			b.AfterWrite(func() {
				require.GreaterOrEqual(t, rec.out.Len(), written, "released before it was written")
				released++
				for j := range p {
					p[j] = '!' // the pool hands the buffer to someone else
				}
			})
		case 3:
			_, err := b.WriteString(string(p))
			require.NoError(t, err)
		default:
			_, err := b.Write(p)
			require.NoError(t, err)
		}
		if rng.IntN(40) == 0 {
			require.NoError(t, b.Flush())
			require.Equal(t, stable, released, "a flush writes and releases everything held")
		}
	}
	require.NoError(t, b.Flush())
	assert.Zero(t, b.Buffered())
	assert.Equal(t, stable, released)
	assert.True(t, bytes.Equal(want.Bytes(), rec.out.Bytes()), "the stream in order, nothing scribbled on")

	// A download of 100 messages of 75 KB: a writev for every three or
	// four, not one each.
	rec = &recorder{}
	b = newOutBuf(vecRecorder{rec})
	msg := bytes.Repeat([]byte("m"), 75<<10)
	for i := range 100 {
		_, err := b.WriteString(fmt.Sprintf("* %d FETCH (UID %d BINARY[2] {%d}\r\n", i+1, i+1, len(msg)))
		require.NoError(t, err)
		_, err = b.WriteStable(msg)
		require.NoError(t, err)
		_, err = b.WriteString(")\r\n")
		require.NoError(t, err)
	}
	require.NoError(t, b.Flush())
	assert.Equal(t, 100*len(msg), bytes.Count(rec.out.Bytes(), []byte("m")))
	assert.LessOrEqual(t, rec.writes, 1, "the last bytes, if nothing is held")
	assert.LessOrEqual(t, rec.vecs, 34, "at least three messages a writev")
	assert.GreaterOrEqual(t, rec.vecs, 25, "at most heldMax and a message a writev")

	// Without writev (TLS), nothing is held: the bytes are written or
	// copied, and the release comes at once.
	rec = &recorder{}
	b = newOutBuf(rec)
	p := bytes.Repeat([]byte("s"), directMin)
	_, err := b.WriteStable(p)
	require.NoError(t, err)
	now := false
	b.AfterWrite(func() { now = true })
	assert.True(t, now)
}

// A failed write of what is held releases it and sticks; so does a
// release of the buffer (the connection ended) or a Reset.
func TestOutBufHeldDropped(t *testing.T) {
	rec := &recorder{limit: 1000}
	b := newOutBuf(vecRecorder{rec})
	_, err := b.WriteString("* 1 FETCH (BODY[] {40000}\r\n")
	require.NoError(t, err)
	_, err = b.WriteStable(make([]byte, directMin+1000))
	require.NoError(t, err, "held, not written yet")
	released := 0
	b.AfterWrite(func() { released++ })
	assert.Zero(t, released)
	require.ErrorIs(t, b.Flush(), errFull)
	assert.Equal(t, 1, released)
	_, err = b.WriteStable(make([]byte, directMin))
	assert.ErrorIs(t, err, errFull)

	for _, end := range []func(*outBuf){func(b *outBuf) { b.release() }, func(b *outBuf) { b.Reset(io.Discard) }} {
		rec := &recorder{}
		b := newOutBuf(vecRecorder{rec})
		_, err := b.WriteStable(make([]byte, directMin))
		require.NoError(t, err)
		released := 0
		b.AfterWrite(func() { released++ })
		end(b)
		assert.Equal(t, 1, released)
		assert.Zero(t, rec.out.Len(), "dropped, not written")
	}
}
