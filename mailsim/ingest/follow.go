package ingest

import (
	"bytes"
	"errors"
	"fmt"
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
	lines := &lineSplitter{in: in}
	var off int64
	buf := make([]byte, 32<<10)
	missing := false
	defer func() {
		if f != nil {
			f.Close()
		}
		lines.flush() // a last line without its newline
	}()
	first := true
	drainTo := int64(-1) // once closing: the size to read up to, no further
	for {
		closing := in.isClosing()
		if f == nil {
			var err error
			f, err = os.Open(path)
			if err == nil {
				if fi, serr := f.Stat(); serr == nil && !fi.Mode().IsRegular() {
					// A device (/dev/zero) never ends: it held the reader,
					// and with it the stop, for ever.
					f.Close()
					err = fmt.Errorf("%s, not a log file", FileKind(fi.Mode()))
				}
			}
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
		if closing && drainTo < 0 {
			// Read what the file holds now, not what a writer keeps
			// adding: a log growing as fast as it is read held the stop.
			drainTo = off
			if fi, err := f.Stat(); err == nil {
				drainTo = max(fi.Size(), off)
			}
		}
		if drainTo >= 0 && off >= drainTo {
			return
		}
		n, err := f.Read(buf)
		if n > 0 {
			off += int64(n)
			lines.write(buf[:n])
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
			lines.flush()
			continue
		case serr == nil && cur.Size() < off:
			// Truncated: start again from the top.
			if _, err := f.Seek(0, io.SeekStart); err == nil {
				in.mu.Lock()
				in.stats.Truncations++
				in.mu.Unlock()
				off = 0
				lines.reset()
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

// lineSplitter cuts a followed file's bytes into lines. A line longer
// than MaxMessage is counted once (as not understood) and skipped up to
// its newline.
type lineSplitter struct {
	in      *Ingester
	partial []byte
	skip    bool // inside a line too long, until its newline
}

func (l *lineSplitter) write(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if l.skip {
			if i < 0 {
				return
			}
			l.skip, b = false, b[i+1:]
			continue
		}
		if i < 0 {
			l.partial = append(l.partial, b...)
			if len(l.partial) > MaxMessage {
				l.tooLong()
				l.skip = true
			}
			return
		}
		line := append(l.partial, b[:i]...)
		b = b[i+1:]
		l.partial = l.partial[:0]
		if len(line) > MaxMessage {
			l.tooLong()
			continue
		}
		l.in.sendFileLine(line)
	}
}

func (l *lineSplitter) tooLong() {
	l.partial = l.partial[:0]
	l.in.send(item{src: "file", bad: ErrTooLong.Error() + " (a line)"})
}

// flush sends a last line that has no newline (yet).
func (l *lineSplitter) flush() {
	if !l.skip && len(l.partial) > 0 {
		l.in.sendFileLine(l.partial)
	}
	l.partial, l.skip = l.partial[:0], false
}

// reset forgets a partial line (the file was truncated under it).
func (l *lineSplitter) reset() { l.partial, l.skip = l.partial[:0], false }

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

// FileKind names what a path that is not a regular file is.
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}
