package run

import (
	"math/bits"
	"sync"

	"github.com/maildrill/maildrill/internal/nozero"
)

// Buffers for attachments as they are received and decoded. A staff
// member's download is kept on disk, not in memory, so its two buffers
// (the base64 literal and the decoded file) can serve the next download:
// a day of 2,000 staff otherwise allocates several gigabytes for them,
// and each allocation brings the next garbage collection closer. Pools by
// power of two, from 64 KiB (smaller buffers come from that class too) to
// 16 MiB; larger ones are allocated as needed and left to the collector.
const (
	minDLBufShift = 16
	maxDLBufShift = 24
)

var dlBufs [maxDLBufShift - minDLBufShift + 1]sync.Pool

// dlClass is the pool of buffers of capacity 1<<shift for n bytes, false
// when n is not pooled.
func dlClass(n int) (int, bool) {
	if n <= 0 || n > 1<<maxDLBufShift {
		return 0, false
	}
	shift := max(bits.Len(uint(n-1)), minDLBufShift)
	return shift - minDLBufShift, true
}

// getDLBuf returns a buffer of length n whose contents are unspecified.
func getDLBuf(n int) []byte {
	c, ok := dlClass(n)
	if !ok {
		return nozero.Bytes(n)
	}
	if p, _ := dlBufs[c].Get().(*[]byte); p != nil {
		return (*p)[:n]
	}
	// Only the pages of this download are mapped ahead: the rest of the
	// class's capacity may never be written.
	return nozero.BytesCap(n, 1<<(c+minDLBufShift))
}

// putDLBuf gives back a buffer from getDLBuf that nothing refers to any
// more.
func putDLBuf(b []byte) {
	c, ok := dlClass(cap(b))
	if !ok || cap(b) != 1<<(c+minDLBufShift) {
		return
	}
	dlBufs[c].Put(&b)
}
