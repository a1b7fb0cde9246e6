package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNewScenarioValidates: the scenario scaffold validates and runs as
// written, every expectation met; an existing file is not overwritten.
func TestNewScenarioValidates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	require.NoError(t, run(ctx, []string{"new", "scenario", "night-brute", "--dir", dir}, &out, &errb), errb.String())
	path := filepath.Join(dir, "night-brute.yaml")
	assert.Contains(t, out.String(), path)

	out.Reset()
	require.NoError(t, run(ctx, []string{"validate", path}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "ok (night-brute")
	out.Reset()
	require.NoError(t, run(ctx, []string{"run", "-q", "--corpus-cache", "off", path}, &out, &errb), errb.String())
	assert.Equal(t, 3, strings.Count(out.String(), "MET"), out.String())
	assert.NotContains(t, out.String(), "MISSED")

	before, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte("edited"), 0o644))
	err = run(ctx, []string{"new", "scenario", "night-brute", "--dir", dir}, &out, &errb)
	require.Error(t, err)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, err.Error(), "--force")
	got, _ := os.ReadFile(path)
	assert.Equal(t, "edited", string(got), "not overwritten")
	require.NoError(t, run(ctx, []string{"new", "scenario", "night-brute", "--dir", dir, "--force"}, &out, &errb))
	got, _ = os.ReadFile(path)
	assert.Equal(t, before, got)

	err = run(ctx, []string{"new", "scenario", "../Bad Name", "--dir", dir}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
}

// TestRulesNewLintsAndTests: the rule scaffold passes rules lint and rules
// test as written, and layers beside the built-in pack.
func TestRulesNewLintsAndTests(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "my-rules")
	var out, errb bytes.Buffer
	require.NoError(t, run(ctx, []string{"rules", "new", "imap_scripted_login", "--dir", dir}, &out, &errb), errb.String())
	for _, f := range []string{"imap_scripted_login.yml", "tests/imap_scripted_login.tp.jsonl", "tests/imap_scripted_login.tn.jsonl"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	out.Reset()
	require.NoError(t, run(ctx, []string{"rules", "lint", dir}, &out, &errb), out.String())
	assert.Contains(t, out.String(), "1 files, 0 problems")
	out.Reset()
	require.NoError(t, run(ctx, []string{"rules", "test", dir}, &out, &errb), out.String())
	assert.Contains(t, out.String(), "2 samples, 2 passed, 0 failed")
	out.Reset()
	require.NoError(t, run(ctx, []string{"validate", "--rules", dir, filepath.Join(suiteDir, "brute.yaml")}, &out, &errb), errb.String())

	// Again: nothing overwritten, nothing written.
	err := run(ctx, []string{"rules", "new", "imap_scripted_login", "--dir", dir}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, err.Error(), "exists")
	err = run(ctx, []string{"rules", "new", "Bad-Name", "--dir", dir}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
}

// complete runs cobra's hidden __complete command, as the shell scripts
// of `maildrill completion bash|zsh|fish` do.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), append([]string{"__complete"}, args...), &out, &errb))
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

// TestCompletion: scenario names complete on run, test, show, validate and
// replay; --target and --profile values too; paths go to the shell.
func TestCompletion(t *testing.T) {
	for _, cmd := range []string{"run", "test", "show", "validate", "replay"} {
		got := complete(t, cmd, "brute")
		require.Len(t, got, 2, "%s: %v", cmd, got)
		assert.True(t, strings.HasPrefix(got[0], "brute-force\t"), "%s: %v", cmd, got)
		assert.Equal(t, ":4", got[1], "%s: no file completion beside the names", cmd) // ShellCompDirectiveNoFileComp
		got = complete(t, cmd, "ministry")
		require.Len(t, got, 3, "%s: %v", cmd, got)
		assert.True(t, strings.HasPrefix(got[0], "ministry-overnight\t") && strings.HasPrefix(got[1], "ministry-overnight-exercise\t"), "%s: %v", cmd, got)
	}
	got := complete(t, "run", "")
	assert.Greater(t, len(got), 5, "every library scenario: %v", got)
	assert.Equal(t, []string{":0"}, complete(t, "run", "./my"), "a path: the shell's file completion")
	assert.Equal(t, []string{":0"}, complete(t, "show", "zzz"), "no name matches: files")
	assert.Equal(t, []string{"embedded", "docker", "dovecot", "remote", ":4"}, complete(t, "run", "--target", ""))
	assert.Equal(t, []string{"stock", "enhanced", ":4"}, complete(t, "test", "--profile", ""))
	assert.Equal(t, []string{":4"}, complete(t, "replay", "brute-force", ""), "replay takes one scenario")

	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"completion", "bash"}, &out, &errb))
	assert.Contains(t, out.String(), "__complete")
}

// TestShowAndListOwnScenarios: show FILE prints the user's file as
// written; list DIR lists their scenarios with their files; a broken
// file is bad input naming its position.
func TestShowAndListOwnScenarios(t *testing.T) {
	ctx := context.Background()
	brute := filepath.Join(suiteDir, "brute.yaml")
	src, err := os.ReadFile(brute)
	require.NoError(t, err)
	var out, errb bytes.Buffer
	require.NoError(t, run(ctx, []string{"show", brute}, &out, &errb))
	assert.Equal(t, string(src), out.String())

	out.Reset()
	require.NoError(t, run(ctx, []string{"list", suiteDir}, &out, &errb))
	assert.Regexp(t, `suite-brute\s+T1110.001,T1078\s+Brute force at night.*`+regexp.QuoteMeta(brute), out.String())
	assert.Contains(t, out.String(), "suite-miss")
	assert.NotContains(t, out.String(), "Step kinds", "your scenarios only")

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("id: x\ntitle: t\nactors: 3\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "good.yaml"), src, 0o644))
	out.Reset()
	err = run(ctx, []string{"list", dir}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, err.Error(), bad+":3:")
	assert.Contains(t, out.String(), "suite-brute", "the good ones are still listed")
	err = run(ctx, []string{"show", bad}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, err.Error(), bad+":3:")

	out.Reset()
	require.NoError(t, run(ctx, []string{"list"}, &out, &errb))
	assert.Contains(t, out.String(), "ministry-overnight")
	assert.Contains(t, out.String(), "Step kinds")
}
