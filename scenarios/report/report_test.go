package report

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./scenarios/report -update to create it")
	assert.Equal(t, string(want), string(got), "%s differs: go test ./scenarios/report -update, then review the diff", path)
}

// compileSchema compiles a JSON Schema, asserting formats (date-time).
func compileSchema(t *testing.T, name string, data []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource(name, doc))
	sch, err := c.Compile(name)
	require.NoError(t, err)
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	return sch.Validate(inst)
}

func TestJSONReport(t *testing.T) {
	sch := compileSchema(t, "report-v2.schema.json", SchemaJSON)
	fx := fixture(t)
	fx.Result.Seed, fx.Result.Target, fx.Result.RulesSHA256 = 99, "dovecot", strings.Repeat("ab", 32)
	broken := Run{Scenario: fx.Result.Scenario, Err: errors.New("starting the embedded target: address in use")}
	rep := BuildWith([]Run{fx, broken}, Options{Generated: fixedTime, Version: "v1.2.3", Commit: "0123abc"})

	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, rep))
	require.NoError(t, validate(t, sch, buf.Bytes()))
	golden(t, "report.golden.json", buf.Bytes())

	assert.False(t, rep.Passed)
	assert.Equal(t, Summary{Scenarios: 2, Expectations: 7, Passed: 2, Failed: 5, Errors: 1, Unexpected: 3,
		Results: map[string]int{"met": 2, "late": 1, "missed": 1, "too_many": 1, "early": 1, "false_positive": 1}}, rep.Summary)
	assert.Equal(t, SchemaV2, rep.Schema)
	assert.Equal(t, "v1.2.3", rep.ToolVersion)
	assert.Equal(t, "0123abc", rep.ToolCommit)
	s := rep.Scenarios[0]
	assert.Equal(t, fx.Result.Scenario.SHA256, s.ScenarioSHA256)
	assert.Len(t, s.ScenarioSHA256, 64)
	assert.Equal(t, int64(99), s.Seed, "the run's seed, not the file's")
	assert.Equal(t, "dovecot", s.Target)
	assert.Equal(t, strings.Repeat("ab", 32), s.RulesSHA256)
	assert.Equal(t, int64(3), rep.Scenarios[1].Seed, "a run that did not start: the scenario's seed")

	// Noise: the off-hours alert in the silent period (staff), the late bulk
	// download (the attacker's) and a rule nobody expected (unknown
	// events); the search alerts in their window are covered, even if
	// too many.
	require.Len(t, s.Noise, 3)
	noise := map[string]Noise{}
	for _, n := range s.Noise {
		noise[n.Title] = n
		require.Len(t, n.Items, 1)
	}
	off := noise["IMAP Off-Hours Access"]
	assert.Equal(t, Noise{RuleID: "id-IMAP Off-Hours Access", Title: "IMAP Off-Hours Access", Level: "high", Alerts: 1, Staff: 1, Items: off.Items}, off)
	assert.Equal(t, "staff", off.Items[0].Attribution)
	assert.Contains(t, off.Items[0].Reason, "a false positive of the must_not_fire expectation at line")
	assert.Equal(t, []string{"s1"}, off.Items[0].EventIDs)
	require.Len(t, off.Items[0].Events, 1)
	assert.Equal(t, Event{ID: "s1", Time: off.Items[0].Time, Action: "imap.login", Outcome: "success", User: "bob@interieur.test", SourceIP: "10.20.1.5"}, off.Items[0].Events[0])
	bulk := noise["IMAP Bulk Attachment Download (count)"]
	assert.Equal(t, 1, bulk.Attacker)
	assert.Equal(t, []string{"e1", "e2"}, bulk.Items[0].EventIDs)
	assert.Len(t, bulk.Items[0].Events, 2)
	smtp := noise["SMTP AUTH With Cleartext Credentials"]
	assert.Equal(t, 1, smtp.Unknown)
	assert.Equal(t, "no expectation names this rule", smtp.Items[0].Reason)
	assert.Equal(t, []string{"u1"}, smtp.Items[0].EventIDs)
	assert.Empty(t, smtp.Items[0].Events, "an event the run did not keep is listed by id only")
	assert.NotContains(t, noise, "IMAP Search For Sensitive Keywords")

	assert.Equal(t, []string{"spray", "login", "download"}, []string{s.Steps[0].ID, s.Steps[1].ID, s.Steps[2].ID})
	assert.Equal(t, "download_attachments", s.Steps[2].Kind)
	assert.Equal(t, []Actor{{"staff", "staff", 3}, {"attacker", "attacker", 11}}, s.Actors)
	require.NotNil(t, s.Verdicts[0].TTDMS)
	assert.Equal(t, int64(3*time.Minute/time.Millisecond), *s.Verdicts[0].TTDMS)
	assert.Nil(t, s.Verdicts[0].TTDWallMS, "virtual clock: no wall time to detect")
	assert.Nil(t, s.Verdicts[6].TTDMS, "must_not_fire has no time to detect")
	assert.Equal(t, 9, sum(s.Activity.Events))
	assert.Equal(t, 3, sum(s.Activity.Staff))
	assert.Equal(t, 11, sum(s.Activity.Actors["attacker"]))
	cov := map[string]bool{}
	for _, c := range s.Techniques {
		cov[c.Technique] = c.Detected
	}
	assert.Equal(t, map[string]bool{"T1110.003": true, "T1078": true, "T1114.002": true, "T1048.003": false}, cov)
	assert.Equal(t, "the scenario did not run", Build([]Run{{Scenario: fx.Result.Scenario}}, fixedTime).Scenarios[0].Error)

	// Round trip, and a foreign schema is refused.
	back, err := ReadJSON(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, rep.Summary, back.Summary)
	_, err = ReadJSON(bytes.NewReader([]byte(`{"schema":"maildrill.report/v0"}`)))
	assert.ErrorContains(t, err, "maildrill.report/v0")

	// The schema is not a rubber stamp.
	bad := bytes.Replace(buf.Bytes(), []byte(`"result": "too_many"`), []byte(`"result": "sort_of"`), 1)
	assert.Error(t, validate(t, sch, bad))
	bad = bytes.Replace(buf.Bytes(), []byte(`"attribution": "staff"`), []byte(`"attribution": "someone"`), 1)
	assert.Error(t, validate(t, sch, bad))
	bad = bytes.Replace(buf.Bytes(), []byte(`"noise": [`), []byte(`"noise_": [`), 1)
	assert.Error(t, validate(t, sch, bad), "noise is required")
	bad = bytes.Replace(buf.Bytes(), []byte(`"tool_commit": "0123abc",`), nil, 1)
	assert.Error(t, validate(t, sch, bad), "the tool's commit is required")
	// And a v2 report is no v1 report.
	assert.Error(t, validate(t, compileSchema(t, "report-v1.schema.json", SchemaV1JSON), buf.Bytes()))
}

