package run

import (
	"testing"

	"github.com/stretchr/testify/assert"
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

func TestDecodeB64(t *testing.T) {
	out, err := decodeB64([]byte("aGVs\r\nbG8="))
	assert.NoError(t, err)
	assert.Equal(t, "hello", string(out))
	_, err = decodeB64([]byte("not base64!"))
	assert.Error(t, err)
	out, err = decodeB64(nil)
	assert.NoError(t, err)
	assert.Empty(t, out)
}
