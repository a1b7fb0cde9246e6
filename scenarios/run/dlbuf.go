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

// A sync.Pool is emptied by every second garbage collection, and a day of
// staff collects several times a second: the free lists keep a few
// buffers of each class up to keptDLBufShift across collections (at most
// keptDLBufs each, 16 MiB in all), the pools the rest.
const (
	keptDLBufShift = 22
	keptDLBufs     = 2
)

var dlFree struct {
	mu    sync.Mutex
	lists [keptDLBufShift - minDLBufShift + 1][][]byte
}

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
	if c < len(dlFree.lists) {
		dlFree.mu.Lock()
		l := dlFree.lists[c]
		if k := len(l); k > 0 {
			b := l[k-1]
			l[k-1] = nil
			dlFree.lists[c] = l[:k-1]
			dlFree.mu.Unlock()
			return b[:n]
		}
		dlFree.mu.Unlock()
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
	if c < len(dlFree.lists) {
		dlFree.mu.Lock()
		if len(dlFree.lists[c]) < keptDLBufs {
			dlFree.lists[c] = append(dlFree.lists[c], b)
			dlFree.mu.Unlock()
			return
		}
		dlFree.mu.Unlock()
	}
	dlBufs[c].Put(&b)
}
