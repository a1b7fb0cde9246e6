package nozero

import (
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// pageRange returns the whole pages of b, as an address range.
func pageRange(b []byte) (from, to uintptr) {
	ps := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return (start + ps - 1) &^ (ps - 1), (start + uintptr(len(b))) &^ (ps - 1)
}

// unmap drops the whole pages of b (their contents become zeros), so that
// a test starts from pages not mapped whatever the heap held there before.
func unmap(t *testing.T, b []byte) {
	t.Helper()
	from, to := pageRange(b)
	if to <= from {
		return
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, from, to-from, syscall.MADV_DONTNEED); errno != 0 {
		t.Fatalf("madvise(MADV_DONTNEED): %v", errno)
	}
	if in, _ := resident(t, b); in != 0 {
		t.Fatalf("%d pages still mapped after MADV_DONTNEED", in)
	}
}

// resident counts the whole pages of b that are mapped, and returns how
// many whole pages it has.
func resident(t *testing.T, b []byte) (in, pages int) {
	t.Helper()
	from, to := pageRange(b)
	if to <= from {
		return 0, 0
	}
	vec := make([]byte, (to-from)/uintptr(os.Getpagesize()))
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, from, to-from, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	for _, v := range vec {
		in += int(v & 1)
	}
	return in, len(vec)
}

// mapAhead maps every whole page of the slice it is given and no other,
// and nothing below prefaultMin; Bytes maps its slice, BytesCap its length
// only. The pages are dropped first (MADV_DONTNEED), so that memory the
// heap reuses, already mapped, does not decide the outcome.
func TestBytesArePrefaulted(t *testing.T) {
	if unsupported.Load() {
		t.Skip("kernel without MADV_POPULATE_WRITE")
	}
	const n = 16 << 20
	ps := os.Getpagesize()

	b := lazy(n)
	unmap(t, b)
	mapAhead(b[:n/2])
	if unsupported.Load() {
		t.Skip("kernel without MADV_POPULATE_WRITE")
	}
	if in, pages := resident(t, b[:n/2]); in != pages || pages == 0 {
		t.Fatalf("mapAhead: %d of %d pages mapped", in, pages)
	}
	if in, _ := resident(t, b[n/2+ps:]); in != 0 {
		t.Fatalf("mapAhead: %d pages mapped past the slice", in)
	}

	unmap(t, b)
	mapAhead(b[ps : ps+prefaultMin-1])
	if in, _ := resident(t, b); in != 0 {
		t.Fatalf("mapAhead of %d bytes mapped %d pages", prefaultMin-1, in)
	}

	if in, pages := resident(t, Bytes(n)); in != pages {
		t.Fatalf("Bytes: %d of %d pages mapped", in, pages)
	}
	c := BytesCap(n/4, n)
	if len(c) != n/4 || cap(c) != n {
		t.Fatalf("BytesCap(%d, %d): len %d cap %d", n/4, n, len(c), cap(c))
	}
	if in, pages := resident(t, c); in != pages {
		t.Fatalf("BytesCap: %d of %d pages of its length mapped", in, pages)
	}
}
