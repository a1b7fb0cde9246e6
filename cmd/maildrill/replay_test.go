package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors"
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
	var liveRep []struct {
		Verdicts []map[string]any `json:"verdicts"`
	}
	b, err := os.ReadFile(live)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &liveRep))
	rep := readReport(t, replayed)
	require.Len(t, rep.Scenarios, 1)
	got := rep.Scenarios[0].Verdicts
	require.Len(t, got, len(liveRep[0].Verdicts))
	require.Len(t, got, 3)
	for i, want := range liveRep[0].Verdicts {
		v := got[i]
		assert.Equal(t, want["rule"], v.Rule)
		assert.Equal(t, want["result"], v.Result, v.Rule)
		assert.Equal(t, want["alerts"], float64(v.Alerts), v.Rule)
		if fa, ok := want["first_alert"]; ok {
			require.NotNil(t, v.FirstAlert, v.Rule)
			assert.Equal(t, fa, v.FirstAlert.Format("2006-01-02T15:04:05.999999999Z07:00"), v.Rule)
		}
		ttd, _ := want["time_to_detect_ns"].(float64)
		if v.TTDMS != nil {
			assert.Equal(t, int64(ttd)/1e6, *v.TTDMS, v.Rule)
		}
		assert.Equal(t, want["window_start"], v.WindowStart.Format("2006-01-02T15:04:05.999999999Z07:00"), v.Rule)
		assert.Equal(t, want["window_end"], v.WindowEnd.Format("2006-01-02T15:04:05.999999999Z07:00"), v.Rule)
	}
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

	// A rule edit: without the brute-force rule, its expectation is missed.
	rules := filepath.Join(dir, "rules")
	require.NoError(t, os.MkdirAll(rules, 0o755))
	require.NoError(t, fs.WalkDir(detectors.Pack(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yml") || strings.Contains(p, "brute_force") {
			return err
		}
		data, err := fs.ReadFile(detectors.Pack(), p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(rules, filepath.Base(p)), data, 0o644)
	}))
	out.Reset()
	err = run(context.Background(), []string{"replay", "--events", events, "--truth", truth, "--rules", rules, scenario}, &out, &errb)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Contains(t, out.String(), "MISSED  IMAP Brute Force Against One Account")

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
