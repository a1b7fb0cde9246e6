//go:build unix

package procgroup

import (
	"os"
	"syscall"
)

// Own is the SysProcAttr of a child started in a process group of its own.
func Own() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// Signal sends sig to p's process group (p started with Own).
func Signal(p *os.Process, sig syscall.Signal) error { return syscall.Kill(-p.Pid, sig) }
