package run

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/internal/b64lines"
)

func TestDLBufClasses(t *testing.T) {
	for _, c := range []struct {
		n     int
		cap   int
		class bool
	}{
		{1, 64 << 10, true},
		{64 << 10, 64 << 10, true},
		{64<<10 + 1, 128 << 10, true},
		{3 << 20, 4 << 20, true},
		{16 << 20, 16 << 20, true},
		{16<<20 + 1, 16<<20 + 1, false},
	} {
		b := getDLBuf(c.n)
		assert.Len(t, b, c.n)
		assert.Equal(t, c.cap, cap(b), "%d bytes", c.n)
		_, ok := dlClass(c.n)
		assert.Equal(t, c.class, ok)
		putDLBuf(b)
	}
	assert.Nil(t, getDLBuf(0))
	// A buffer not of a class's own capacity is not pooled (it could be
	// a slice of something else).
	odd := make([]byte, 10, 100<<10)
	putDLBuf(odd)
	for range 4 {
		b := getDLBuf(100 << 10)
		assert.Equal(t, 128<<10, cap(b))
	}
}

// Buffers of the smaller classes outlive garbage collections (a sync.Pool
// would be empty after two), at most keptDLBufs of each.
func TestDLBufKeptAcrossCollections(t *testing.T) {
	n := 300 << 10
	var given []*byte
	var bufs [][]byte
	for range keptDLBufs + 1 {
		b := getDLBuf(n)
		bufs = append(bufs, b)
	}
	for _, b := range bufs {
		given = append(given, &b[:1][0])
		putDLBuf(b)
	}
	runtime.GC()
	runtime.GC()
	runtime.GC()
	again := map[*byte]bool{}
	for range keptDLBufs {
		b := getDLBuf(n)
		again[&b[:1][0]] = true
	}
	kept := 0
	for _, p := range given {
		if again[p] {
			kept++
		}
	}
	assert.Equal(t, keptDLBufs, kept, "buffers given back before the collections")
	c, _ := dlClass(n)
	assert.LessOrEqual(t, len(dlFree.lists[c]), keptDLBufs)
	// The largest classes are not kept.
	big := getDLBuf(10 << 20)
	putDLBuf(big)
	bc, _ := dlClass(10 << 20)
	assert.GreaterOrEqual(t, bc, len(dlFree.lists))
}

func TestDecodeB64(t *testing.T) {
	out, err := decodeB64([]byte("aGVs\r\nbG8="))
	assert.NoError(t, err)
	assert.Equal(t, "hello", string(out))
	_, err = decodeB64([]byte("not base64!"))
	assert.Error(t, err)
	out, err = decodeB64(nil)
	assert.NoError(t, err)
	assert.Empty(t, out)
	// Lines split inside a group: not one pass, encoding/base64's way.
	out, err = decodeB64([]byte("aGV\r\nsbG8="))
	assert.NoError(t, err)
	assert.Equal(t, "hello", string(out))
	// A document as MIME writes it: the bytes it was.
	doc := make([]byte, 100_003)
	for i := range doc {
		doc[i] = byte(i * 7)
	}
	out, err = decodeB64([]byte(b64lines.Lines(doc, 76, "\r\n") + "\r\n"))
	require.NoError(t, err)
	assert.Equal(t, doc, out)
}
