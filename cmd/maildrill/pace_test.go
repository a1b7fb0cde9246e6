package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A run too fast for the machine says it fell behind: test in its status
// line, verdict table, JSON and JUnit reports; run on the terminal while
// it runs and in its verdict table. On the virtual clock nothing is said.
func TestRunSaysItFellBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario")
	}
	dir := t.TempDir()
	js, junit := filepath.Join(dir, "r.json"), filepath.Join(dir, "j.xml")
	var out, errb bytes.Buffer
	// A million scenario seconds per wall second: every round trip costs
	// minutes of scenario time.
	err := run(context.Background(), []string{"test", "brute-force", "--speed", "1000000", "--corpus-cache", "off", "--json", js, "--junit", junit}, &out, &errb)
	all := out.String() + errb.String()
	_ = err // the verdicts of a run this stretched are whatever they are
	assert.Contains(t, all, "warning: the run fell behind its clock: ")
	assert.Contains(t, all, "; fell behind its clock by up to ")

	b, err := os.ReadFile(js)
	require.NoError(t, err)
	var rep struct {
		Scenarios []struct {
			Pace *struct {
				Behind bool  `json:"behind"`
				Late   int   `json:"late_actions"`
				MaxLag int64 `json:"max_lag_ms"`
			} `json:"pace"`
		} `json:"scenarios"`
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Len(t, rep.Scenarios, 1)
	p := rep.Scenarios[0].Pace
	require.NotNil(t, p)
	assert.True(t, p.Behind)
	assert.Positive(t, p.Late)
	assert.Greater(t, p.MaxLag, int64(60000))
	x, err := os.ReadFile(junit)
	require.NoError(t, err)
	assert.Contains(t, string(x), `<property name="late_actions" value="`)

	// run: the note while it runs, the warning under the verdicts.
	out.Reset()
	errb.Reset()
	_ = run(context.Background(), []string{"run", "brute-force", "--speed", "1000000", "--corpus-cache", "off"}, &out, &errb)
	all = out.String() + errb.String()
	assert.Contains(t, all, "falling behind the clock: attacker's action due at ")
	assert.Equal(t, 1, strings.Count(all, "falling behind the clock"), "said once")
	assert.Contains(t, all, "warning: the run fell behind its clock: ")

	out.Reset()
	errb.Reset()
	require.NoError(t, run(context.Background(), []string{"run", "brute-force", "-q", "--json", js}, &out, &errb), errb.String())
	assert.False(t, strings.Contains(out.String()+errb.String(), "fell behind") || strings.Contains(out.String()+errb.String(), "falling behind"))
	b, err = os.ReadFile(js)
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"pace"`, "the virtual clock has no pace")
}

// --fail-behind fails a run that fell behind its clock (exit 1, a BEHIND
// verdict of kind pace in the table, JSON and JUnit) though every
// expectation held; without it the same run passes with its warning.
// exercise mode has no such flag: its debrief judges.
func TestFailBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario")
	}
	dir := t.TempDir()
	sc := "../../scenarios/testdata/verdicts/quiet-reader.yaml"
	js, junit := filepath.Join(dir, "r.json"), filepath.Join(dir, "j.xml")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"test", sc, "--speed", "1000000", "--corpus-cache", "off"}, &out, &errb), errb.String())
	assert.Contains(t, out.String()+errb.String(), "warning: the run fell behind its clock")

	out.Reset()
	errb.Reset()
	err := run(context.Background(), []string{"test", sc, "--speed", "1000000", "--corpus-cache", "off", "--fail-behind", "--json", js, "--junit", junit}, &out, &errb)
	require.Error(t, err)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Regexp(t, `BEHIND\s+\*\s+the run's clock\s+-\s+0\s+--fail-behind: \d+ of \d+ timed actions started more than 1m0s late`, out.String()+errb.String())
	b, err := os.ReadFile(js)
	require.NoError(t, err)
	var rep struct {
		Passed    bool
		Scenarios []struct {
			Verdicts []struct{ Kind, Result string }
		}
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.False(t, rep.Passed)
	require.Len(t, rep.Scenarios, 1)
	assert.Equal(t, []struct{ Kind, Result string }{{"pace", "behind"}}, rep.Scenarios[0].Verdicts)
	x, err := os.ReadFile(junit)
	require.NoError(t, err)
	assert.Contains(t, string(x), `<testcase name="the run keeps to its clock"`)
	assert.Contains(t, string(x), `<failure message="behind: --fail-behind: `)

	// run takes it too; on the virtual clock it fails nothing.
	out.Reset()
	errb.Reset()
	err = run(context.Background(), []string{"run", sc, "--speed", "1000000", "--corpus-cache", "off", "--fail-behind", "-q"}, &out, &errb)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	require.NoError(t, run(context.Background(), []string{"run", sc, "--fail-behind", "-q"}, &out, &errb), errb.String())

	err = run(context.Background(), []string{"exercise", sc, "--fail-behind"}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb), "exercise has no --fail-behind")
}

