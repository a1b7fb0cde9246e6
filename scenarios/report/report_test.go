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
	sch := compileSchema(t, "report-v1.schema.json", SchemaJSON)
	fx := fixture(t)
	broken := Run{Scenario: fx.Result.Scenario, Err: errors.New("starting the embedded target: address in use")}
	rep := Build([]Run{fx, broken}, fixedTime)

	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, rep))
	require.NoError(t, validate(t, sch, buf.Bytes()))
	golden(t, "report.golden.json", buf.Bytes())

	assert.False(t, rep.Passed)
	assert.Equal(t, Summary{Scenarios: 2, Expectations: 7, Passed: 2, Failed: 5, Errors: 1,
		Results: map[string]int{"met": 2, "late": 1, "missed": 1, "too_many": 1, "early": 1, "false_positive": 1}}, rep.Summary)
	s := rep.Scenarios[0]
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
	_, scen, _ := strings.Cut(buf.String(), `"scenarios": [`)
	require.NotContains(t, scen, `Z"`, "no UTC time left in the scenario's report")
}
