// Package nozero allocates byte slices without clearing them, for buffers
// about to be overwritten: a large allocation is otherwise cleared first,
// at a cost comparable to writing it.
package nozero

import (
	"io"
	"os"
	"strings"
	"unsafe"
)

// Bytes returns a byte slice of length n whose contents are unspecified
// (nil for n <= 0). The caller must write what it reads, and is expected
// to write it whole: the whole pages of a large slice are mapped at once
// (see mapAhead). It is strings.Builder's own allocation, which is not
// cleared; the slice is the only reference to it.
func Bytes(n int) []byte {
	b := lazy(n)
	mapAhead(b)
	return b
}

// BytesCap is Bytes of length n and capacity c (at least n), for a buffer
// that may be written only in part beyond n: only the pages of the first
// n bytes are mapped ahead, the others when first written, if ever.
func BytesCap(n, c int) []byte {
	b := lazy(max(n, c))[:max(n, 0)]
	mapAhead(b)
	return b
}

// lazy allocates as Bytes does, leaving every page to fault on first
// write.
func lazy(n int) []byte {
	if n <= 0 {
		return nil
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte(0)
	s := b.String()
	return unsafe.Slice(unsafe.StringData(s), n)
}

// prefaultMin is the smallest slice mapAhead maps: below it, the system
// call costs about as much as the faults it saves.
const prefaultMin = 64 << 10

// mapAhead asks the kernel to map, in one call, the whole pages of b that
// are not mapped yet, as a write to each would, without changing their
// contents (Linux's MADV_POPULATE_WRITE; elsewhere, and on kernels older
// than 5.14, it does nothing). Memory fresh from the system is otherwise
// mapped one page at a time, a page fault each on first write: on a
// virtual machine, most of the cost of filling a buffer the size of a
// document. Slices shorter than prefaultMin are left alone. It is an
// optimisation only: it fails silently.
func mapAhead(b []byte) {
	if len(b) >= prefaultMin {
		prefault(b)
	}
}

// ReadFile is os.ReadFile for a file that does not change while it is
// read: its content in a buffer of the file's size, not cleared first.
// A file that turns out shorter or longer than its size is read whole
// as os.ReadFile reads it.
func ReadFile(name string) ([]byte, error) {
	return ReadFileWith(name, Bytes)
}

// ReadFileWith is ReadFile reading into alloc(size), a buffer of the
// file's size whose contents may be anything (a buffer from a pool). The
// cases ReadFile reads as os.ReadFile does (an empty or irregular file,
// one that changed size) return os.ReadFile's buffer instead.
func ReadFileWith(name string, alloc func(n int) []byte) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if !fi.Mode().IsRegular() || size <= 0 || int64(int(size)) != size {
		return io.ReadAll(f)
	}
	b := alloc(int(size))
	if _, err := io.ReadFull(f, b); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return os.ReadFile(name) // shorter than it was: read it as it is now
		}
		return nil, err
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n > 0 {
		return os.ReadFile(name) // longer than it was
	}
	return b, nil
}