// A noise verdict (a budget, or --fail-on-noise) validates in v2 and
// counts as a failed expectation.
func TestNoiseVerdictReport(t *testing.T) {
	sch := compileSchema(t, "report-v2.schema.json", SchemaJSON)
	fx := fixture(t)
	fx.Result.Failed = false
	fx.Result.Verdicts = fx.Result.Verdicts[:1]
	require.Equal(t, 3, scenarios.FailOnNoise(fx.Result))
	rep := Build([]Run{fx}, fixedTime)
	assert.False(t, rep.Passed)
	assert.Equal(t, map[string]int{"met": 1, "noisy": 3}, rep.Summary.Results)
	v := rep.Scenarios[0].Verdicts[1]
	assert.Equal(t, "noise", v.Kind)
	assert.False(t, v.Passed)
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, rep))
	require.NoError(t, validate(t, sch, buf.Bytes()))
}

// Reports written before v2 are still read, and their schema still
// validates them.
func TestReadV1(t *testing.T) {
	old := []byte(`{"schema":"maildrill.report/v1","generated_at":"2026-01-02T03:04:05Z","tool":"maildrill","passed":true,
"summary":{"scenarios":0,"expectations":0,"passed":0,"failed":0,"errors":0,"results":{}},"scenarios":[]}`)
	require.NoError(t, validate(t, compileSchema(t, "report-v1.schema.json", SchemaV1JSON), old))
	rep, err := ReadJSON(bytes.NewReader(old))
	require.NoError(t, err)
	assert.Equal(t, SchemaV1, rep.Schema)
	assert.Error(t, validate(t, compileSchema(t, "report-v2.schema.json", SchemaJSON), old))
}

