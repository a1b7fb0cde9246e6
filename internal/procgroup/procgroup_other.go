//go:build !unix

package procgroup

import (
	"os"
	"syscall"
)

// Own: no process groups here; the child runs in its parent's.
func Own() *syscall.SysProcAttr { return nil }

// Signal kills p alone, whatever sig: there is neither a group to reach
// nor a way to deliver other signals.
func Signal(p *os.Process, _ syscall.Signal) error { return p.Kill() }
