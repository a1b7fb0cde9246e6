//go:build !unix

package remotetest

import (
	"os"
	"syscall"
)

// ownGroup: no process groups here; the daemons (Dovecot, Postfix,
// rsyslog) run on Unix only, and Gate skips elsewhere.
func ownGroup() *syscall.SysProcAttr { return nil }

// killGroup kills p alone.
func killGroup(p *os.Process) { _ = p.Kill() }
