//go:build !unix

package container

import "os"

// pidRuns says whether a process with this PID exists. On Windows
// os.FindProcess opens the process and fails when there is none; where
// it cannot tell, the process counts as running, as a value from another
// host does (Alive).
func pidRuns(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
