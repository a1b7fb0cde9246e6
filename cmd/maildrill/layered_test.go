package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The layered-rules fixtures: two teams' rule directories (b with its own
// pack.yml placeholder) and a scenario expecting one rule of each.
var (
	layeredA  = filepath.Join("testdata", "layered", "a")
	layeredB  = filepath.Join("testdata", "layered", "b")
	layeredSc = filepath.Join("testdata", "layered", "layered.yaml")
)

// alertsByTitle counts a JSON report's alerts per rule title.
func alertsByTitle(t *testing.T, path string) map[string]int {
	t.Helper()
	rep := readReport(t, path)
	require.Len(t, rep.Scenarios, 1)
	n := map[string]int{}
	for _, a := range rep.Scenarios[0].Alerts {
		n[a.Title]++
	}
	return n
}

// TestRunLayeredRules: run --rules A --rules B judges with the built-in
// pack and both directories (each contributes alerts); --no-pack leaves
// the pack out; one --rules alone cannot resolve the other's rule.
func TestRunLayeredRules(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rep, events, truth := filepath.Join(dir, "r.json"), filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl")
	var out, errb bytes.Buffer
	require.NoError(t, run(ctx, []string{"run", "-q", "--corpus-cache", "off", "--rules", layeredA, "--rules", layeredB,
		"--json", rep, "--events", events, "--truth", truth, layeredSc}, &out, &errb), errb.String())
	n := alertsByTitle(t, rep)
	assert.Positive(t, n["Layered A Failed Logins From One Source"], "the first --rules directory fires: %v", n)
	assert.Positive(t, n["Layered B Login From A Watched Network"], "the second --rules directory fires: %v", n)
	assert.Positive(t, n["IMAP Brute Force Against One Account"], "the built-in pack still judges: %v", n)
	for _, v := range readReport(t, rep).Scenarios[0].Verdicts {
		assert.Equal(t, "met", v.Result, v.Rule)
	}

	// --no-pack: only the two directories' rules alert.
	rep2 := filepath.Join(dir, "r2.json")
	out.Reset()
	errb.Reset()
	require.NoError(t, run(ctx, []string{"run", "-q", "--corpus-cache", "off", "--no-pack", "--rules", layeredA, "--rules", layeredB,
		"--json", rep2, layeredSc}, &out, &errb), errb.String())
	n = alertsByTitle(t, rep2)
	assert.Positive(t, n["Layered A Failed Logins From One Source"])
	assert.Positive(t, n["Layered B Login From A Watched Network"])
	for title := range n {
		assert.Contains(t, title, "Layered", "--no-pack: no built-in rule alerts")
	}

	// The replay of that run layers the same way, and refuses as run does.
	out.Reset()
	errb.Reset()
	require.NoError(t, run(ctx, []string{"replay", "--events", events, "--truth", truth, "--rules", layeredA, "--rules", layeredB, layeredSc}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "Layered B Login From A Watched Network")

	// One directory alone: the other's rule is unknown, bad input before
	// any run (--rules a --rules b used to keep only b).
	for _, args := range [][]string{
		{"run", "-q", "--rules", layeredA, layeredSc},
		{"test", "-q", "--rules", layeredB, layeredSc},
		{"replay", "--events", events, "--truth", truth, "--rules", layeredA, layeredSc},
		{"validate", "--rules", layeredA, layeredSc},
	} {
		out.Reset()
		errb.Reset()
		err := run(ctx, args, &out, &errb)
		require.Error(t, err, args)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), args)
		assert.NotContains(t, out.String(), "MISSED", args)
	}
	out.Reset()
	require.NoError(t, run(ctx, []string{"validate", "--rules", layeredA, "--rules", layeredB, layeredSc}, &out, &errb))
	assert.Contains(t, out.String(), "ok (layered-rules")
}

