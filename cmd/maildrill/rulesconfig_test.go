package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRulesConfigFollowsTheRulesDir: run, test and replay with --rules DIR
// configure the engine from DIR (rulepack.Load: its pack.yml, else
// times as written); a bad pack.yml is bad input, reported once before any
// run.
func TestRulesConfigFollowsTheRulesDir(t *testing.T) {
	bad := t.TempDir()
	pack, err := os.ReadFile("../../detectors/rulepack/rules/imap_password_spray.yml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(bad, "rule.yml"), pack, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(bad, "pack.yml"), []byte("time_modifiers: {zone: Mars/Olympus}\n"), 0o644))
	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"test", "testdata/suite", "--no-pack", "--rules", bad, "-q"}, &out, &errb)
	require.Error(t, err)
	require.Equal(t, exitBadInput, exitCode(err, &errb))
	require.Equal(t, 1, strings.Count(err.Error(), "pack.yml"), "reported once: %v", err)
	require.NotContains(t, out.String()+errb.String(), "MISSED")
}
