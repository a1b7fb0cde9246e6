package cliout

import (
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
