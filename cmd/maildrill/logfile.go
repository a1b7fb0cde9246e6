package main

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// openLog opens a JSON-lines log for reading ('-' is in, named "stdin"),
// decompressing it on the fly when it is gzip (told by its first bytes, not
// its name): recorded runs are kept compressed (testdata/runs), and a
// SIEM export often is. A damaged gzip stream surfaces as a read error,
// which the callers report with the file and line.
func openLog(name string, in io.Reader) (io.Reader, func() error, error) {
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
	br := bufio.NewReaderSize(src, 64*1024)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		closeFile()
		return nil, nil, err
	}
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, closeFile, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		closeFile()
		return nil, nil, fmt.Errorf("%s: gzip header: %w", name, err)
	}
	return gzipErrors{zr}, func() error { return errors.Join(zr.Close(), closeFile()) }, nil
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

// lineError reports a bad line of a log. When the read failed under the
// line (a truncated gzip stream), the scanner hands back the partial line
// before the read error; that error is the cause, not the half line's
// syntax.
func lineError(sc *bufio.Scanner, name string, line int, err error) error {
	if rerr := sc.Err(); rerr != nil {
		return fmt.Errorf("%s:%d: %w", name, line, rerr)
	}
	return fmt.Errorf("%s:%d: %w", name, line, err)
}