// TestLayeredRulesBadInput: --no-pack without --rules, a rule id defined
// twice (across directories, or against the built-in pack) and a bad
// placeholder are refused with exit 2 before any run, naming the files.
func TestLayeredRulesBadInput(t *testing.T) {
	ctx := context.Background()
	dup := t.TempDir()
	src, err := os.ReadFile(filepath.Join(layeredA, "failed_login_burst.yml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dup, "copy.yml"), src, 0o644))
	builtIn := t.TempDir()
	src, err = os.ReadFile("../../detectors/rulepack/rules/imap_brute_force.yml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(builtIn, "ours.yml"), src, 0o644))

	// A rule of --rules titled as a built-in one: either firing met the
	// expectation, so the one under test could miss unseen.
	sameTitle := filepath.Join(t.TempDir(), "mine.yml")
	require.NoError(t, os.WriteFile(sameTitle, []byte("title: IMAP Password Spray From One Source\nid: 0b7c8a2e-4f0e-4c1a-9a57-3c1f6f2e0d15\n"+
		"logsource: {product: maildrill, service: imap}\ndetection:\n  sel:\n    event.action: imap.login\n  condition: sel\nlevel: low\n"), 0o644))

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--rules", sameTitle, "password-spray"}, []string{`rule "IMAP Password Spray From One Source": 2 loaded rules have this title`, sameTitle + ":1:1", "name one by its id"}},
		{[]string{"run", "--no-pack", layeredSc}, []string{"--no-pack", "--rules"}},
		{[]string{"test", "--no-pack", layeredSc}, []string{"--no-pack"}},
		{[]string{"run", "--rules", layeredA, "--rules", dup, layeredSc},
			[]string{"0a7e6a1c-5b1f-4c59-9a55-3f4a5d6b7c01", filepath.Join(layeredA, "failed_login_burst.yml"), filepath.Join(dup, "copy.yml")}},
		{[]string{"test", "--rules", builtIn, layeredSc},
			[]string{"829ac393-206d-4b44-8201-bf458b1207aa", "built-in pack/imap_brute_force.yml", filepath.Join(builtIn, "ours.yml")}},
		{[]string{"run", "--placeholder", "office_networks", layeredSc}, []string{"--placeholder", "office_networks", "NAME=VALUE"}},
		// A misspelt name left the rules on their default networks.
		{[]string{"run", "--placeholder", "office_network=10.0.0.0/8", layeredSc}, []string{"--placeholder", "no rule loaded uses %office_network%", "%office_networks%"}},
		{[]string{"test", "--placeholder", "officenetworks=10.0.0.0/8", layeredSc}, []string{"--placeholder", "%officenetworks%"}},
		{[]string{"rules", "eval", "--placeholder", "office_network=10.0.0.0/8", layeredSc}, []string{"--placeholder", "no rule loaded uses %office_network%"}},
		// A negative lateness made every correlation's events late: no alert.
		{[]string{"rules", "eval", "--lateness", "-1s", layeredSc}, []string{"--lateness", "want a duration of 0 or more"}},
		{[]string{"rules", "test", "--suppress", "-1m"}, []string{"--suppress"}},
		{[]string{"run", "--rules-config", filepath.Join(dup, "absent.yml"), layeredSc}, []string{"--rules-config", "absent.yml"}},
	} {
		var out, errb bytes.Buffer
		err := run(ctx, tc.args, &out, &errb)
		require.Error(t, err, tc.args)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), tc.args)
		for _, w := range tc.want {
			assert.Contains(t, err.Error(), w, tc.args)
		}
		assert.NotContains(t, errb.String(), "▶", "refused before any run: %v", tc.args)
	}
}

// TestRunPlaceholderChangesWhatFires: the attacker's network declared an
// office network with --placeholder (or in a --rules-config file), the
// built-in "outside the office" rule no longer fires and its expectation
// is MISSED (exit 1); on a layered directory's placeholder, the opposite.
func TestRunPlaceholderChangesWhatFires(t *testing.T) {
	ctx := context.Background()
	brute := filepath.Join(suiteDir, "brute.yaml")
	dir := t.TempDir()
	var out, errb bytes.Buffer
	base := filepath.Join(dir, "base.json")
	require.NoError(t, run(ctx, []string{"run", "-q", "--corpus-cache", "off", "--json", base, brute}, &out, &errb), errb.String())
	require.Positive(t, alertsByTitle(t, base)["IMAP Login From Outside The Office Network"])

	cfg := filepath.Join(dir, "staging.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("placeholders:\n  office_networks: [91.219.236.0/24, 10.20.0.0/16]\n"), 0o644))
	for _, flags := range [][]string{
		{"--placeholder", "office_networks=91.219.236.0/24,10.20.0.0/16"},
		{"--rules-config", cfg},
	} {
		rep := filepath.Join(dir, "p.json")
		out.Reset()
		errb.Reset()
		err := run(ctx, append([]string{"run", "-q", "--corpus-cache", "off", "--json", rep, brute}, flags...), &out, &errb)
		require.Error(t, err, flags)
		assert.Equal(t, exitFailed, exitCode(err, &errb), flags)
		assert.Zero(t, alertsByTitle(t, rep)["IMAP Login From Outside The Office Network"], flags)
		assert.Contains(t, out.String(), "MISSED", flags)
	}

	// A layered directory's own placeholder, overridden on the command
	// line: its rule stops firing.
	out.Reset()
	errb.Reset()
	err := run(ctx, []string{"run", "-q", "--corpus-cache", "off", "--rules", layeredA, "--rules", layeredB,
		"--placeholder", "watched_networks=192.0.2.0/24", layeredSc}, &out, &errb)
	require.Error(t, err)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Regexp(t, `MISSED\s+Layered B Login From A Watched Network`, out.String())
}
