//go:build unix

package remotetest

import (
	"os"
	"syscall"
)

// ownGroup starts a daemon in a process group of its own, so that
// killGroup reaches the children it forks.
func ownGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup kills p's process group.
func killGroup(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }
