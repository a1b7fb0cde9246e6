package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runRules(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRulesCmd()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func TestRulesTestPack(t *testing.T) {
	out, _, err := runRules(t, "", "test")
	require.NoError(t, err, out)
	assert.Contains(t, out, "0 failed")
}

func TestRulesTestFailing(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tests"), 0o755))
	rule := "title: t\nid: r1\nlogsource: {product: maildrill, service: imap}\ndetection:\n  sel:\n    event.action: imap.login\n  condition: sel\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "r.yml"), []byte(rule), 0o644))
	ev := `{"@timestamp":"2025-12-11T10:00:00+01:00","event.id":"1","event.action":"imap.login","service.type":"imap"}` + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tests", "r.tp.jsonl"), []byte(ev), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tests", "r.tn.jsonl"), []byte(ev), 0o644)) // wrongly fires
	out, _, err := runRules(t, "", "test", dir)
	var fe failedError
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.Contains(t, out, "FAIL TN r.yml: true negative sample fired [r1]")
	assert.Contains(t, out, "1 passed, 1 failed")
}

func TestRulesLint(t *testing.T) {
	out, _, err := runRules(t, "", "lint")
	require.NoError(t, err, out)
	assert.Contains(t, out, "0 problems")

	dir := t.TempDir()
	bad := "title: t\nstatus: wip\nlogsource: {product: maildrill}\ndetection:\n  sel:\n    f|contain: x\n  condition: sel\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yml"), []byte(bad), 0o644))
	out, _, err = runRules(t, "", "lint", dir)
	var fe failedError
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.Contains(t, out, dir+"/bad.yml:2:1: schema: /status: value must be one of")
	assert.Contains(t, out, dir+`/bad.yml:6:5: unsupported value modifier "contain"`)
}

func TestRulesEval(t *testing.T) {
	sample, err := os.ReadFile("../../detectors/rulepack/rules/tests/imap_password_spray.tp.jsonl")
	require.NoError(t, err)
	out, stderr, err := runRules(t, string(sample), "eval", "-")
	require.NoError(t, err)
	assert.Contains(t, stderr, "10 events")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1)
	var a map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &a))
	for _, k := range []string{"rule.id", "rule.title", "rule.level", "@timestamp", "group", "event.ids"} {
		assert.Contains(t, a, k)
	}
	assert.Equal(t, "IMAP Password Spray From One Source", a["rule.title"])
	assert.Equal(t, map[string]any{"source.ip": "203.0.113.45"}, a["group"])
	assert.Len(t, a["event.ids"], 10)
}

func TestRulesEvalFileAndTimestampField(t *testing.T) {
	dir := t.TempDir()
	rule := "title: login\nid: r1\nlevel: low\nlogsource: {product: maildrill, service: imap}\ndetection:\n  sel:\n    event.action: imap.login\n  condition: sel\n"
	rf := filepath.Join(dir, "r.yml")
	require.NoError(t, os.WriteFile(rf, []byte(rule), 0o644))
	evf := filepath.Join(dir, "ev.jsonl")
	require.NoError(t, os.WriteFile(evf, []byte(`{"ts":"2025-12-11T10:00:00Z","event":{"id":"n1","action":"imap.login"},"service":{"type":"imap"}}`+"\n"), 0o644))
	out, _, err := runRules(t, "", "eval", "--no-pack", "--rules", rf, "--timestamp-field", "ts", evf)
	require.NoError(t, err)
	assert.Contains(t, out, `"rule.id":"r1"`)
	assert.Contains(t, out, `"@timestamp":"2025-12-11T10:00:00Z"`)
	assert.Contains(t, out, `"event.ids":["n1"]`)

	_, _, err = runRules(t, "", "eval", "--no-pack", "--rules", rf, evf) // no @timestamp
	var ue usageError
	require.True(t, errors.As(err, &ue), "%v", err)
	assert.Contains(t, err.Error(), evf+":1: no timestamp")
}

func TestRulesEvalBadRules(t *testing.T) {
	dir := t.TempDir()
	rf := filepath.Join(dir, "r.yml")
	require.NoError(t, os.WriteFile(rf, []byte("title: x\nlogsource: {product: maildrill}\ndetection:\n  sel: {a: 1}\n  condition: sel or (\n"), 0o644))
	_, _, err := runRules(t, "", "eval", "--no-pack", "--rules", rf, "-")
	var ue usageError
	require.True(t, errors.As(err, &ue), "%v", err)
	assert.Contains(t, err.Error(), rf+":5:")
	assert.Contains(t, err.Error(), "bad condition")
}

