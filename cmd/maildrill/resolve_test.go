package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// misspelling is one library scenario with one expected rule or group:
// key misspelt, and where the error must point.
type misspelling struct {
	name, path string
	line, col  int
	what       string
}

var (
	ruleLine  = regexp.MustCompile(`^(\s*-?\s*rule:\s*)(\S.*?)\s*$`)
	groupLine = regexp.MustCompile(`^(\s*group:\s*\{\s*)([^:\s]+):`)
)

// misspellLibrary writes, for every library scenario, one copy per
// expected rule and per group: key with that one misspelt: a letter left
// out of the rule's title, a letter doubled in the key.
func misspellLibrary(t *testing.T) []misspelling {
	t.Helper()
	files, err := filepath.Glob("../../scenarios/library/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	dir := t.TempDir()
	var out []misspelling
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		lines := strings.Split(string(src), "\n")
		base := strings.TrimSuffix(filepath.Base(f), ".yaml")
		for i, l := range lines {
			var bad, what string
			var col int
			if m := ruleLine.FindStringSubmatchIndex(l); m != nil {
				name := l[m[4]:m[5]]
				mid := len(name) / 2
				bad = l[:m[4]] + name[:mid] + name[mid+1:] + l[m[5]:]
				col, what = m[4]+1, "rule "+name
			} else if m := groupLine.FindStringSubmatchIndex(l); m != nil {
				key := l[m[4]:m[5]]
				mid := len(key) / 2
				bad = l[:m[4]] + key[:mid] + key[mid:mid+1] + key[mid:] + l[m[5]:]
				col, what = m[4]+1, "group key "+key
			} else {
				continue
			}
			mod := append([]string(nil), lines...)
			mod[i] = bad
			p := filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", base, i+1))
			require.NoError(t, os.WriteFile(p, []byte(strings.Join(mod, "\n")), 0o644))
			out = append(out, misspelling{name: fmt.Sprintf("%s:%d", base, i+1), path: p, line: i + 1, col: col, what: what})
		}
	}
	return out
}

// TestMisspeltExpectationsAreBadInput misspells every expected rule and
// every group: key of the library, one at a time: validate (with the
// built-in pack and with --rules), run and test (both ways) each refuse
// the scenario with exit 2 and the position of the misspelling,
// before any run starts — never a MET, never a MISSED.
func TestMisspeltExpectationsAreBadInput(t *testing.T) {
	cases := misspellLibrary(t)
	rules, keys := 0, 0
	for _, c := range cases {
		if strings.HasPrefix(c.what, "rule ") {
			rules++
		} else {
			keys++
		}
	}
	require.GreaterOrEqual(t, rules, 20, "every expected rule of the library")
	require.GreaterOrEqual(t, keys, 3, "every group: key of the library")
	for _, c := range cases {
		pos := fmt.Sprintf("%s:%d:%d: ", c.path, c.line, c.col)
		for _, args := range [][]string{
			{"validate", c.path},
			{"validate", "--no-pack", "--rules", "../../detectors/rulepack/rules", c.path},
			{"run", c.path, "--corpus-cache", "off"},
			{"test", c.path, "--corpus-cache", "off"},
			{"test", "--no-pack", "--rules", "../../detectors/rulepack/rules", c.path, "--corpus-cache", "off"},
		} {
			var out, errb bytes.Buffer
			err := run(context.Background(), args, &out, &errb)
			require.Error(t, err, "%s (%s): %s accepted it", c.name, c.what, args[0])
			assert.Equal(t, exitBadInput, exitCode(err, &errb), "%s (%s): %s", c.name, c.what, args[0])
			assert.Contains(t, errb.String(), pos, "%s (%s): %s names the position", c.name, c.what, args[0])
			for _, s := range []string{"MET", "MISSED", "▶", "expectations met"} {
				assert.NotContains(t, out.String()+errb.String(), s, "%s (%s): %s started a run", c.name, c.what, args[0])
			}
		}
	}
}

// libraryWith is a library scenario with one substitution, in a file.
func libraryWith(t *testing.T, name, old, new string) string {
	t.Helper()
	src, err := os.ReadFile("../../scenarios/library/" + name + ".yaml")
	require.NoError(t, err)
	require.Contains(t, string(src), old)
	p := filepath.Join(t.TempDir(), name+".yaml")
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(src), old, new, 1)), 0o644))
	return p
}

// TestMisspeltMustNotFireIsNotMet is the first symptom: a
// must_not_fire naming a rule that does not exist (one letter missing) was
// always MET, exit 0. It is bad input, with the position and the title
// meant.
func TestMisspeltMustNotFireIsNotMet(t *testing.T) {
	p := libraryWith(t, "low-and-slow", "  - rule: IMAP Password Spray From One Source\n    must_not_fire: true",
		"  - rule: IMAP Pasword Spray From One Source\n    must_not_fire: true")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"run", p, "--corpus-cache", "off"}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, errb.String(), p+`:54:11: rule "IMAP Pasword Spray From One Source": no loaded rule has this id, name or title (did you mean "IMAP Password Spray From One Source"?)`)
	assert.NotContains(t, out.String(), "MET")
}

