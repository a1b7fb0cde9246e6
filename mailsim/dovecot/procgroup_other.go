//go:build !unix

package dovecot

import (
	"os"
	"syscall"
)

// ownGroup: no process groups here (the image's build.sh needs bash,
// debootstrap and a Linux Docker host).
func ownGroup() *syscall.SysProcAttr { return nil }

// stopGroup kills p alone.
func stopGroup(p *os.Process) error { return p.Kill() }
