package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func appendLines(t *testing.T, path string, lines []string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

func waitLines(t *testing.T, in *Ingester, n int64) {
	t.Helper()
	for in.Stats().Lines < n {
		time.Sleep(5 * time.Millisecond)
	}
}

// A followed file gives the events ParseAll gives for its lines, through
// a rotation (rename and a new file) and a truncation (copytruncate), and
// what was there before the start is skipped unless FromStart.
func TestFollow(t *testing.T) {
	defer func(d time.Duration) { pollEvery = d }(pollEvery)
	pollEvery = 10 * time.Millisecond
	lines := captured(t)
	want := parseAll(t, lines)
	a, b, c := lines[:len(lines)/3], lines[len(lines)/3:2*len(lines)/3], lines[2*len(lines)/3:]

	dir := t.TempDir()
	path := filepath.Join(dir, "mail.log")
	appendLines(t, path, []string{"Nov 27 00:00:00 old: before the start: skipped"})
	in, col := start(t, Config{File: path})
	// The old content is skipped only once the follower has opened the
	// file; lines written from here on are read.
	for in.Stats().FilesOpened == 0 {
		time.Sleep(time.Millisecond)
	}
	appendLines(t, path, a)
	waitLines(t, in, int64(len(a)))
	// Rotation: the file is renamed and a new one created.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, b[:len(b)/2])
	waitLines(t, in, int64(len(a)+len(b)/2))
	// Truncation in place, then the rest; the last line has no newline.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	for in.Stats().Truncations == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	rest := append(append([]string{}, b[len(b)/2:]...), c...)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(strings.Join(rest, "\n")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	in.Close()
	same(t, "followed file", col.evs, want)
	if st := in.Stats(); st.Lines != int64(len(lines)) || st.Sources["file"].Lines != st.Lines || st.Rotations != 1 || st.Truncations != 1 {
		t.Errorf("stats %+v, want %d file lines", st, len(lines))
	}
}

// FromStart reads what the file holds; a file that is not there yet is
// waited for and read whole.
func TestFollowFromStartAndMissing(t *testing.T) {
	defer func(d time.Duration) { pollEvery = d }(pollEvery)
	pollEvery = 10 * time.Millisecond
	lines := captured(t)
	want := parseAll(t, lines)
	dir := t.TempDir()
	path := filepath.Join(dir, "mail.log")
	appendLines(t, path, lines)
	in, col := start(t, Config{File: path, FromStart: true})
	waitLines(t, in, int64(len(lines)))
	in.Close()
	same(t, "from start", col.evs, want)

	later := filepath.Join(dir, "later.log")
	in2, col2 := start(t, Config{File: later})
	time.Sleep(3 * pollEvery)
	appendLines(t, later, lines)
	waitLines(t, in2, int64(len(lines)))
	in2.Close()
	same(t, "file created later", col2.evs, want)
}

// A line longer than MaxMessage is counted and skipped; the lines around
// it are read.
func TestFollowLongLine(t *testing.T) {
	defer func(d time.Duration) { pollEvery = d }(pollEvery)
	pollEvery = 10 * time.Millisecond
	path := filepath.Join(t.TempDir(), "mail.log")
	ok := "Nov 27 00:54:33 mail postfix/submission/smtpd[149]: connect from unknown[203.0.113.7]:51544"
	appendLines(t, path, []string{ok, "Nov 27 00:54:34 x: " + strings.Repeat("y", 3*MaxMessage), ok})
	in, col := start(t, Config{File: path, FromStart: true})
	waitLines(t, in, 3)
	in.Close()
	st := in.Stats()
	if len(col.evs) != 2 || st.Lines != 3 || st.Unparsed != 1 || st.Malformed != 1 {
		t.Errorf("%d events, stats %+v", len(col.evs), st)
	}
}

// A path that is no regular file (a device, a pipe) is an error of the
// file source, not a read that never ends.
func TestFollowRefusesADevice(t *testing.T) {
	in, _ := start(t, Config{File: "/dev/zero", FromStart: true})
	for deadline := time.Now().Add(30 * time.Second); in.Stats().ConnErrors == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no error for /dev/zero: %+v", in.Stats()) // the reader reads it for ever, and Close waits on it
		}
	}
	in.Close()
	st := in.Stats()
	if st.Lines != 0 {
		t.Errorf("read %d lines of /dev/zero", st.Lines)
	}
	if len(st.ErrorSamples) == 0 || !strings.Contains(st.ErrorSamples[0], "file /dev/zero: a character device, not a log file") {
		t.Errorf("error samples %q", st.ErrorSamples)
	}
}