// TestUnknownGroupKeyIsNotMissed is the second: a group: key the rule does
// not group by was judged MISSED although the rule fired.
func TestUnknownGroupKeyIsNotMissed(t *testing.T) {
	p := libraryWith(t, "password-spray", "group: {source.ip: 45.155.205.17}\n  - rule: SMTP", "group: {source.iip: 45.155.205.17}\n  - rule: SMTP")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"run", p, "--corpus-cache", "off"}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, errb.String(), p+`:45:13: group key "source.iip": rule "IMAP Password Spray From One Source" does not group by this field (did you mean "source.ip"?)`)
	assert.NotContains(t, out.String(), "MISSED")

	// validate finds it too, and a detection rule (whose alerts carry no
	// group) refuses any key.
	p = libraryWith(t, "brute-force", "  - rule: IMAP Login From Outside The Office Network\n", "  - rule: IMAP Login From Outside The Office Network\n    group: {source.ip: 1.2.3.4}\n")
	out.Reset()
	errb.Reset()
	err = run(context.Background(), []string{"validate", p}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, errb.String(), `group key "source.ip": rule "IMAP Login From Outside The Office Network" groups by nothing`)
}

// TestBrokenRuleReportedOnce is the third: a rule with a broken condition
// made test exit 1 once per scenario, as if detection had failed. It is
// reported once, with its position, exit 2, by test, run's --rules-less
// cousins validate and replay too.
func TestBrokenRuleReportedOnce(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../detectors/rulepack/rules/imap_login_outside_office.yml")
	require.NoError(t, err)
	broken := strings.Replace(string(src), "  condition: selection and not office and not loopback\n", "  condition: selection and not office and not loopback and and\n", 1)
	require.NotEqual(t, string(src), broken)
	rule := filepath.Join(dir, "imap_login_outside_office.yml")
	require.NoError(t, os.WriteFile(rule, []byte(broken), 0o644))
	line := 0
	for i, l := range strings.Split(broken, "\n") {
		if strings.Contains(l, "and and") {
			line = i + 1
		}
	}
	pos := fmt.Sprintf("%s:%d:", rule, line)
	for _, args := range [][]string{
		{"test", "brute-force", "password-spray", "smtp-exfiltration", "--no-pack", "--rules", rule, "--corpus-cache", "off"},
		{"validate", "brute-force", "password-spray", "--no-pack", "--rules", rule},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), "%v", args)
		assert.Equal(t, 1, strings.Count(errb.String(), pos), "%v: once, with its position:\n%s", args, errb.String())
		assert.Contains(t, errb.String(), "bad condition")
		assert.NotContains(t, errb.String(), "expectations met", "%v: no run started", args)
	}
}

// TestNoEngineNamesOutsideRules: judging outside alerts only, the
// expectations name the outside system's rules, which no loaded rule
// resolves: that path is not refused.
func TestNoEngineNamesOutsideRules(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(suiteDir, "miss.yaml"))
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "outside.yaml")
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(src), "rule: IMAP Password Spray From One Source", "rule: SIEM-4711 Spray Seen At The Edge", 1)), 0o644))
	alert := `printf '{"alert":{"name":"SIEM-4711 Spray Seen At The Edge"},"ts":"2025-12-11T07:01:00Z","run":"%s"}\n' "$MAILDRILL_RUN_ID"`
	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"test", p, "--no-engine", "--alerts-command", alert, "--alerts-map", "rule=alert.name,time=ts,run_id=run", "--alerts-wait", "5s", "--corpus-cache", "off"}, &out, &errb)
	require.NoError(t, err, "%s\n%s", out.String(), errb.String())
	assert.Contains(t, out.String(), "MET")

	// With the engine, the same expectation names no loaded rule.
	err = run(context.Background(), []string{"validate", p}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
}

// TestMuteRulesAreBadInput: an expectation naming a rule that can never
// alert — a correlation's base rule, a rule whose logsource is not
// mapped — is vacuous (a fire always missed, a must_not_fire always met):
// validate, run and test refuse it with its position and the reason.
func TestMuteRulesAreBadInput(t *testing.T) {
	p := libraryWith(t, "brute-force", "  - rule: IMAP Brute Force Against One Account\n", "  - rule: imap_brute_failed_login\n")
	for _, args := range [][]string{
		{"validate", p},
		{"run", p, "--corpus-cache", "off"},
		{"test", p, "--corpus-cache", "off"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), "%v", args)
		assert.Contains(t, errb.String(), p+`:37:11: rule "IMAP Failed Login (brute force base)" is a base rule of correlation "IMAP Brute Force Against One Account" and never alerts on its own (expect "IMAP Brute Force Against One Account"`, "%v", args)
		assert.NotContains(t, out.String()+errb.String(), "MISSED", "%v", args)
	}

	dir := t.TempDir()
	rule := filepath.Join(dir, "win.yml")
	require.NoError(t, os.WriteFile(rule, []byte("title: Windows Logon Failures\nlogsource: {product: windows, service: security}\ndetection: {s: {EventID: 4625}, condition: s}\n"), 0o644))
	p = libraryWith(t, "benign-day", "must_not_fire: true", "must_not_fire: true\n  - rule: Windows Logon Failures\n    must_not_fire: true")
	for _, args := range [][]string{
		{"validate", p, "--no-pack", "--rules", rule},
		{"test", p, "--no-pack", "--rules", rule, "--corpus-cache", "off"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), "%v", args)
		assert.Contains(t, errb.String(), `rule "Windows Logon Failures"'s logsource product=windows service=security is not mapped: it cannot fire`, "%v", args)
		assert.NotContains(t, out.String()+errb.String(), "MET", "%v", args)
	}
}
