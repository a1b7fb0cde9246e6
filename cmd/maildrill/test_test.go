package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/report"
)

const suiteDir = "testdata/suite"

func readReport(t *testing.T, path string) *report.Report {
	t.Helper()
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	rep, err := report.ReadJSON(fh)
	require.NoError(t, err)
	return rep
}

func validateReportSchema(t *testing.T, path string) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(report.SchemaJSON))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("report-v2.schema.json", doc))
	sch, err := c.Compile("report-v2.schema.json")
	require.NoError(t, err)
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	inst, err := jsonschema.UnmarshalJSON(fh)
	require.NoError(t, err)
	require.NoError(t, sch.Validate(inst))
}

func TestTestCommand(t *testing.T) {
	dir := t.TempDir()
	js, junit, nav, rec := filepath.Join(dir, "r.json"), filepath.Join(dir, "junit.xml"), filepath.Join(dir, "layer.json"), filepath.Join(dir, "logs")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"test", suiteDir, "-j", "2", "--json", js, "--junit", junit, "--navigator", nav, "--record", rec}, &out, &errb)
	require.Error(t, err, "suite-miss fails: the command fails")
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Contains(t, errb.String(), "✔ ok   suite-brute: 3/3 expectations met")
	assert.Contains(t, errb.String(), "✘ FAIL suite-miss: 0/1 expectations met")
	assert.Contains(t, errb.String(), "scenarios: 1 passed, 1 failed; expectations: 3 met, 1 not met")
	assert.Contains(t, out.String(), "MISSED")

	// The real report holds to the published schema, and a real consumer
	// reads the JUnit file.
	validateReportSchema(t, js)
	if xmllint, err := exec.LookPath("xmllint"); err == nil {
		out, err := exec.Command(xmllint, "--noout", "--schema", "../../scenarios/report/testdata/junit-10.xsd", junit).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}

	rep := readReport(t, js)
	assert.False(t, rep.Passed)
	require.Len(t, rep.Scenarios, 2)
	assert.Equal(t, "suite-brute", rep.Scenarios[0].ID, "reports follow the suite's order")
	assert.True(t, rep.Scenarios[0].Passed)
	assert.NotEmpty(t, rep.Scenarios[0].Activity.Events, "event times recorded for the timeline")
	assert.Equal(t, 1, rep.Summary.Results["missed"])

	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	require.NoError(t, xml.Unmarshal(b, &doc))
	assert.Equal(t, 4, doc.Tests)
	assert.Equal(t, 1, doc.Failures)

	b, err = os.ReadFile(nav)
	require.NoError(t, err)
	var layer report.NavigatorLayer
	require.NoError(t, json.Unmarshal(b, &layer))
	assert.Equal(t, "4.5", layer.Versions.Layer)
	assert.NotEmpty(t, layer.Techniques)

	for _, f := range []string{"suite-brute.events.jsonl", "suite-brute.truth.jsonl", "suite-miss.truth.jsonl"} {
		st, err := os.Stat(filepath.Join(rec, f))
		require.NoError(t, err)
		assert.Positive(t, st.Size(), f)
	}

	// The recorded logs replay to the same verdicts.
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"replay", "--events", filepath.Join(rec, "suite-brute.events.jsonl"),
		"--truth", filepath.Join(rec, "suite-brute.truth.jsonl"), filepath.Join(suiteDir, "brute.yaml"), "--json", "-"}, &out, &errb))
	again, err := report.ReadJSON(&out)
	require.NoError(t, err)
	assert.Equal(t, rep.Scenarios[0].Verdicts, again.Scenarios[0].Verdicts)

	// With a report on stdout, the tables go to stderr.
	out.Reset()
	errb.Reset()
	err = run(context.Background(), []string{"test", filepath.Join(suiteDir, "miss.yaml"), "--json", "-"}, &out, &errb)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	_, err = report.ReadJSON(&out)
	require.NoError(t, err)
	assert.Contains(t, errb.String(), "MISSED")

	// A suite that holds exits 0; -q prints only the summary.
	out.Reset()
	errb.Reset()
	require.NoError(t, run(context.Background(), []string{"test", filepath.Join(suiteDir, "brute.yaml"), "-q"}, &out, &errb), errb.String())
	assert.Empty(t, out.String())
}

