package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	windowsRule = "title: Suspicious Windows Process\nid: 5c6f0a39-1d1e-4c38-9d4b-0d0e3a0b1a01\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    Image|endswith: '\\\\evil.exe'\n  condition: sel\n"
	loginRule   = "title: Any IMAP Login\nid: 5c6f0a39-1d1e-4c38-9d4b-0d0e3a0b1a02\nlogsource: {product: maildrill, service: imap}\ndetection:\n  sel:\n    event.action: imap.login\n  condition: sel\n"
	loginEvent  = `{"@timestamp":"2025-12-11T10:00:00+01:00","event.id":"1","event.action":"imap.login","service.type":"imap"}` + "\n"
)

// inactiveRules writes a rule directory with a Windows rule (whose
// logsource maildrill does not map) and a maildrill IMAP rule.
func inactiveRules(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "windows.yml"), []byte(windowsRule), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "login.yml"), []byte(loginRule), 0o644))
	return dir
}

func TestRulesEvalSaysWhichRulesCannotFire(t *testing.T) {
	dir := inactiveRules(t)
	evs := filepath.Join(t.TempDir(), "ev.jsonl")
	require.NoError(t, os.WriteFile(evs, []byte(loginEvent), 0o644))

	out, errs, err := runRules(t, "", "eval", "--no-pack", "--rules", dir, evs)
	require.NoError(t, err, errs)
	assert.Contains(t, out, "Any IMAP Login", "the mapped rule still fires")
	assert.Contains(t, errs, "1 of 2 rules cannot fire: its logsource is not mapped (product: windows, category: process_creation)")
	assert.Contains(t, errs, "-v names it")
	assert.NotContains(t, errs, "Suspicious Windows Process", "named only with -v")

	_, errs, err = runRules(t, "", "eval", "-v", "--no-pack", "--rules", dir, evs)
	require.NoError(t, err, errs)
	assert.Contains(t, errs, "1 of 2 rules cannot fire")
	assert.Contains(t, errs, filepath.Join(dir, "windows.yml")+":1: Suspicious Windows Process (product: windows, category: process_creation)")
	assert.NotContains(t, errs, "login.yml")

	// only the Windows rule, given as a file: the case that printed
	// "0 alerts" and nothing else
	_, errs, err = runRules(t, "", "eval", "--no-pack", "--rules", filepath.Join(dir, "windows.yml"), evs)
	require.NoError(t, err, errs)
	assert.Contains(t, errs, "1 of 1 rule cannot fire")

	// --any-logsource runs it: nothing to say
	_, errs, err = runRules(t, "", "eval", "--any-logsource", "--no-pack", "--rules", dir, evs)
	require.NoError(t, err, errs)
	assert.NotContains(t, errs, "cannot fire")

	// every rule of the built-in pack runs on maildrill's events
	_, errs, err = runRules(t, "", "eval", evs)
	require.NoError(t, err, errs)
	assert.NotContains(t, errs, "cannot fire")
}

func TestRulesTestSaysWhichRulesCannotFire(t *testing.T) {
	dir := inactiveRules(t)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tests"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tests", "login.tp.jsonl"), []byte(loginEvent), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tests", "login.tn.jsonl"), []byte(strings.Replace(loginEvent, "imap.login", "imap.logout", 1)), 0o644))
	out, errs, err := runRules(t, "", "test", dir)
	require.NoError(t, err, out+errs)
	assert.Contains(t, out, "2 samples, 2 passed, 0 failed")
	assert.Contains(t, errs, "1 of 2 rules cannot fire: its logsource is not mapped (product: windows, category: process_creation)")
	assert.NotContains(t, errs, "Suspicious Windows Process")

	_, errs, err = runRules(t, "", "test", "-v", dir)
	require.NoError(t, err, errs)
	assert.Contains(t, errs, filepath.Join(dir, "windows.yml")+":1: Suspicious Windows Process")

	_, errs, err = runRules(t, "", "test")
	require.NoError(t, err, errs)
	assert.NotContains(t, errs, "cannot fire")
}

