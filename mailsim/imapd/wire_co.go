package imapd

import (
	"io"
	"iter"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The shim runs as a coroutine of imapserver's reads, on imapserver's
// goroutine: when imapserver reads and nothing the shim gave it is left,
// its Read resumes the shim, which reads the client's next command (or
// the next part of one), checks it, and hands it over by yielding it
// (toServer); the Read returns those bytes. The shim resumes only when
// imapserver has read all of them and wants more, exactly when a write to
// a pipe would have returned. A command therefore goes from the client's
// socket to its execution without changing goroutine: no hand-off through
// the scheduler, no other thread woken. Under load each such hand-off
// waited for a thread to be scheduled (0.3–0.4 ms), the tail of a small
// command's latency (docs/performance.md).
//
// The shim waits for the server's verdict on what it handed over
// (nextEvent). Every verdict is pushed before the server reads again, so
// a shim resumed by a read finds it at once. Two of the server's own
// waits are on the shim, outside reads: a MULTIAPPEND's Append asks
// whether another message follows (appendFollows), and STARTTLS's
// response waits for the handshake. Those waits resume the shim
// themselves (awaitShim) until it answers; a shim that then needs the
// server again yields nothing and is resumed by the server's next read.
//
// While the server runs a command the shim is suspended; a timer watches
// the client meanwhile (watchClient), as the shim's wait for a verdict
// used to.

// shimCo is the coroutine's state.
type shimCo struct {
	mu    sync.Mutex // held while resuming or stopping the shim
	next  func() ([]byte, bool)
	stop  func()
	yield func([]byte) bool // the shim's side, set when it starts

	pend   []byte // handed over by the shim, not yet read by the server
	inRead bool   // the shim was resumed by a read: the server waits for input
	// waitServer: the shim yielded nothing because it waits for the
	// server; resuming it before the server reads again is pointless.
	waitServer bool
	ended      bool
	endedCh    chan struct{} // closed once the shim is over or will never run
	endOnce    sync.Once

	serverTurn atomic.Bool // the server runs a command: the watch applies
	watch      *time.Timer
}

// resumeLocked resumes the shim; co.mu is held. It returns false once
// the shim is over.
func (c *conn) resumeLocked() bool {
	co := &c.co
	if co.ended {
		return false
	}
	if co.next == nil {
		co.next, co.stop = iter.Pull(c.shimBody)
	}
	b, ok := co.next()
	if !ok {
		c.endShimLocked()
		return false
	}
	co.pend = b
	return true
}

// shimBody is the coroutine: the shim's loop, then the connection's end.
func (c *conn) shimBody(yield func([]byte) bool) {
	c.co.yield = yield
	err := c.clientToServer()
	c.closeAll()
	c.srv.debug("client reader ended", err)
}

// endShimLocked stops the shim if it is suspended and marks it over.
func (c *conn) endShimLocked() {
	co := &c.co
	wasEnded := co.ended
	co.ended = true // before the stop: nothing resumes the unwinding shim
	if co.stop != nil && !wasEnded {
		co.stop() // a suspended shim's yield returns false: it unwinds
	}
	co.pend = nil
	co.endOnce.Do(func() { close(co.endedCh) })
}

// stopShim ends the shim: imapserver closed the connection. A shim that
// is running (reading the client) ends first: the caller closed the
// client connection.
func (c *conn) stopShim() {
	c.co.mu.Lock()
	c.endShimLocked()
	watch := c.co.watch // set under co.mu (armWatch, in serverRead)
	c.co.mu.Unlock()
	if watch != nil {
		watch.Stop()
	}
}

// waitShim waits until the shim is over. A connection closed while
// imapserver runs a command (a timeout, the server shutting down) ends its
// shim at once rather than when the command is over, so that neither the
// connection's reader nor Server.Close waits for the command; a running
// shim ends first, its client connection closed.
func (c *conn) waitShim() {
	select {
	case <-c.co.endedCh:
	case <-c.closed:
		c.stopShim()
	}
}

// serverRead is imapserver's read: it returns what the shim handed over,
// resuming the shim for more.
func (c *conn) serverRead(p []byte) (int, error) {
	co := &c.co
	co.serverTurn.Store(false)
	co.mu.Lock()
	defer co.mu.Unlock()
	for len(co.pend) == 0 {
		select {
		case <-c.closed:
			c.endShimLocked()
			return 0, io.EOF
		default:
		}
		c.smu.Lock()
		c.readWaiting = c.consumed == c.written // everything given was read: it waits for more
		if c.readWaiting && c.wantRead {
			c.wantRead = false
			c.pushVerdict(verdict{more: true})
		}
		c.smu.Unlock()
		co.inRead = true
		ok := c.resumeLocked()
		co.inRead = false
		if !ok {
			return 0, io.EOF
		}
	}
	n := copy(p, co.pend)
	co.pend = co.pend[n:]
	c.smu.Lock()
	c.consumed += int64(n)
	c.readWaiting = false
	c.smu.Unlock()
	co.serverTurn.Store(true)
	c.armWatch()
	return n, nil
}

// pump lets the shim run, for a server waiting on it outside a read
// (appendFollows, STARTTLS). It returns false when that cannot help:
// the shim is over, waits for the server, or the server has not read
// all it was given.
func (c *conn) pump() bool {
	co := &c.co
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.ended || co.waitServer || len(co.pend) > 0 {
		return false
	}
	// The shim's turn: it watches the client itself (read deadlines, the
	// TLS handshake's).
	co.serverTurn.Store(false)
	defer co.serverTurn.Store(true)
	return c.resumeLocked()
}

// awaitShim is the server waiting on the shim outside a read: it takes
// the shim's answer from ch, resuming the shim (pump) for as long as that
// can help, then waits. ok is false once the connection is closed.
func awaitShim[T any](c *conn, ch <-chan T) (v T, ok bool) {
	for {
		select {
		case v := <-ch:
			return v, true
		case <-c.closed:
			return v, false
		default:
		}
		if !c.pump() {
			break
		}
	}
	select {
	case v := <-ch:
		return v, true
	case <-c.closed:
		return v, false
	}
}

// handOver is the shim's side of toServer: it yields p to the server and
// returns once the server has read all of it.
func (c *conn) handOver(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if !c.co.yield(p) {
		return net.ErrClosed
	}
	return nil
}

// awaitServer is the shim waiting for the server to push a verdict:
// it yields nothing until the server reads again.
func (c *conn) awaitServer() error {
	co := &c.co
	if co.inRead {
		// The server waits for input and has pushed every verdict it
		// will push: none is coming. The two disagree on the command.
		return c.bye("", "SERVERBUG", "Command not understood", "protocol_desync", c.current())
	}
	co.waitServer = true
	ok := co.yield(nil)
	co.waitServer = false
	if !ok {
		return net.ErrClosed
	}
	return nil
}

// armWatch starts watching the client while the server runs a command.
func (c *conn) armWatch() {
	co := &c.co
	if co.watch == nil {
		co.watch = time.AfterFunc(watchAfter, c.watchTick)
		return
	}
	co.watch.Reset(watchAfter)
}

// watchTick is the watch while the server runs a command: see
// watchClient.
func (c *conn) watchTick() {
	if !c.co.serverTurn.Load() {
		return
	}
	select {
	case <-c.closed:
		return
	default:
	}
	if reason, bye := c.watchClient(time.Now()); reason != "" {
		c.info.SetCloseReason(reason)
		if bye {
			c.sayByeAndClose(byeInactivity)
		}
		c.closeAll()
		return
	}
	c.co.watch.Reset(watchEvery)
}

// serverEnd is imapserver's end of the connection to the shim.
type serverEnd struct{ c *conn }

func (s serverEnd) Read(p []byte) (int, error) { return s.c.serverRead(p) }

// Write is never called: innerConn writes through its respWriter.
func (s serverEnd) Write(p []byte) (int, error)      { return 0, net.ErrClosed }
func (s serverEnd) Close() error                     { return nil }
func (s serverEnd) LocalAddr() net.Addr              { return pipeAddr{} }
func (s serverEnd) RemoteAddr() net.Addr             { return pipeAddr{} }
func (s serverEnd) SetDeadline(time.Time) error      { return nil }
func (s serverEnd) SetReadDeadline(time.Time) error  { return nil }
func (s serverEnd) SetWriteDeadline(time.Time) error { return nil }