func TestTestShards(t *testing.T) {
	list, err := scenarios.LoadSuite([]string{suiteDir})
	require.NoError(t, err)
	lib, err := scenarios.Library()
	require.NoError(t, err)
	list = append(list, lib...)
	// Every scenario lands in exactly one of n shards, whatever the order
	// the suite was given in, and the shards are balanced.
	for n := 1; n <= 4; n++ {
		seen := map[string]int{}
		for k := 1; k <= n; k++ {
			shard := scenarios.Shard(list, k, n)
			assert.InDelta(t, float64(len(list))/float64(n), float64(len(shard)), 1, "shard %d/%d", k, n)
			rev := append([]*scenarios.Scenario(nil), list...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			assert.Equal(t, shard, scenarios.Shard(rev, k, n), "deterministic")
			for _, sc := range shard {
				seen[sc.ID]++
			}
		}
		assert.Len(t, seen, len(list))
		for id, c := range seen {
			assert.Equal(t, 1, c, id)
		}
	}

	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"test", suiteDir, "--shard", "1/2", "-q"}, &out, &errb)
	require.NoError(t, err, "shard 1/2 holds suite-brute only: %s", errb.String())
	assert.Contains(t, errb.String(), "shard 1/2: 1 scenario(s)")
	assert.Contains(t, errb.String(), "suite-brute")
	assert.NotContains(t, errb.String(), "suite-miss")

	for _, bad := range [][]string{
		{"test", suiteDir, "--shard", "3/2"},
		{"test", suiteDir, "--shard", "two"},
		{"test", suiteDir, "-j", "0"},
		{"test", "no-such-scenario"},
		{"test", suiteDir, "--no-pack", "--rules", "testdata/none"},
	} {
		err := run(context.Background(), bad, &out, &errb)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), "%v", bad)
	}
}

// TestTestOutsideAlerts judges a scenario with alerts from an outside
// system: a command's output turns the built-in engine's miss into a met,
// and --no-engine judges outside alerts alone.
func TestTestOutsideAlerts(t *testing.T) {
	miss := filepath.Join(suiteDir, "miss.yaml")
	// The scenario starts 2025-12-11 08:00 +01:00; the login is its first
	// step, so an alert a minute later is inside the 5-minute window.
	alert := `printf '{"alert":{"name":"IMAP Password Spray From One Source"},"ts":"2025-12-11T07:01:00Z","run":"%s"}\n' "$MAILDRILL_RUN_ID"`
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"test", miss, "--alerts-command", alert, "--alerts-map", "rule=alert.name,time=ts,run_id=run", "--alerts-wait", "5s"}, &out, &errb)
	require.NoError(t, err, "%s\n%s", out.String(), errb.String())
	assert.Contains(t, out.String(), "MET     IMAP Password Spray From One Source  after login  1m0s")

	// Another run's alert in a file does not count.
	file := filepath.Join(t.TempDir(), "alerts.jsonl")
	require.NoError(t, os.WriteFile(file, []byte(`{"rule.name":"IMAP Password Spray From One Source","@timestamp":"2025-12-11T07:01:00Z","labels.run_id":"md-other-run"}`+"\n"), 0o644))
	out.Reset()
	err = run(context.Background(), []string{"test", miss, "--no-engine", "--alerts-file", file, "--alerts-wait", "200ms"}, &out, &errb)
	assert.Equal(t, exitFailed, exitCode(err, &errb))
	assert.Contains(t, out.String(), "MISSED")

	for _, bad := range [][]string{
		{"test", miss, "--no-engine"},
		{"test", miss, "--alerts-file", file, "--alerts-map", "colour=red"},
		{"test", miss, "--alerts-webhook", "256.0.0.1:bad"},
		// Accepted and ignored before: a mapping with no source of alerts
		// to map, a wait of less than nothing, a name mapped twice.
		{"test", miss, "--alerts-map", "rule=alert.name"},
		{"test", miss, "--alerts-file", file, "--alerts-wait", "-1s"},
		{"test", miss, "--alerts-file", file, "--alerts-map", "rule=alert.name,rule=name"},
	} {
		errb.Reset()
		err := run(context.Background(), bad, &out, &errb)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), "%v", bad)
		assert.Contains(t, err.Error(), "--alerts-", "%v: the error names the flag", bad)
		assert.NotContains(t, errb.String(), "▶", "%v: refused before any run", bad)
	}
}
