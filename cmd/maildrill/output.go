package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/mattn/go-isatty"
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

// rulesError names --rules in an error loading a rule pack.
func rulesError(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("--rules %w", err)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd()) && os.Getenv("TERM") != "dumb"
}

func colorOK(w io.Writer) bool { return isTerminal(w) && os.Getenv("NO_COLOR") == "" }
