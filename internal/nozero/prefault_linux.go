package nozero

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14).
const madvPopulateWrite = 23

var (
	// unsupported is set once the kernel has refused the advice.
	unsupported atomic.Bool
	page        = uintptr(syscall.Getpagesize())
)

func prefault(b []byte) {
	if unsupported.Load() {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	from := (start + page - 1) &^ (page - 1)
	to := (start + uintptr(len(b))) &^ (page - 1)
	if to <= from {
		return
	}
	// Only whole pages inside b: nothing else lives on them.
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, from, to-from, madvPopulateWrite)
	if errno == syscall.EINVAL || errno == syscall.ENOSYS {
		unsupported.Store(true)
	}
}
