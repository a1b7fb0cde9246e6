package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	// A library scenario that holds: exit 0, verdicts on stdout, event and
	// truth logs written.
	var out, errb bytes.Buffer
	events, truth, report := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl"), filepath.Join(dir, "r.json")
	err := run(context.Background(), []string{"run", "brute-force", "--events", events, "--truth", truth, "--json", report}, &out, &errb)
	require.NoError(t, err, "%s\n%s", out.String(), errb.String())
	assert.Contains(t, out.String(), "MET")
	assert.Contains(t, errb.String(), "brute (brute_force)", "timeline on stderr")
	for _, f := range []string{events, truth} {
		fh, err := os.Open(f)
		require.NoError(t, err)
		n := 0
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var m map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
			assert.Contains(t, m, "labels.run_id")
			n++
		}
		fh.Close()
		assert.Greater(t, n, 10, f)
	}
	var rep map[string]any
	b, err := os.ReadFile(report)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, "maildrill.report/v2", rep["schema"])
	assert.Equal(t, true, rep["passed"])

	// An expectation that cannot hold: exit 1.
	bad := filepath.Join(dir, "miss.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`
id: miss
title: an expectation that is missed
environment: {users: 8, messages: 10, duration: 1h}
actors:
  - id: quiet
    kind: attacker
    source: 10.20.1.1
    credentials: {user: director}
    steps:
      - id: login
        login: {}
      - logout
expect:
  - rule: IMAP Password Spray From One Source
    after: login
    within: 5m
`), 0o644))
	out.Reset()
	errb.Reset()
	err = run(context.Background(), []string{"run", bad, "-q"}, &out, &errb)
	require.Error(t, err)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Contains(t, out.String(), "MISSED")

	// Bad input: exit 2, with file:line:col.
	broken := filepath.Join("..", "..", "scenarios", "testdata", "broken", "typo-key.yaml")
	err = run(context.Background(), []string{"run", broken}, &out, &errb)
	require.Error(t, err)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, err.Error(), "typo-key.yaml:5:3")
	err = run(context.Background(), []string{"run", "ministry-overnigth"}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, err.Error(), "did you mean")
	err = run(context.Background(), []string{"run", "brute-force", "--allow-target", "0.0.0.0/0"}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
}

func TestListShowValidate(t *testing.T) {
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"list"}, &out, &errb))
	for _, s := range []string{"ministry-overnight", "benign-day", "low-and-slow", "download_attachments"} {
		assert.Contains(t, out.String(), s)
	}
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"show", "ministry-overnight"}, &out, &errb))
	assert.True(t, strings.HasPrefix(out.String(), "id: ministry-overnight"))
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"validate", filepath.Join("..", "..", "scenarios", "library")}, &out, &errb))
	assert.Equal(t, 10, strings.Count(out.String(), ": ok"))
}
