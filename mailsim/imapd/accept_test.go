package imapd

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakyListener fails its first Accepts with a transient error, as a
// process out of file descriptors sees, then accepts for real.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
	errno syscall.Errno
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept", l.errno)}
	}
	return l.Listener.Accept()
}

// The accept loop backs off and recovers from EMFILE, ENFILE and
// ECONNABORTED; the old loop returned on the first such error and the
// listener was dead for good.
func TestAcceptLoopRecovers(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED} {
		t.Run(errno.Error(), func(t *testing.T) {
			ts := startConnServer(t, connServerOpts{})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			fl := &flakyListener{Listener: ln, errno: errno}
			fl.fails.Store(5)
			served := make(chan error, 1)
			go func() { served <- ts.srv.Serve(fl) }()

			ts.addr = ln.Addr().String()
			workingSession(t, ts)
			assert.LessOrEqual(t, fl.fails.Load(), int32(0), "every failure was retried")

			// Close ends Serve (also mid-backoff) without an error.
			fl.fails.Store(1000)
			require.NoError(t, ts.srv.Close())
			select {
			case err := <-served:
				assert.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after Close")
			}
		})
	}
}

// A listener closed under the server ends Serve with net.ErrClosed.
func TestAcceptLoopListenerClosed(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- ts.srv.Serve(ln) }()
	ln.Close()
	select {
	case err := <-served:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its listener closed")
	}
}
