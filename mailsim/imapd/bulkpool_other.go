//go:build !linux

package imapd

import (
	"errors"
	"net"
	"syscall"
)

// canLowerThreads: only Linux has SCHED_IDLE; elsewhere the bulk writers
// are goroutines like any other.
const canLowerThreads = false

func lowerThread() error { return errors.ErrUnsupported }

func threadPolicy(int) (uint32, error) { return 0, errors.ErrUnsupported }

// rawWriterOf: writes wait on the runtime's network poller.
func rawWriterOf(net.Conn) syscall.RawConn { return nil }

func kernelWrite(syscall.RawConn, [][]byte, *kernelWriteState) (int64, error) {
	return 0, errors.ErrUnsupported
}
