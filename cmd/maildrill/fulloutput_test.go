package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/internal/cliout"
)

// fullDisk fails every write after the first limit bytes with ENOSPC, as
// stdout redirected to a file on a full disk does.
type fullDisk struct {
	limit int
	buf   bytes.Buffer
}

func (f *fullDisk) Write(p []byte) (int, error) {
	room := f.limit - f.buf.Len()
	if room >= len(p) {
		return f.buf.Write(p)
	}
	f.buf.Write(p[:max(room, 0)])
	return max(room, 0), &fsError{syscall.ENOSPC}
}

type fsError struct{ errno syscall.Errno }

func (e *fsError) Error() string { return "write /dev/stdout: " + e.errno.Error() }
func (e *fsError) Unwrap() error { return e.errno }

// Commands that print their answer on stdout without checking each write
// (the verdict tables of run, replay and test, rules test, validate) used
// to exit 0 when stdout was a file on a full disk: an empty or cut report
// passed off as a clean run. The exit status now says the output is
// incomplete (2), whatever the verdicts were; a closed pipe still is not a
// failure.
func TestStdoutOnAFullDisk(t *testing.T) {
	dir := t.TempDir()
	events, truth := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"run", "password-spray", "-q", "--events", events, "--truth", truth}, &out, &errb), errb.String())
	require.Contains(t, out.String(), "MET", "the verdicts go to stdout")

	for _, args := range [][]string{
		{"run", "password-spray", "-q"},
		{"replay", "--events", events, "--truth", truth, "password-spray"},
		{"test", "password-spray"},
		{"rules", "test"},
		{"validate", "password-spray"},
	} {
		t.Run(args[0], func(t *testing.T) {
			disk := &fullDisk{limit: 10}
			errb.Reset()
			err := run(context.Background(), args, &cliout.Writer{W: disk}, &errb)
			require.Error(t, err, "stdout could not be written: %s", errb.String())
			assert.ErrorIs(t, err, syscall.ENOSPC)
			assert.Contains(t, err.Error(), "writing to standard output")
			assert.Equal(t, exitBadInput, exitCode(err, &bytes.Buffer{}))
			assert.Equal(t, 10, disk.buf.Len(), "what fitted was written")

			// The same command with room for its output succeeds.
			roomy := &fullDisk{limit: 1 << 20}
			errb.Reset()
			require.NoError(t, run(context.Background(), args, &cliout.Writer{W: roomy}, &errb), errb.String())
			assert.Greater(t, roomy.buf.Len(), 10)
		})
	}
}

// A reader that goes away (`maildrill run x | head -1`) is not a failure.
func TestStdoutClosedIsNotAFailure(t *testing.T) {
	w := &cliout.Writer{W: writerFunc(func(p []byte) (int, error) { return 0, syscall.EPIPE })}
	var errb bytes.Buffer
	err := run(context.Background(), []string{"list"}, w, &errb)
	require.Error(t, err)
	assert.True(t, errors.Is(err, cliout.ErrClosed), "got %v", err)
	assert.Nil(t, w.Err(), "a closed pipe is not recorded as a failed write")
	assert.Equal(t, exitOK, exitCode(err, &errb))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// ingest is a listener that runs until Ctrl-C. When its alerts cannot be
// written it used to go on reading, every later alert lost, and say so
// only when stopped; it now stops at once with the error (exit 2).
func TestIngestStopsWhenItsAlertsCannotBeWritten(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "mail.log")
	require.NoError(t, os.WriteFile(logFile, []byte(strings.Join(failedLogins(12, "noemie.baron@interieur.test"), "\n")+"\n"), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"ingest", "--file", logFile, "--from-start", "--log-tz", "UTC"}, &cliout.Writer{W: &fullDisk{limit: 0}}, &stderr)
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, syscall.ENOSPC)
		assert.Contains(t, err.Error(), "writing the alerts")
		assert.Equal(t, exitBadInput, exitCode(err, &bytes.Buffer{}))
		assert.Contains(t, stderr.String(), "ingest: 12 lines", "the summary is still printed")
	case <-time.After(30 * time.Second):
		t.Fatalf("ingest went on with nowhere to write its alerts: %s", stderr.String())
	}
}

