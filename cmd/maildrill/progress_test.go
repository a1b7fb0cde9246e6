package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowDownload runs a few wall seconds on a scaled clock (--speed 20:
// the login at +30s is 1.5 s of wall time), long enough for the status
// line's ticks (4 a second).
var slowDownload = filepath.Join("testdata", "progress", "slow-download.yaml")

// TestProgressLineOnATerminal: with stderr a terminal (a pty), run draws
// a status line — the scenario, its clock, the steps — redraws it,
// erases it before the timeline's lines and at the end; stdout (the
// verdicts) has none of it.
func TestProgressLineOnATerminal(t *testing.T) {
	t.Setenv("TERM", "xterm")
	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	defer ptmx.Close()
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx) // until the tty side closes (EIO)
		got <- string(b)
	}()
	var out bytes.Buffer
	err = run(context.Background(), []string{"run", "--speed", "20", "--corpus-cache", "off", slowDownload}, &out, tty)
	require.NoError(t, err)
	tty.Close()
	term := <-got

	assert.Contains(t, term, "\r  ▸ progress-slow-download · ", "the status line is drawn")
	assert.Regexp(t, `▸ progress-slow-download · Sat 02:00:\d\d · step \d/3 · \d alerts? · 0:0\d`, term, "the clock runs from the start (a scaled clock moves between notes)")
	assert.Contains(t, term, "\x1b[K\r\x1b[K", "erased before the timeline's next line")
	last := strings.LastIndex(term, "▸")
	require.Positive(t, last)
	assert.Contains(t, term[last:], "\r\x1b[K", "erased at the end")
	assert.NotContains(t, out.String(), "▸", "the verdicts on stdout carry no status line")
	assert.Contains(t, out.String(), "MET")
}

// TestSuiteProgressLineOnATerminal: test draws the suite's status line
// (scenarios done) on a terminal and erases it at the end.
func TestSuiteProgressLineOnATerminal(t *testing.T) {
	t.Setenv("TERM", "xterm")
	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	defer ptmx.Close()
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx)
		got <- string(b)
	}()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"test", "--speed", "20", "--corpus-cache", "off", slowDownload}, &out, tty))
	tty.Close()
	term := <-got
	assert.Regexp(t, `\r  ▸ [01]/1 scenarios done · 0:0\d\x1b\[K`, term)
	last := strings.LastIndex(term, "▸")
	require.Positive(t, last)
	assert.Contains(t, term[last:], "\r\x1b[K", "erased")
	assert.NotContains(t, out.String(), "▸")
}

// TestNoProgressLineInPipes: on a pipe (a buffer here, as in CI logs)
// neither run nor test writes a status line or a terminal control code.
func TestNoProgressLineInPipes(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--speed", "20", "--corpus-cache", "off", slowDownload},
		{"test", "--speed", "20", "--corpus-cache", "off", slowDownload},
	} {
		var out, errb bytes.Buffer
		require.NoError(t, run(context.Background(), args, &out, &errb), errb.String())
		for _, s := range []string{out.String(), errb.String()} {
			assert.NotContains(t, s, "▸", args)
			assert.NotContains(t, s, "\r", args)
			assert.NotContains(t, s, "\x1b[", args)
		}
		assert.Contains(t, out.String()+errb.String(), "progress-slow-download", args)
	}
}
