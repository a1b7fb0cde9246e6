// Package cliout is a command's standard output and error: a writer that
// turns a closed pipe into a clean stop, and whether a stream is a colour
// terminal.
package cliout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
)

// ErrClosed is the cause of a stop when the reader of stdout or stderr
// went away (`maildrill run ... | head`).
var ErrClosed = errors.New("the output was closed (broken pipe)")

// Writer is stdout or stderr. The first EPIPE calls OnClosed (which stops
// the command, so that a run still removes what it started), and every
// later write fails at once with ErrClosed.
type Writer struct {
	W        io.Writer
	OnClosed func()

	mu     sync.Mutex
	closed bool
	err    error // the first failure other than a closed pipe
}

func (o *Writer) Write(p []byte) (int, error) {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return 0, ErrClosed
	}
	n, err := o.W.Write(p)
	if err != nil && errors.Is(err, syscall.EPIPE) {
		o.mu.Lock()
		first := !o.closed
		o.closed = true
		o.mu.Unlock()
		if first && o.OnClosed != nil {
			o.OnClosed()
		}
		return n, ErrClosed
	}
	if err != nil {
		o.mu.Lock()
		if o.err == nil {
			o.err = err
		}
		o.mu.Unlock()
	}
	return n, err
}

// Err returns the first write that failed for a reason other than a
// closed pipe (a full disk, an I/O error): what the command printed is
// incomplete, which its exit status must say even when the command
// ignored the write's error.
func (o *Writer) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// Unwrap returns the stream under a Writer: a writer whose failure a
// command handles itself (serve's audit log on stdout) must not stop the
// command through the output's EPIPE handling.
func Unwrap(w io.Writer) io.Writer {
	if o, ok := w.(*Writer); ok {
		return o.W
	}
	return w
}

// NopCloser is a Writer with a Close that does nothing.
type NopCloser struct{ io.Writer }

func (NopCloser) Close() error { return nil }

// IsTerminal says whether w (or the stream under a Writer) is a terminal
// (and TERM is not dumb).
func IsTerminal(w io.Writer) bool {
	f, ok := Unwrap(w).(*os.File)
	return ok && isatty.IsTerminal(f.Fd()) && os.Getenv("TERM") != "dumb"
}

// ColorOK says whether w is a terminal that may be written in colour
// (NO_COLOR unset).
func ColorOK(w io.Writer) bool { return IsTerminal(w) && os.Getenv("NO_COLOR") == "" }

// EndAfterStop ends the process with exit(code) grace after ctx ends,
// telling w that name stopped (with ctx's cause) before it finished: for a
// command that holds nothing and does not watch ctx itself, so that a stop
// always ends it.
func EndAfterStop(ctx context.Context, grace time.Duration, w io.Writer, name string, exit func(code int), code int) {
	go func() {
		<-ctx.Done()
		time.Sleep(grace)
		fmt.Fprintf(w, "%s stopped (%v) before it finished\n", name, context.Cause(ctx))
		exit(code)
	}()
}