func TestWallTimeToDetect(t *testing.T) {
	fx := fixture(t)
	fx.Speed = 60
	s := Build([]Run{fx}, fixedTime).Scenarios[0]
	assert.Equal(t, "scaled", s.Clock)
	require.NotNil(t, s.Verdicts[0].TTDWallMS)
	assert.Equal(t, int64(3000), *s.Verdicts[0].TTDWallMS, "3m of scenario time at ×60")
	fx.Speed = 1
	s = Build([]Run{fx}, fixedTime).Scenarios[0]
	assert.Equal(t, "real", s.Clock)
	assert.Equal(t, *s.Verdicts[0].TTDMS, *s.Verdicts[0].TTDWallMS)
}

func TestRelatedTechniques(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"T1114", "T1114", true}, {"T1114", "T1114.002", true}, {"T1114.002", "T1114", true},
		{"T1114.002", "T1114.003", false}, {"T1110", "T1114", false},
	} {
		assert.Equal(t, c.want, related(c.a, c.b), "%s %s", c.a, c.b)
	}
	assert.Equal(t, []string{"T1110.003", "T1078"}, techniques([]string{"attack.credential-access", "attack.t1110.003", "attack.T1078", "attack.g0007"}))
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

var _ = scenarios.Met

// TestOneZonePerReport: a correlation alert stamped in UTC and a detection
// alert stamped with its event's offset are both written in the scenario's
// zone, as are the windows and the first alert of a verdict.
func TestOneZonePerReport(t *testing.T) {
	fx := fixture(t)
	require.NotEmpty(t, fx.Result.Alerts)
	fx.Result.Alerts[0].Time = fx.Result.Alerts[0].Time.UTC() // as the correlation engine stamps
	e, ok := fx.Result.Event("s1")
	require.True(t, ok)
	e.Time = e.Time.UTC() // as an outside log may
	fx.Result.KeepEvents(e)
	for i := range fx.Result.Verdicts {
		fx.Result.Verdicts[i].WindowStart = fx.Result.Verdicts[i].WindowStart.UTC()
	}
	rep := Build([]Run{fx}, fixedTime)
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, rep))
	_, want := fx.Result.Scenario.Env.Start.Zone()
	require.NotZero(t, want, "the fixture's scenario is not in UTC")
	s := rep.Scenarios[0]
	check := func(what string, tm time.Time) {
		t.Helper()
		if _, off := tm.Zone(); off != want {
			t.Errorf("%s written at offset %ds, want the scenario's %ds", what, off, want)
		}
	}
	for _, a := range s.Alerts {
		check("alert "+a.Title, a.Time)
	}
	for _, v := range s.Verdicts {
		check("window of "+v.Rule, v.WindowStart)
	}
	require.NotEmpty(t, s.Noise)
	for _, n := range s.Noise {
		for _, it := range n.Items {
			check("unexpected alert "+n.Title, it.Time)
			for _, e := range it.Events {
				check("event "+e.ID, e.Time)
			}
		}
	}
	_, scen, _ := strings.Cut(buf.String(), `"scenarios": [`)
	require.NotContains(t, scen, `Z"`, "no UTC time left in the scenario's report")
}

// The --syslog-to account validates against the schema, and a report
// without it has no syslog_to at all.
func TestJSONReportSyslogTo(t *testing.T) {
	sch := compileSchema(t, "report-v2.schema.json", SchemaJSON)
	rep := BuildWith([]Run{fixture(t)}, Options{Generated: fixedTime})
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, rep))
	assert.NotContains(t, buf.String(), "syslog_to")
	rep.SyslogTo = &Delivery{Endpoint: "tcp://127.0.0.1:5514", Sent: 10, Delivered: 7, Lost: 3, LostBufferFull: 2, LostUnsent: 1, Connections: 2, LastError: "connection refused"}
	buf.Reset()
	require.NoError(t, WriteJSON(&buf, rep))
	require.NoError(t, validate(t, sch, buf.Bytes()))
	back, err := ReadJSON(&buf)
	require.NoError(t, err)
	assert.Equal(t, rep.SyslogTo, back.SyslogTo)
	rep.SyslogTo.Endpoint = "http://x"
	buf.Reset()
	require.NoError(t, WriteJSON(&buf, rep))
	assert.Error(t, validate(t, sch, buf.Bytes()), "the schema checks the account")
}
