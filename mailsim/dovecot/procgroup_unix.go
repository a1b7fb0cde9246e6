//go:build unix

package dovecot

import (
	"os"
	"syscall"
)

// ownGroup starts build.sh in a process group of its own, so that
// stopGroup reaches everything it started.
func ownGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// stopGroup sends SIGTERM to p's process group.
func stopGroup(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGTERM) }
