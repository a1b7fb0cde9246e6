package nozero

import (
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// resident counts the whole pages of b that are mapped, and returns how
// many whole pages it has.
func resident(t *testing.T, b []byte) (in, pages int) {
	t.Helper()
	ps := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	from := (start + ps - 1) &^ (ps - 1)
	to := (start + uintptr(len(b))) &^ (ps - 1)
	if to <= from {
		return 0, 0
	}
	vec := make([]byte, (to-from)/ps)
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, from, to-from, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	for _, v := range vec {
		in += int(v & 1)
	}
	return in, len(vec)
}

// A large slice from Bytes is mapped whole before it is written; one from
// Lazy, fresh from the system, is not.
func TestBytesArePrefaulted(t *testing.T) {
	if unsupported.Load() {
		t.Skip("kernel without MADV_POPULATE_WRITE")
	}
	const n = 64 << 20 // larger than anything the test binary has freed
	lazy := Lazy(n)
	if in, pages := resident(t, lazy); in == pages {
		t.Fatalf("Lazy: all %d pages mapped before any write", pages)
	}
	b := Bytes(n)
	if unsupported.Load() {
		t.Skip("kernel without MADV_POPULATE_WRITE")
	}
	if in, pages := resident(t, b); in != pages || pages == 0 {
		t.Fatalf("Bytes: %d of %d pages mapped", in, pages)
	}
	Prefault(lazy[1 : n-1])
	if in, pages := resident(t, lazy[1:n-1]); in != pages {
		t.Fatalf("Prefault: %d of %d pages mapped", in, pages)
	}
	// Below PrefaultMin nothing is asked of the kernel.
	ps := os.Getpagesize() // Lazy writes the first byte
	small := Lazy(64 << 20)[ps : ps+PrefaultMin-1]
	before, _ := resident(t, small)
	Prefault(small)
	if after, _ := resident(t, small); after != before {
		t.Fatalf("Prefault of %d bytes mapped %d more pages", len(small), after-before)
	}
}
