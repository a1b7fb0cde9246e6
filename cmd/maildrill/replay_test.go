package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReplaySameVerdicts runs a scenario recording both logs, replays
// them, and gets the same verdicts; then replays with a rule removed, the
// loop after a rule edit.
func TestReplaySameVerdicts(t *testing.T) {
	dir := t.TempDir()
	scenario := filepath.Join(suiteDir, "brute.yaml")
	events, truth, live := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl"), filepath.Join(dir, "live.json")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"run", scenario, "-q", "--events", events, "--truth", truth, "--json", live}, &out, &errb), errb.String())
	liveTable := out.String()

	replayed := filepath.Join(dir, "replay.json")
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"replay", "--events", events, "--truth", truth, "--json", replayed, scenario}, &out, &errb), errb.String())

	// The live run's verdicts (run --json) and the replayed ones agree on
	// everything they judge.
	liveRep := readReport(t, live)
	rep := readReport(t, replayed)
	require.Len(t, rep.Scenarios, 1)
	require.Len(t, liveRep.Scenarios, 1)
	want, got := liveRep.Scenarios[0].Verdicts, rep.Scenarios[0].Verdicts
	require.Len(t, got, 3)
	assert.Equal(t, want, got)
	assert.Equal(t, liveRep.Scenarios[0].Alerts, rep.Scenarios[0].Alerts)
	assert.Equal(t, liveRep.Scenarios[0].Steps, rep.Scenarios[0].Steps, "spans rebuilt from the truth records")
	assert.Equal(t, liveRep.Scenarios[0].Techniques, rep.Scenarios[0].Techniques)
	assert.Equal(t, liveRep.Scenarios[0].Actions, rep.Scenarios[0].Actions)
	assert.Equal(t, liveRep.Scenarios[0].Events, rep.Scenarios[0].Events)
	// The printed tables agree too, but for the wall time.
	strip := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, "of scenario time in") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	assert.Equal(t, strip(liveTable), strip(out.String()))

	// A rule edit: with the brute-force threshold out of reach, its
	// expectation is missed.
	rules := filepath.Join(dir, "rules")
	require.NoError(t, os.MkdirAll(rules, 0o755))
	copyPack := func(skip string, edit func(string, []byte) []byte) {
		t.Helper()
		require.NoError(t, os.RemoveAll(rules))
		require.NoError(t, os.MkdirAll(rules, 0o755))
		require.NoError(t, fs.WalkDir(rulepack.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yml") || (skip != "" && strings.Contains(p, skip)) {
				return err
			}
			data, err := fs.ReadFile(rulepack.FS(), p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(rules, filepath.Base(p)), edit(p, data), 0o644)
		}))
	}
	copyPack("", func(p string, data []byte) []byte {
		if strings.HasSuffix(p, "imap_brute_force.yml") {
			edited := strings.Replace(string(data), "gte: 10\n", "gte: 100000\n", 1)
			require.NotEqual(t, string(data), edited)
			return []byte(edited)
		}
		return data
	})
	out.Reset()
	err := run(context.Background(), []string{"replay", "--events", events, "--truth", truth, "--no-pack", "--rules", rules, scenario}, &out, &errb)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Contains(t, out.String(), "MISSED  IMAP Brute Force Against One Account")

	// Without the rule, the expectation names no loaded rule: bad input,
	// with its position, rather than a miss that reads as a regression.
	copyPack("brute_force", func(_ string, data []byte) []byte { return data })
	out.Reset()
	errb.Reset()
	err = run(context.Background(), []string{"replay", "--events", events, "--truth", truth, "--no-pack", "--rules", rules, scenario}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, errb.String(), scenario+`:32:11: rule "IMAP Brute Force Against One Account": no loaded rule has this id, name or title`)
	assert.NotContains(t, out.String(), "MISSED")

	// Bad input.
	for _, bad := range [][]string{
		{"replay", scenario},
		{"replay", "--events", events, scenario},
		{"replay", "--events", truth, "--truth", truth, scenario},
		{"replay", "--events", events, "--truth", events, scenario},
		{"replay", "--events", events, "--truth", truth, "--run-id", "nope", scenario},
	} {
		err := run(context.Background(), bad, &out, &errb)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), "%v", bad)
	}
}

// TestReplayRefusesACutEventsLog: an events log cut at a line boundary
// (a copy that stopped, a disk that filled) reads well, and was judged as
// a run whose rules missed: exit 1, MISSED, on a recording that does not
// hold the attack. The truth log's trailer now counts the run's events,
// and a log holding fewer is bad input.
func TestReplayRefusesACutEventsLog(t *testing.T) {
	dir := t.TempDir()
	ev, tr := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"run", "password-spray", "-q", "--events", ev, "--truth", tr}, &out, &errb), errb.String())
	require.NoError(t, run(context.Background(), []string{"replay", "--events", ev, "--truth", tr, "password-spray"}, &out, &errb), errb.String())

	b, err := os.ReadFile(ev)
	require.NoError(t, err)
	lines := bytes.SplitAfter(b, []byte("\n"))
	cut := filepath.Join(dir, "cut.jsonl")
	require.NoError(t, os.WriteFile(cut, bytes.Join(lines[:len(lines)/2], nil), 0o644))
	out.Reset()
	err = run(context.Background(), []string{"replay", "--events", cut, "--truth", tr, "password-spray"}, &out, &errb)
	require.Error(t, err)
	assert.Equal(t, exitBadInput, exitCode(err, &bytes.Buffer{}))
	assert.Contains(t, err.Error(), "the events log is incomplete")
	assert.NotContains(t, out.String(), "MISSED", "no verdict on what is not all there")

	// The truth log cut short likewise: its header says a trailer ends it.
	b, err = os.ReadFile(tr)
	require.NoError(t, err)
	lines = bytes.SplitAfter(b, []byte("\n"))
	cutTruth := filepath.Join(dir, "cut-truth.jsonl")
	require.NoError(t, os.WriteFile(cutTruth, bytes.Join(lines[:len(lines)*2/3], nil), 0o644))
	out.Reset()
	err = run(context.Background(), []string{"replay", "--events", ev, "--truth", cutTruth, "password-spray"}, &out, &errb)
	require.Error(t, err)
	assert.Equal(t, exitBadInput, exitCode(err, &bytes.Buffer{}))
	assert.Contains(t, err.Error(), "ends before its trailer")
	assert.NotContains(t, out.String(), "MISSED")
}