// A negative per-run --deadline (run, test, exercise) was taken for none;
// the global one was already refused.
func TestNegativeRunDeadline(t *testing.T) {
	for _, cmd := range []string{"run", "test"} {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{cmd, "password-spray", "--deadline", "-1s"}, &out, &errb)
		require.Error(t, err, cmd)
		assert.Equal(t, exitBadInput, exitCode(err, &bytes.Buffer{}))
		assert.Contains(t, err.Error(), "--deadline -1s")
		assert.NotContains(t, errb.String(), "▶", "nothing ran")
	}
}

// --speed is a number from 0.001 to 1,000,000. NaN used to be taken for
// the virtual clock (no comparison with NaN is true), and speeds past
// about 1e9 overflowed the clock: "-2562047h47m0s of scenario time", the
// verdicts judged on it. Refused before anything starts, exit 2.
func TestSpeedOutOfRange(t *testing.T) {
	for _, speed := range []string{"NaN", "Inf", "-Inf", "1e300", "1e-300", "-5", "0.0001", "1000001"} {
		for _, cmd := range []string{"run", "test"} {
			var out, errb bytes.Buffer
			err := run(context.Background(), []string{cmd, "password-spray", "--speed", speed}, &out, &errb)
			require.Error(t, err, "%s --speed %s", cmd, speed)
			assert.Equal(t, exitBadInput, exitCode(err, &bytes.Buffer{}))
			assert.Contains(t, err.Error(), "--speed ", "%s --speed %s", cmd, speed)
			assert.Contains(t, err.Error(), "want a number from 0.001 to 1000000")
			assert.NotContains(t, errb.String(), "▶", "%s --speed %s: nothing ran", cmd, speed)
		}
	}
}

// An output naming a file the command reads (or another output) is bad
// input, refused before anything is written: `ingest --file mail.log
// --events mail.log` truncated the log it was to follow; `replay --json`
// naming the recording overwrote it once judged.
func TestOutputOverAnInput(t *testing.T) {
	dir := t.TempDir()
	events, truth := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"run", "password-spray", "-q", "--events", events, "--truth", truth}, &out, &errb), errb.String())
	before, err := os.ReadFile(events)
	require.NoError(t, err)
	scenario := filepath.Join(dir, "mine.yaml")
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"show", "password-spray"}, &out, &errb))
	require.NoError(t, os.WriteFile(scenario, out.Bytes(), 0o644))

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ingest", "--file", events, "--events", events}, "--events " + events + " would overwrite --file " + events},
		{[]string{"ingest", "--file", events, "--from-start", "--alerts", filepath.Join(dir, ".", "ev.jsonl")}, "--alerts"},
		{[]string{"replay", "--events", events, "--truth", truth, "--json", events, "password-spray"}, "--json " + events + " would overwrite --events"},
		{[]string{"run", scenario, "--html", scenario}, "would overwrite the scenario " + scenario},
		{[]string{"test", scenario, "--junit", scenario}, "would overwrite the scenario"},
		{[]string{"run", "password-spray", "--events", filepath.Join(dir, "x"), "--truth", filepath.Join(dir, "x")}, "--events and --truth name the same file"},
		{[]string{"serve", "--events", filepath.Join(dir, "a"), "--accounts", filepath.Join(dir, "a")}, "--events and --accounts name the same file"},
		{[]string{"exercise", scenario, "--debrief", scenario}, "--debrief"},
		// The JSON report's lines among the events' on stdout: neither
		// could be read back.
		{[]string{"run", "password-spray", "--events", "-", "--json", "-"}, "both write to standard output"},
		{[]string{"run", "password-spray", "--events", "-", "--truth", "-"}, "both write to standard output"},
		// One run id twice in the same files: replay judged the two as one.
		{[]string{"run", "password-spray", "password-spray", "--events", filepath.Join(dir, "two.jsonl")}, `scenario id "password-spray" is also the id of password-spray`},
	} {
		errb.Reset()
		err := run(context.Background(), tc.args, &out, &errb)
		require.Error(t, err, "%v", tc.args)
		assert.Equal(t, exitBadInput, exitCode(err, &bytes.Buffer{}), "%v", tc.args)
		assert.Contains(t, err.Error(), tc.want, "%v", tc.args)
		assert.NotContains(t, errb.String(), "▶", "%v: nothing ran", tc.args)
	}
	after, err := os.ReadFile(events)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the recording is untouched")
	_, err = os.Stat(filepath.Join(dir, "x"))
	assert.True(t, os.IsNotExist(err), "no output was created")
}
