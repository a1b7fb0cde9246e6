package cliout

import (
	"bytes"
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
)

func TestWriterStopsOnClosedPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	stops := 0
	o := &Writer{W: w, OnClosed: func() { stops++ }}
	for range 3 {
		if _, err := o.Write([]byte("x\n")); !errors.Is(err, ErrClosed) {
			t.Fatalf("write to a closed pipe: got %v, want ErrClosed", err)
		}
	}
	if stops != 1 {
		t.Errorf("OnClosed called %d times, want once", stops)
	}
	if Unwrap(o) != w {
		t.Error("Unwrap does not return the stream under the Writer")
	}
	if _, err := Unwrap(o).Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("the raw stream: got %v, want EPIPE", err)
	}
	if IsTerminal(w) || ColorOK(w) {
		t.Error("a pipe is not a terminal")
	}
}

func TestEndAfterStop(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	var w bytes.Buffer
	codes := make(chan int, 1)
	EndAfterStop(ctx, 0, &w, "maildrill: maildrill list", func(code int) { codes <- code }, 2)
	cancel(errors.New("--deadline 1s reached"))
	if code := <-codes; code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if want := "maildrill: maildrill list stopped (--deadline 1s reached) before it finished\n"; w.String() != want {
		t.Errorf("wrote %q, want %q", w.String(), want)
	}
}

// TestWriterRemembersAFailedWrite: a write that fails for another reason
// than a closed pipe (a full disk) is remembered, first one first, and
// does not stop the command through OnClosed.
func TestWriterRemembersAFailedWrite(t *testing.T) {
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	defer f.Close()
	stops := 0
	o := &Writer{W: f, OnClosed: func() { stops++ }}
	if o.Err() != nil {
		t.Fatal("an error before any write")
	}
	for range 2 {
		if _, err := o.Write([]byte("x\n")); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("write to /dev/full: got %v, want ENOSPC", err)
		}
	}
	if !errors.Is(o.Err(), syscall.ENOSPC) {
		t.Errorf("Err() = %v, want ENOSPC", o.Err())
	}
	if stops != 0 {
		t.Error("a full disk is not a closed pipe")
	}
}