func TestRulesList(t *testing.T) {
	out, _, err := runRules(t, "", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "imap_password_spray.yml")
	assert.Contains(t, out, "value_count")
	assert.Contains(t, out, "T1110.003")
	assert.NotContains(t, out, "imap_spray_failed_login", "base rules of correlations are not listed")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, 28, "header + 26 alerting rules + time modifiers")
	assert.Equal(t, "time modifiers: Europe/Paris (pack.yml)", lines[len(lines)-1])
}

// hourPack writes a rule pack with one rule per hour in hours
// ('@timestamp|hour: N', id hN), and pack.yml when settings is not empty.
func hourPack(t *testing.T, settings string, hours ...int) string {
	t.Helper()
	dir := t.TempDir()
	for _, h := range hours {
		rule := fmt.Sprintf("title: hour %d\nid: h%d\nlogsource: {product: maildrill}\ndetection:\n  sel:\n    '@timestamp|hour': %d\n  condition: sel\n", h, h, h)
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("h%d.yml", h)), []byte(rule), 0o644))
	}
	if settings != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "pack.yml"), []byte(settings), 0o644))
	}
	return dir
}

// firedHours evaluates the pack on one event at ts and returns the ids of
// the rules that fired.
func firedHours(t *testing.T, dir, ts string, flags ...string) []string {
	t.Helper()
	ev := `{"@timestamp":"` + ts + `","event.id":"e1","event.action":"imap.login"}` + "\n"
	out, _, err := runRules(t, ev, append(append([]string{"eval", "--no-pack", "--rules", dir}, flags...), "-")...)
	require.NoError(t, err)
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var a map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &a))
		ids = append(ids, a["rule.id"].(string))
	}
	return ids
}

// Time modifiers read the value as written (Sigma specification: no
// time-zone conversion) unless the pack's pack.yml or --tz says otherwise.
// Before, --tz defaulted to Europe/Paris for any --rules pack.
func TestRulesTimeModifiersAsWrittenByDefault(t *testing.T) {
	dir := hourPack(t, "", 21, 22)
	assert.Equal(t, []string{"h21"}, firedHours(t, dir, "2025-12-11T21:59:59Z"))
	assert.Equal(t, []string{"h22"}, firedHours(t, dir, "2025-12-11T22:59:59+01:00"), "the event's own offset")
	assert.Equal(t, []string{"h22"}, firedHours(t, dir, "2025-12-11T21:59:59Z", "--tz", "Europe/Paris"))

	out, _, err := runRules(t, "", "list", dir)
	require.NoError(t, err)
	assert.Contains(t, out, "\ntime modifiers: as written (no time-zone conversion)\n")
	out, _, err = runRules(t, "", "lint", dir)
	require.NoError(t, err, out)
	assert.Contains(t, out, "time modifiers: as written (no time-zone conversion)\n")
}

func TestRulesTimeModifiersPackFile(t *testing.T) {
	dir := hourPack(t, "# office hours are local\ntime_modifiers:\n  timezone: Europe/Paris\n", 21, 22)
	assert.Equal(t, []string{"h22"}, firedHours(t, dir, "2025-12-11T21:59:59Z"))
	assert.Equal(t, []string{"h21"}, firedHours(t, dir, "2025-12-11T21:59:59Z", "--tz", "event"), "--tz overrides pack.yml")
	assert.Equal(t, []string{"h21"}, firedHours(t, dir, "2025-12-11T21:59:59Z", "--tz", "UTC"))

	for _, cmd := range []string{"list", "lint"} {
		out, _, err := runRules(t, "", cmd, dir)
		require.NoError(t, err, out)
		assert.Contains(t, out, "time modifiers: Europe/Paris (pack.yml)\n", cmd)
		out, _, err = runRules(t, "", cmd, "--tz", "UTC", dir)
		require.NoError(t, err, out)
		assert.Contains(t, out, "time modifiers: UTC (--tz)\n", cmd)
	}
	out, _, err := runRules(t, "", "lint")
	require.NoError(t, err, out)
	assert.Contains(t, out, "time modifiers: Europe/Paris (pack.yml)\n")

	bad := hourPack(t, "time_modifiers:\n  zone: Europe/Paris\n", 21)
	for _, args := range [][]string{{"list", bad}, {"lint", bad}, {"test", bad}, {"eval", "--no-pack", "--rules", bad, "-"}} {
		_, _, err := runRules(t, "", args...)
		var ue usageError
		require.True(t, errors.As(err, &ue), "%v: %v", args, err)
		assert.Contains(t, err.Error(), `pack.yml: [2:3] unknown field "zone"`, args)
	}
}
