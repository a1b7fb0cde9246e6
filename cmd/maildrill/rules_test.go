package main

import (
	"bytes"
	"encoding/json"
	"errors"
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
	sample, err := os.ReadFile("../../detectors/rules/tests/imap_password_spray.tp.jsonl")
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
	out, _, err := runRules(t, "", "eval", "--rules", rf, "--timestamp-field", "ts", evf)
	require.NoError(t, err)
	assert.Contains(t, out, `"rule.id":"r1"`)
	assert.Contains(t, out, `"@timestamp":"2025-12-11T10:00:00Z"`)
	assert.Contains(t, out, `"event.ids":["n1"]`)

	_, _, err = runRules(t, "", "eval", "--rules", rf, evf) // no @timestamp
	var ue usageError
	require.True(t, errors.As(err, &ue), "%v", err)
	assert.Contains(t, err.Error(), evf+":1: no timestamp")
}

func TestRulesEvalBadRules(t *testing.T) {
	dir := t.TempDir()
	rf := filepath.Join(dir, "r.yml")
	require.NoError(t, os.WriteFile(rf, []byte("title: x\nlogsource: {product: maildrill}\ndetection:\n  sel: {a: 1}\n  condition: sel or (\n"), 0o644))
	_, _, err := runRules(t, "", "eval", "--rules", rf, "-")
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
	assert.Len(t, lines, 20, "header + 19 alerting rules")
}
