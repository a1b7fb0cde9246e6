package tlsio

import "golang.org/x/sys/unix"

// inq is the number of bytes waiting in a socket's receive queue.
func inq(fd uintptr) int {
	n, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	if err != nil {
		return 0
	}
	return n
}
