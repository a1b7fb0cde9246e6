//go:build !linux

package target

// roomyShm: /dev/shm as a tmpfs is Linux's.
func roomyShm() bool { return false }
