package jsonl

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func lines(t *testing.T, path string) ([]string, error) {
	t.Helper()
	in, closeIn, err := Open(path, nil)
	require.NoError(t, err)
	defer closeIn()
	r := NewReader(in, path)
	var out []string
	for {
		b, ok := r.Next()
		if !ok {
			break
		}
		out = append(out, string(b))
	}
	return out, r.Err()
}

func TestOpenReadsPlainAndGzipAlike(t *testing.T) {
	dir := t.TempDir()
	text := "{\"a\":1}\n{\"a\":2}\n"
	plain, packed := filepath.Join(dir, "plain.jsonl"), filepath.Join(dir, "packed.jsonl")
	require.NoError(t, os.WriteFile(plain, []byte(text), 0o644))
	require.NoError(t, os.WriteFile(packed, gz(t, text), 0o644))
	for _, p := range []string{plain, packed} {
		got, err := lines(t, p)
		require.NoError(t, err, p)
		require.Equal(t, []string{`{"a":1}`, `{"a":2}`}, got, p)
	}
}

func TestDamagedGzipNamesFileAndLine(t *testing.T) {
	full := gz(t, strings.Repeat("{\"event.id\":\"x\",\"pad\":\""+strings.Repeat("y", 200)+"\"}\n", 2000))
	p := filepath.Join(t.TempDir(), "cut.jsonl.gz")
	require.NoError(t, os.WriteFile(p, full[:len(full)/2], 0o644))
	got, err := lines(t, p)
	require.Error(t, err)
	require.Contains(t, err.Error(), p+":")
	require.Contains(t, err.Error(), "gzip stream damaged")
	require.NotEmpty(t, got)

	// A bad line read under a damaged stream blames the stream.
	in, closeIn, err := Open(p, nil)
	require.NoError(t, err)
	defer closeIn()
	r := NewReader(in, "cut")
	for {
		if _, ok := r.Next(); !ok {
			break
		}
	}
	err = r.LineError(errors.New("bad syntax"))
	require.Contains(t, err.Error(), "gzip stream damaged")
	require.NotContains(t, err.Error(), "bad syntax")
}

func TestBadGzipHeader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.gz")
	require.NoError(t, os.WriteFile(p, []byte{0x1f, 0x8b, 0, 0}, 0o644))
	_, _, err := Open(p, nil)
	require.ErrorContains(t, err, p+": gzip header")
}

func TestStdinAndLineNumbers(t *testing.T) {
	in, closeIn, err := Open("-", strings.NewReader("a\n\nb\n"))
	require.NoError(t, err)
	defer closeIn()
	r := NewReader(in, "stdin")
	var nums []int
	for {
		if _, ok := r.Next(); !ok {
			break
		}
		nums = append(nums, r.Line())
	}
	require.NoError(t, r.Err())
	require.Equal(t, []int{1, 2, 3}, nums)
	require.EqualError(t, r.LineError(errors.New("x")), "stdin:3: x")
}

// TestInterruptible: a read blocked on a pipe that never delivers ends
// when the context does.
func TestInterruptible(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r := Interruptible(ctx, pr)
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 8))
		done <- err
	}()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	// Data that does arrive is read as is.
	r = Interruptible(context.Background(), strings.NewReader("abc"))
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, "abc", string(b))
}

// A stream that starts with a UTF-8 byte order mark (PowerShell's
// Set-Content -Encoding UTF8 writes one) reads as without it; one in
// UTF-16 (Out-File's default) is refused as such, not as a bad first line.
func TestByteOrderMark(t *testing.T) {
	r := NewReader(strings.NewReader("\xEF\xBB\xBF{\"a\":1}\n\xEF\xBB\xBF{\"b\":2}\n"), "ev.jsonl")
	l1, ok := r.Next()
	require.True(t, ok)
	assert.Equal(t, `{"a":1}`, string(l1))
	l2, ok := r.Next()
	require.True(t, ok)
	assert.Equal(t, "\xEF\xBB\xBF{\"b\":2}", string(l2), "only the stream's first bytes are a byte order mark")

	for enc, data := range map[string]string{"UTF-16": "\xFF\xFE{\x00}\x00\n\x00", "UTF-32": "\x00\x00\xFE\xFF\x00\x00\x00{"} {
		r := NewReader(strings.NewReader(data), "ev.jsonl")
		_, ok := r.Next()
		require.True(t, ok)
		err := r.LineError(errors.New("invalid JSON event"))
		assert.EqualError(t, err, "ev.jsonl: the file is "+enc+" text (it starts with a byte order mark): save it as UTF-8 (invalid JSON event)")
	}
}

// TestLineTooLong: a line past MaxLine (a binary file given as a log,
// /dev/zero) is named by its own number; the error said line 0 (the last
// line read) and only "bufio.Scanner: token too long".
func TestLineTooLong(t *testing.T) {
	in := strings.NewReader("{\"a\":1}\n" + strings.Repeat("x", MaxLine+10) + "\n{\"b\":2}\n")
	lr := NewReader(in, "big.jsonl")
	b, ok := lr.Next()
	require.True(t, ok)
	assert.Equal(t, `{"a":1}`, string(b))
	_, ok = lr.Next()
	require.False(t, ok)
	err := lr.Err()
	require.Error(t, err)
	assert.ErrorIs(t, err, bufio.ErrTooLong)
	assert.Contains(t, err.Error(), "big.jsonl:2: line longer than 16 MiB, the limit of a JSON line")
	assert.Contains(t, lr.LineError(errors.New("x")).Error(), "big.jsonl:2: line longer")
}
