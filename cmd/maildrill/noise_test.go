package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noiseScenario is scenarios/testdata/verdicts/noise.yaml (a brute force
// at night, the brute-force rule expected; staff working late from an
// outside address make the off-hours and outside-network rules fire
// unexpectedly), with the noise: block given, written to dir.
func noiseScenario(t *testing.T, dir, noise string) string {
	t.Helper()
	src, err := os.ReadFile("../../scenarios/testdata/verdicts/noise.yaml")
	require.NoError(t, err)
	body, _, ok := strings.Cut(string(src), "noise:\n")
	require.True(t, ok)
	p := filepath.Join(dir, "noise.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body+noise), 0o644))
	return p
}

// Unexpected alerts are listed per rule in the summary and the JSON
// report; alone they fail nothing, --fail-on-noise fails each noisy rule.
func TestTestNoise(t *testing.T) {
	dir := t.TempDir()
	sc := noiseScenario(t, dir, "")
	js := filepath.Join(dir, "r.json")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"test", sc, "--json", js, "-v"}, &out, &errb)
	require.NoError(t, err, "%s%s", out.String(), errb.String())
	o := out.String()
	assert.Contains(t, o, "unexpected alerts (no expectation covers them): 8")
	assert.Regexp(t, `IMAP Login Outside Office Hours\s+4\s+2\s+2\s+0\n`, o, "rule, alerts, attacker, staff, unknown")
	assert.Regexp(t, `IMAP Login From Outside The Office Network\s+4\s+2\s+2\s+0\n`, o)
	assert.Regexp(t, `\+01:00 staff \(no expectation names this rule\): events md-noise-accounting-[0-9a-f]{8}-\d+`, o, "-v lists the events")
	_, table, _ := strings.Cut(o, "unexpected alerts (no expectation")
	assert.NotContains(t, table, "IMAP Brute Force Against One Account", "covered: not in the noise table")
	assert.Contains(t, errb.String(), "unexpected alerts: 8")

	validateReportSchema(t, js)
	rep := readReport(t, js)
	assert.Equal(t, "maildrill.report/v2", rep.Schema)
	assert.Equal(t, version, rep.ToolVersion)
	assert.NotEmpty(t, rep.ToolCommit)
	s := rep.Scenarios[0]
	assert.Equal(t, int64(12), s.Seed)
	assert.Equal(t, "embedded", s.Target)
	assert.Len(t, s.RulesSHA256, 64)
	assert.Len(t, s.ScenarioSHA256, 64)
	require.Len(t, s.Noise, 2)
	for _, n := range s.Noise {
		assert.Equal(t, 4, n.Alerts)
		for _, it := range n.Items {
			require.NotEmpty(t, it.Events)
			assert.Equal(t, it.EventIDs[0], it.Events[0].ID)
			assert.Equal(t, "imap.login", it.Events[0].Action)
		}
	}

	// --fail-on-noise: exit 1, a NOISY verdict per rule.
	out.Reset()
	errb.Reset()
	err = run(context.Background(), []string{"test", sc, "--fail-on-noise"}, &out, &errb)
	require.Error(t, err)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Regexp(t, `NOISY\s+IMAP Login Outside Office Hours\s+noise`, out.String())
	assert.Regexp(t, `NOISY\s+IMAP Login From Outside The Office Network\s+noise`, out.String())
	assert.Contains(t, errb.String(), "1/3 expectations met")

	// run takes the flag too.
	out.Reset()
	errb.Reset()
	err = run(context.Background(), []string{"run", sc, "-q", "--fail-on-noise"}, &out, &errb)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Contains(t, out.String(), "--fail-on-noise: 4 unexpected alert(s) (attacker 2, staff 2, unknown 0)")
}

// A declared noise budget fails the run when exceeded, and a misspelt
// rule in it is bad input at its position, before any run.
func TestNoiseBudgetCommand(t *testing.T) {
	dir := t.TempDir()
	sc := noiseScenario(t, dir, "noise:\n  max_alerts: 8\n  rules:\n    - {rule: IMAP Login From Outside The Office Network, max_alerts: 4}\n")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"test", sc}, &out, &errb), "%s%s", out.String(), errb.String())
	assert.Regexp(t, `MET\s+\*\s+noise \(unexpected alerts\)\s+-\s+8\s+8 unexpected alert\(s\), at most 8 allowed`, out.String())

	sc = noiseScenario(t, dir, "noise: {max_alerts: 7}\n")
	out.Reset()
	errb.Reset()
	err := run(context.Background(), []string{"test", sc}, &out, &errb)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Regexp(t, `NOISY\s+\*\s+noise \(unexpected alerts\)\s+-\s+8\s+8 unexpected alert\(s\), at most 7 allowed`, out.String())

	sc = noiseScenario(t, dir, "noise:\n  rules:\n    - {rule: IMAP Login Outside Ofice Hours, max_alerts: 0}\n")
	for _, cmd := range [][]string{{"validate", sc}, {"test", sc}, {"run", sc}} {
		out.Reset()
		errb.Reset()
		err := run(context.Background(), cmd, &out, &errb)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), cmd[0])
		assert.Contains(t, errb.String(), `noise.yaml:34:14: noise rule "IMAP Login Outside Ofice Hours": no loaded rule has this id, name or title`, cmd[0])
		assert.NotContains(t, out.String()+errb.String(), "audit events", cmd[0]+": nothing ran")
	}
}

// replay lists the same unexpected alerts as the live run, with the
// events behind them read from the events log, and the run's seed and
// target from the recording header.
func TestReplayNoise(t *testing.T) {
	dir := t.TempDir()
	sc := noiseScenario(t, dir, "")
	ev, tr := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl")
	live, replayed := filepath.Join(dir, "live.json"), filepath.Join(dir, "replay.json")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"run", sc, "-q", "--seed", "12", "--events", ev, "--truth", tr, "--json", live}, &out, &errb), "%s", errb.String())
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"replay", "--events", ev, "--truth", tr, "--json", replayed, sc}, &out, &errb), "%s", errb.String())
	assert.Contains(t, out.String(), "unexpected alerts (no expectation covers them): 8")
	validateReportSchema(t, replayed)
	a, b := readReport(t, live).Scenarios[0], readReport(t, replayed).Scenarios[0]
	assert.Equal(t, a.Noise, b.Noise, "the same noise, events included")
	require.NotEmpty(t, b.Noise)
	require.NotEmpty(t, b.Noise[0].Items[0].Events)
	assert.Equal(t, a.Seed, b.Seed)
	assert.Equal(t, "embedded", b.Target)
	assert.Equal(t, a.RulesSHA256, b.RulesSHA256)
}
