//go:build unix

package container

import (
	"errors"
	"syscall"
)

// pidRuns says whether a process with this PID exists (signal 0: one
// that is not ours answers EPERM).
func pidRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
