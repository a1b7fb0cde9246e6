package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
)

// errOutputClosed is the cause of a stop when the reader of stdout or
// stderr went away (`maildrill run ... | head`).
var errOutputClosed = errors.New("the output was closed (broken pipe)")

// outputWriter is stdout or stderr. The first EPIPE calls onClosed (which
// stops the command, so that a run still removes what it started), and
// every later write fails at once with errOutputClosed.
type outputWriter struct {
	w        io.Writer
	onClosed func()

	mu     sync.Mutex
	closed bool
}

func (o *outputWriter) Write(p []byte) (int, error) {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return 0, errOutputClosed
	}
	n, err := o.w.Write(p)
	if err != nil && errors.Is(err, syscall.EPIPE) {
		o.mu.Lock()
		first := !o.closed
		o.closed = true
		o.mu.Unlock()
		if first && o.onClosed != nil {
			o.onClosed()
		}
		return n, errOutputClosed
	}
	return n, err
}

// unwrapOutput returns the stream under an outputWriter: a writer whose
// failure a command handles itself (serve's audit log on stdout) must not
// stop the command through the output's EPIPE handling.
func unwrapOutput(w io.Writer) io.Writer {
	if o, ok := w.(*outputWriter); ok {
		return o.w
	}
	return w
}

// interruptible makes reads from r end when ctx does, even a read blocked
// on a pipe or terminal that never delivers (`rules eval -` with a quiet
// producer): Ctrl-C must stop the command within a second. The blocked read
// itself is left behind; the command is ending.
func interruptible(ctx context.Context, r io.Reader) io.Reader {
	return &ctxReader{ctx: ctx, r: r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
	buf []byte // reused: a read is abandoned only when ctx ended, and then none follows
}

type readResult struct {
	n   int
	err error
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	buf := c.buf[:len(p)]
	ch := make(chan readResult, 1)
	go func() {
		n, err := c.r.Read(buf)
		ch <- readResult{n, err}
	}()
	select {
	case res := <-ch:
		copy(p, buf[:res.n])
		return res.n, res.err
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}

// rulesError names --rules in an error loading a rule pack.
func rulesError(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("--rules %w", err)
}
