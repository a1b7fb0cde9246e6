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
// (Prefault). It is strings.Builder's own allocation, which is not
// cleared; the slice is the only reference to it.
func Bytes(n int) []byte {
	b := Lazy(n)
	Prefault(b)
	return b
}

// Lazy is Bytes without Prefault, for a buffer that may be written only
// in part: pages never written are never mapped.
func Lazy(n int) []byte {
	if n <= 0 {
		return nil
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte(0)
	s := b.String()
	return unsafe.Slice(unsafe.StringData(s), n)
}

// PrefaultMin is the smallest slice Prefault maps ahead: below it, the
// system call costs about as much as the faults it saves.
const PrefaultMin = 64 << 10

// Prefault asks the kernel to map, in one call, the whole pages of b that
// are not mapped yet, as a write to each would, without changing their
// contents (Linux's MADV_POPULATE_WRITE; elsewhere, and on kernels older
// than 5.14, it does nothing). Memory fresh from the system is otherwise
// mapped one page at a time, a page fault each on first write: on a
// virtual machine, most of the cost of filling a buffer the size of a
// document. Slices shorter than PrefaultMin are left alone. It is an
// optimisation only: it fails silently.
func Prefault(b []byte) {
	if len(b) >= PrefaultMin {
		prefault(b)
	}
}

// ReadFile is os.ReadFile for a file that does not change while it is
// read: its content in a buffer of the file's size, not cleared first.
// A file that turns out shorter or longer than its size is read whole
// as os.ReadFile reads it.
func ReadFile(name string) ([]byte, error) {
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
	b := Bytes(int(size))
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
