package imapd

import (
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// canLowerThreads: Linux has SCHED_IDLE.
const canLowerThreads = true

// lowerThread puts the calling thread in SCHED_IDLE: it runs only when no
// thread of a normal class wants its core, and yields to one at once.
// The caller has locked its goroutine to the thread for good.
func lowerThread() error {
	return unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}, 0)
}

// threadPolicy is the scheduling class of thread tid (0: the caller).
func threadPolicy(tid int) (uint32, error) {
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return 0, err
	}
	return a.Policy, nil
}

// rawWriterOf is the socket under nc that kernelWrite can write to: a
// TCP or Unix stream socket; nil for anything else.
func rawWriterOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return nil
	}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// kernelPollMax is the longest a kernelWrite waits in poll(2) at a time:
// between waits it checks whether the connection was closed and whether
// its write deadline has passed.
const kernelPollMax = 20 * time.Millisecond

// kernelWriteMax is the most one writev(2) of kernelWrite hands the
// kernel. On a kernel built without full preemption (this project's
// 2-core VM reports "Dynamic Preempt: none"), a thread in a system call
// keeps its core until the call returns, whatever its priority: a thread
// woken by a command on that core waits. The generated corpus's messages
// run to 18 MB, and a client reading on the other core keeps the socket
// open to all of it, so one write could hold a core for milliseconds.
// With 2 MiB at most, a writer returns to user space, where a waiting
// command's thread takes the core, after at most one such write.
// Benchmarked on the corpus with 1 connection alone: the
// probe's p99 1.9–2.9 ms against 2.3–5.0 with no cap, throughput within
// the noise (2,535–3,110 MB/s against 2,506–3,241); 1 MiB and smaller
// cost throughput (docs/performance.md, "Writes of at most 2 MiB").
const kernelWriteMax = 2 << 20

// kernelWrite writes every byte of bufs to rc's socket and, when the
// socket is full, waits for room in poll(2) on the calling thread rather
// than on the runtime's network poller: the bulk writers' threads then
// sleep and wake in the kernel like any single-threaded server's, with
// no other thread woken to resume them. Each writev(2) takes at most
// kernelWriteMax bytes. st.closed tells it to give up (net.ErrClosed);
// st.deadline is the write deadline (os.ErrDeadlineExceeded); st.polling
// is set while it waits. It returns the bytes written.
func kernelWrite(rc syscall.RawConn, bufs [][]byte, st *kernelWriteState) (int64, error) {
	iov := make([][]byte, 0, len(bufs))
	for _, b := range bufs {
		if len(b) > 0 {
			iov = append(iov, b)
		}
	}
	chunk := make([][]byte, 0, len(iov))
	var total int64
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for len(iov) > 0 {
			chunk = prefixIOV(chunk[:0], iov, kernelWriteMax)
			n, err := unix.Writev(int(fd), chunk)
			if n > 0 {
				total += int64(n)
				iov = consumeIOV(iov, n)
			}
			switch err {
			case nil, unix.EINTR:
				continue
			case unix.EAGAIN:
			default:
				werr = os.NewSyscallError("writev", err)
				return true
			}
			wait := kernelPollMax
			if dl := st.deadline.Load(); dl != 0 {
				left := time.Until(time.Unix(0, dl))
				if left <= 0 {
					werr = os.ErrDeadlineExceeded
					return true
				}
				wait = min(wait, left)
			}
			if st.closed.Load() {
				werr = net.ErrClosed
				return true
			}
			ms := int((wait + time.Millisecond - 1) / time.Millisecond)
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			st.polling.CompareAndSwap(0, time.Now().UnixNano())
			_, err = unix.Poll(fds, ms)
			if err != nil && err != unix.EINTR {
				st.polling.Store(0)
				werr = os.NewSyscallError("poll", err)
				return true
			}
			if fds[0].Revents != 0 {
				st.polling.Store(0) // room, or an error the next writev reports
			}
			if st.closed.Load() {
				werr = net.ErrClosed
				return true
			}
		}
		return true
	})
	st.polling.Store(0)
	if werr == nil && err != nil {
		werr = err
	}
	return total, werr
}

// prefixIOV appends to dst the first limit bytes of iov (all of it if
// shorter), as buffers that share iov's memory.
func prefixIOV(dst, iov [][]byte, limit int) [][]byte {
	for _, b := range iov {
		if len(b) >= limit {
			return append(dst, b[:limit])
		}
		dst = append(dst, b)
		limit -= len(b)
	}
	return dst
}

// consumeIOV drops the first n bytes of iov.
func consumeIOV(iov [][]byte, n int) [][]byte {
	for n > 0 && len(iov) > 0 {
		if n >= len(iov[0]) {
			n -= len(iov[0])
			iov = iov[1:]
			continue
		}
		iov[0] = iov[0][n:]
		n = 0
	}
	return iov
}
