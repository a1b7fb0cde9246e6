//go:build unix

package imapd

import (
	"errors"
	"net"
	"syscall"
)

// peekGone tells, without consuming anything, whether the client closed
// ("client_eof") or reset ("client_reset") its connection; "" while it is
// there (silent, or with more input waiting).
func peekGone(nc net.Conn) string {
	rc := rawSocket(nc)
	if rc == nil {
		return ""
	}
	var reason string
	var b [1]byte
	err := rc.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.ECONNRESET):
			reason = "client_reset"
		case err != nil:
			reason = "client_eof"
		case n == 0:
			reason = "client_eof"
		}
	})
	if err != nil {
		return "" // the socket is closed already: the shim sees to it
	}
	return reason
}
