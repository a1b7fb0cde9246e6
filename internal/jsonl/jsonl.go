// Package jsonl reads JSON-lines streams: audit event logs, ground-truth
// logs, rule samples, SIEM exports and the admin API's event stream. It
// reads gzip as is (told by the first bytes, not the name) and says where
// a stream broke: a damaged gzip stream or a bad line is reported with
// the file and line.
package jsonl

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/maildrill/maildrill/internal/bom"
)

// MaxLine is the longest line a Reader accepts.
const MaxLine = 16 << 20

// Open opens a JSON-lines file for reading ('-' is in), decompressing it
// on the fly when it is gzip: recorded runs are kept compressed
// (testdata/runs), and a SIEM export often is. A damaged gzip stream
// surfaces as a read error that names it.
func Open(name string, in io.Reader) (io.Reader, func() error, error) {
	var src io.Reader
	closeFile := func() error { return nil }
	if name == "-" {
		src = in
	} else {
		fh, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		src, closeFile = fh, fh.Close
	}
	r, closeGzip, err := Decompress(src, name)
	if err != nil {
		closeFile()
		return nil, nil, err
	}
	return r, func() error { return errors.Join(closeGzip(), closeFile()) }, nil
}

// Decompress returns r, decompressed when its first bytes are gzip's.
// name labels a bad gzip header.
func Decompress(r io.Reader, name string) (io.Reader, func() error, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, func() error { return nil }, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: gzip header: %w", name, err)
	}
	return gzipErrors{zr}, zr.Close, nil
}

// gzipErrors says where a read error comes from: "unexpected EOF" alone
// does not tell a truncated download from a bad line.
type gzipErrors struct{ r *gzip.Reader }

func (g gzipErrors) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("gzip stream damaged: %w", err)
	}
	return n, err
}

// Reader reads a stream line by line, counting lines for errors.
type Reader struct {
	name string
	sc   *bufio.Scanner
	line int
	// wide names the encoding of a stream that starts with a UTF-16 or
	// UTF-32 byte order mark ("" otherwise): its lines are not JSON.
	wide string
}

// NewReader reads r; name labels its errors (name:line).
func NewReader(r io.Reader, name string) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), MaxLine)
	return &Reader{name: name, sc: sc}
}

// Next returns the next line (without its newline; valid until the next
// call), false at the end of the stream or on a read error (see Err).
func (r *Reader) Next() ([]byte, bool) {
	if !r.sc.Scan() {
		return nil, false
	}
	r.line++
	b := r.sc.Bytes()
	if r.line == 1 {
		// The byte order mark some Windows tools write first: RFC 8259
		// lets a parser ignore it, and encoding/json does not.
		b, r.wide = bom.Strip(b)
	}
	return b, true
}

// Line is the number of the line Next returned last (1-based).
func (r *Reader) Line() int { return r.line }

// Name is the stream's label.
func (r *Reader) Name() string { return r.name }

// ReadErr is the read error that ended the stream (nil at a clean end),
// unlabelled.
func (r *Reader) ReadErr() error { return r.sc.Err() }

// Err is the read error that ended the stream, as name:line: error; nil
// at a clean end.
func (r *Reader) Err() error {
	if err := r.sc.Err(); err != nil {
		return r.readErr(err)
	}
	return nil
}

// readErr labels a read error: one on a line too long to read is that
// line's (the next one), not the last line read ("x.jsonl:0: bufio.Scanner:
// token too long" for a first line over the limit).
func (r *Reader) readErr(err error) error {
	if errors.Is(err, bufio.ErrTooLong) {
		return fmt.Errorf("%s:%d: line longer than %d MiB, the limit of a JSON line (%w)", r.name, r.line+1, MaxLine>>20, err)
	}
	return fmt.Errorf("%s:%d: %w", r.name, r.line, err)
}

// LineError reports a problem with the current line as name:line: error.
// When the read failed under the line (a truncated gzip stream), the
// scanner hands back the partial line before the read error; that error
// is the cause, not the half line's syntax.
func (r *Reader) LineError(err error) error {
	if rerr := r.sc.Err(); rerr != nil {
		return r.readErr(rerr)
	}
	if r.wide != "" {
		return fmt.Errorf("%s: %s (%w)", r.name, bom.Advice(r.wide), err)
	}
	return fmt.Errorf("%s:%d: %w", r.name, r.line, err)
}
