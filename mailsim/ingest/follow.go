package ingest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"
)

// pollEvery is how often a followed file is looked at once its end is
// reached (tail -F's default is one second).
var pollEvery = 200 * time.Millisecond

// follow reads path like tail -F: lines appended are sent as they come;
// when the file is replaced (rotation: a new file at the path) the rest of
// the old one is read, then the new one from its start; when it shrinks
// (truncation, copytruncate) it is read again from its start. A file that
// does not exist yet is waited for. On Close it reads to the end and stops.
func (in *Ingester) follow(path string, fromStart bool) {
	defer in.readers.Done()
	var f *os.File
	var partial []byte
	var off int64
	buf := make([]byte, 32<<10)
	missing := false
	defer func() {
		if f != nil {
			f.Close()
		}
		if len(partial) > 0 { // a last line without its newline
			in.sendFileLine(partial)
		}
	}()
	first := true
	for {
		closing := in.isClosing()
		if f == nil {
			var err error
			f, err = os.Open(path)
			if err != nil {
				f = nil
				if !missing && !errors.Is(err, fs.ErrNotExist) {
					in.connError("file "+path, err)
				}
				missing = true
				if closing || !in.wait() {
					return
				}
				first = false // a file that appears later is read whole
				continue
			}
			missing = false
			off = 0
			if first && !fromStart {
				if off, err = f.Seek(0, io.SeekEnd); err != nil {
					off = 0
				}
			}
			first = false
			in.mu.Lock()
			in.stats.FilesOpened++
			in.mu.Unlock()
		}
		n, err := f.Read(buf)
		if n > 0 {
			off += int64(n)
			partial = in.splitLines(append(partial, buf[:n]...))
			continue
		}
		if err != nil && err != io.EOF {
			in.connError("file "+path, err)
		}
		// At the end: was the file replaced or truncated?
		cur, serr := f.Stat()
		now, perr := os.Stat(path)
		switch {
		case perr == nil && serr == nil && !os.SameFile(cur, now):
			// Rotated: the old file was read to its end; take the new one.
			in.mu.Lock()
			in.stats.Rotations++
			in.mu.Unlock()
			f.Close()
			f = nil
			if len(partial) > 0 {
				in.sendFileLine(partial)
				partial = nil
			}
			continue
		case serr == nil && cur.Size() < off:
			// Truncated: start again from the top.
			if _, err := f.Seek(0, io.SeekStart); err == nil {
				in.mu.Lock()
				in.stats.Truncations++
				in.mu.Unlock()
				off = 0
				partial = nil
				continue
			}
		}
		if closing || !in.wait() {
			return
		}
	}
}

// wait sleeps pollEvery, or less if the Ingester closes; it returns false
// when closing (after which the caller reads once more to the end).
func (in *Ingester) wait() bool {
	t := time.NewTimer(pollEvery)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-in.closing:
		return true // one more pass reads what is left, then stops
	}
}

// splitLines sends every complete line of b and returns the rest.
func (in *Ingester) splitLines(b []byte) []byte {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(b) > MaxMessage {
				in.send(item{src: "file", bad: ErrTooLong.Error() + " (a line)"})
				return b[:0]
			}
			return b
		}
		line := b[:i]
		b = b[i+1:]
		if len(line) > MaxMessage {
			in.send(item{src: "file", bad: ErrTooLong.Error() + " (a line)"})
			continue
		}
		if len(trimCR(line)) > 0 {
			in.sendFileLine(line)
		}
	}
}

func (in *Ingester) sendFileLine(b []byte) {
	if line := trimCR(b); len(line) > 0 {
		in.send(item{src: "file", text: string(line), raw: true})
	}
}

func trimCR(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