// A run on a scaled clock ends its truth log with a trailer saying how it
// kept to its clock: replay warns as the run did, and --fail-behind fails
// it. A run on the virtual clock writes only its event count, and its
// replay says nothing of a clock.
func TestReplayKeepsThePace(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario")
	}
	dir := t.TempDir()
	sc := "../../scenarios/testdata/verdicts/quiet-reader.yaml"
	ev, tr := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"run", sc, "--speed", "1000000", "--corpus-cache", "off", "-q", "--events", ev, "--truth", tr}, &out, &errb), errb.String())
	b, err := os.ReadFile(tr)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Greater(t, len(lines), 2)
	last := lines[len(lines)-1]
	assert.True(t, strings.HasPrefix(last, `{"maildrill.recording.end":1,"labels.run_id":"md-quiet-reader-`), last)
	var trailer struct {
		Speed float64 `json:"speed"`
		Timed int     `json:"timed_actions"`
		Late  int     `json:"late_actions"`
		Lag   int64   `json:"max_lag_ms"`
	}
	require.NoError(t, json.Unmarshal([]byte(last), &trailer))
	assert.Equal(t, 1e6, trailer.Speed)
	assert.Positive(t, trailer.Late)
	assert.GreaterOrEqual(t, trailer.Timed, trailer.Late)
	assert.Greater(t, trailer.Lag, int64(60000))

	out.Reset()
	errb.Reset()
	require.NoError(t, run(context.Background(), []string{"replay", "--events", ev, "--truth", tr, sc}, &out, &errb), errb.String())
	assert.Contains(t, out.String()+errb.String(), "warning: the run fell behind its clock: ", "the replay warns as the run did")

	out.Reset()
	errb.Reset()
	err = run(context.Background(), []string{"replay", "--events", ev, "--truth", tr, "--fail-behind", sc}, &out, &errb)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Regexp(t, `BEHIND\s+\*\s+the run's clock`, out.String()+errb.String())

	// The virtual clock: a trailer with the event count and no pace,
	// nothing to say, nothing to fail.
	require.NoError(t, run(context.Background(), []string{"run", sc, "-q", "--events", ev, "--truth", tr}, &out, &errb), errb.String())
	b, err = os.ReadFile(tr)
	require.NoError(t, err)
	lines = strings.Split(strings.TrimSpace(string(b)), "\n")
	assert.Regexp(t, `^\{"maildrill.recording.end":1,"labels.run_id":"md-quiet-reader-[0-9a-f]+","speed":0,"audit_events":\d+\}$`, lines[len(lines)-1])
	out.Reset()
	errb.Reset()
	require.NoError(t, run(context.Background(), []string{"replay", "--events", ev, "--truth", tr, "--fail-behind", sc}, &out, &errb), errb.String())
	assert.NotContains(t, out.String()+errb.String(), "behind")

	// A trailer that cannot be right is bad input, at its line.
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, append(b, []byte(`{"maildrill.recording.end":1,"labels.run_id":"md-quiet-reader-00000000","speed":10,"timed_actions":1,"late_actions":2,"max_lag_ms":0}`+"\n")...), 0o644))
	err = run(context.Background(), []string{"replay", "--events", ev, "--truth", bad, sc}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, err.Error(), "bad recording trailer: late_actions 2 of timed_actions 1")
	assert.Contains(t, err.Error(), "bad.jsonl:"+strconv.Itoa(strings.Count(string(b), "\n")+1))
}