func TestTestSaysWhichRulesCannotFire(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario")
	}
	brute := filepath.Join("testdata", "suite", "brute.yaml")
	dir := inactiveRules(t)
	var out, errb bytes.Buffer
	// the suite's expectations name pack rules that are not loaded: it fails
	err := run(context.Background(), []string{"test", brute, "--no-pack", "--rules", dir, "-q"}, &out, &errb)
	require.Error(t, err)
	assert.Contains(t, errb.String(), "1 of 2 rules cannot fire: its logsource is not mapped (product: windows, category: process_creation); -v names it")
	assert.NotContains(t, errb.String(), "Suspicious Windows Process")

	out.Reset()
	errb.Reset()
	_ = run(context.Background(), []string{"test", brute, "--no-pack", "--rules", dir, "-q", "-v"}, &out, &errb)
	assert.Contains(t, errb.String(), filepath.Join(dir, "windows.yml")+":1: Suspicious Windows Process")

	out.Reset()
	errb.Reset()
	require.NoError(t, run(context.Background(), []string{"test", brute, "-q"}, &out, &errb), errb.String())
	assert.NotContains(t, errb.String(), "cannot fire", "the built-in pack")
}

func TestRunHasNoInactivePackRule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario")
	}
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"run", "brute-force", "-q", "-v"}, &out, &errb), errb.String())
	assert.NotContains(t, errb.String(), "cannot fire")
}

func TestReportInactiveRules(t *testing.T) {
	dir := inactiveRules(t)
	pack, err := rulepack.Load(dir)
	require.NoError(t, err)
	var w bytes.Buffer
	rulepack.ReportUnfireable(&w, pack.Rules, false)
	assert.Equal(t, "1 of 2 rules cannot fire: its logsource is not mapped (product: windows, category: process_creation); -v names it\n", w.String())
	w.Reset()
	rulepack.ReportUnfireable(&w, nil, true)
	assert.Empty(t, w.String(), "the built-in pack")
}

func TestCorrelationOverInactiveRuleCannotFire(t *testing.T) {
	dir := inactiveRules(t)
	corr := "title: Windows Process Burst\nid: 5c6f0a39-1d1e-4c38-9d4b-0d0e3a0b1a03\ncorrelation:\n  type: event_count\n  rules: [5c6f0a39-1d1e-4c38-9d4b-0d0e3a0b1a01]\n  group-by: [host.name]\n  timespan: 5m\n  condition: {gte: 3}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "burst.yml"), []byte(corr), 0o644))
	evs := filepath.Join(t.TempDir(), "ev.jsonl")
	require.NoError(t, os.WriteFile(evs, []byte(loginEvent), 0o644))
	_, errs, err := runRules(t, "", "eval", "-v", "--no-pack", "--rules", dir, evs)
	require.NoError(t, err, errs)
	assert.Contains(t, errs, "2 of 3 rules cannot fire: their logsource is not mapped (product: windows, category: process_creation; 1 correlation over them)")
	assert.Contains(t, errs, filepath.Join(dir, "burst.yml")+":1: Windows Process Burst (a correlation over rules that cannot fire)")
}

func TestDetectNamesRulesThatCannotFire(t *testing.T) {
	dir := inactiveRules(t)
	// nothing listens on port 1: detect retries until the context ends
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	_ = run(ctx, []string{"detect", "--events-url", "http://127.0.0.1:1/api/events", "--retry", "50ms", "--no-pack", "--rules", dir}, &out, &errb)
	assert.Contains(t, errb.String(), "1 of 2 rules cannot fire: its logsource is not mapped (product: windows, category: process_creation):\n")
	assert.Contains(t, errb.String(), filepath.Join(dir, "windows.yml")+":1: Suspicious Windows Process")
}
