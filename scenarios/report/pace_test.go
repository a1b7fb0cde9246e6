package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
)

// A run that fell behind its clock says so in every format: the JSON
// report's pace (valid against the schema, read back whole), the verdict
// table's warning, the suite's status line and the HTML report. A run
// that kept up shows its pace in JSON and warns nowhere.
func TestFellBehindInEveryFormat(t *testing.T) {
	sch := compileSchema(t, "report-v2.schema.json", SchemaJSON)
	fx := fixture(t)
	fx.Speed = 3000
	due := fx.Result.Start.Add(2 * time.Hour).UTC()
	fx.Result.Pace = &scenarios.Pace{Speed: 3000, Timed: 120, Late: 37, MaxLag: 41*time.Hour + 12*time.Minute + 7*time.Second, MaxLagActor: "staff/s0042", MaxLagDue: due}

	rep := Build([]Run{fx}, fixedTime)
	p := rep.Scenarios[0].Pace
	require.NotNil(t, p)
	assert.Equal(t, Pace{Behind: true, Timed: 120, Late: 37, ToleranceMS: 60000, MaxLagMS: (41*time.Hour + 12*time.Minute + 7*time.Second).Milliseconds(),
		MaxLagActor: "staff/s0042", MaxLagDue: p.MaxLagDue}, *p)
	require.NotNil(t, p.MaxLagDue)
	assert.True(t, p.MaxLagDue.Equal(due))
	assert.Equal(t, fx.Result.Start.Location().String(), p.MaxLagDue.Location().String(), "in the report's one zone")
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, rep))
	require.NoError(t, validate(t, sch, buf.Bytes()))
	back, err := ReadJSON(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, p.MaxLagMS, back.Scenarios[0].Pace.MaxLagMS)
	assert.True(t, back.Scenarios[0].Pace.Behind)
	bad := bytes.Replace(buf.Bytes(), []byte(`"late_actions": 37`), []byte(`"late_actions": -1`), 1)
	require.NotEqual(t, buf.Bytes(), bad)
	assert.Error(t, validate(t, sch, bad), "the schema checks the pace")

	var table bytes.Buffer
	WriteVerdicts(&table, fx.Result, false)
	assert.Contains(t, table.String(), "warning: the run fell behind its clock: 37 of 120 timed actions started more than 1m0s late, the latest 41h12m0s late (staff/s0042, due ")
	assert.Contains(t, table.String(), "judged on that time: a lower --speed keeps to it\n")
	assert.Contains(t, StatusLine(fx, false), "; fell behind its clock by up to 41h12m0s")

	var junit bytes.Buffer
	require.NoError(t, WriteJUnit(&junit, rep))
	assert.Contains(t, junit.String(), `<property name="late_actions" value="37"></property>`)
	assert.Contains(t, junit.String(), `<property name="max_lag" value="41h12m7s"></property>`)
	assert.Contains(t, junit.String(), "<system-out><![CDATA[warning: the run fell behind its clock: 37 of 120 timed actions started more than 1m0s late, the latest 41h12m0s late (staff/s0042, due ")

	var page bytes.Buffer
	require.NoError(t, WriteHTML(&page, rep))
	assert.Contains(t, page.String(), "The run fell behind its clock: 37 of 120 timed actions started more than 1m0s late, the latest 41h12m7s late (staff/s0042).")
	assert.Contains(t, page.String(), "judged on that time: a lower speed keeps to it.")

	// At real time a lower speed is no remedy.
	fx.Speed = 1
	fx.Result.Pace.Speed = 1
	table.Reset()
	WriteVerdicts(&table, fx.Result, false)
	assert.Contains(t, table.String(), "judged on that time: at real time only a less loaded machine or a faster target keeps to it\n")
	page.Reset()
	require.NoError(t, WriteHTML(&page, Build([]Run{fx}, fixedTime)))
	assert.Contains(t, page.String(), "judged on that time: at real time only a less loaded machine or a faster target keeps to it.")

	// Kept up: the pace is reported, with no warning anywhere.
	fx.Result.Pace = &scenarios.Pace{Timed: 120, MaxLag: 3 * time.Second, MaxLagActor: "attacker", MaxLagDue: due}
	rep = Build([]Run{fx}, fixedTime)
	require.NotNil(t, rep.Scenarios[0].Pace)
	assert.False(t, rep.Scenarios[0].Pace.Behind)
	buf.Reset()
	require.NoError(t, WriteJSON(&buf, rep))
	require.NoError(t, validate(t, sch, buf.Bytes()))
	table.Reset()
	WriteVerdicts(&table, fx.Result, false)
	page.Reset()
	require.NoError(t, WriteHTML(&page, rep))
	junit.Reset()
	require.NoError(t, WriteJUnit(&junit, rep))
	assert.Contains(t, junit.String(), `<property name="late_actions" value="0"></property>`)
	for what, s := range map[string]string{"table": table.String(), "status": StatusLine(fx, false), "html": page.String(), "junit": junit.String()} {
		assert.False(t, strings.Contains(s, "fell behind"), what)
	}

	// The virtual clock: no pace at all.
	fx.Result.Pace = nil
	rep = Build([]Run{fx}, fixedTime)
	assert.Nil(t, rep.Scenarios[0].Pace)
	buf.Reset()
	require.NoError(t, WriteJSON(&buf, rep))
	assert.NotContains(t, buf.String(), `"pace"`)
}

// A run against your own servers (the remote target) writes a report that
// validates: the schema names every target.
func TestRemoteTargetReportValidates(t *testing.T) {
	sch := compileSchema(t, "report-v2.schema.json", SchemaJSON)
	for _, target := range []string{"embedded", "docker", "dovecot", "remote"} {
		fx := fixture(t)
		fx.Result.Target = target
		var buf bytes.Buffer
		require.NoError(t, WriteJSON(&buf, Build([]Run{fx}, fixedTime)))
		require.Contains(t, buf.String(), `"target": "`+target+`"`)
		assert.NoError(t, validate(t, sch, buf.Bytes()), target)
	}
}

// A --fail-behind verdict validates against the schema and has its own
// names: the JUnit test case, the verdict table's window and the HTML row.
func TestFailBehindVerdictReport(t *testing.T) {
	sch := compileSchema(t, "report-v2.schema.json", SchemaJSON)
	fx := fixture(t)
	fx.Speed = 600
	fx.Result.Pace = &scenarios.Pace{Speed: 600, Timed: 50, Late: 7, MaxLag: 3 * time.Minute, MaxLagActor: "attacker", MaxLagDue: fx.Result.Start}
	require.True(t, scenarios.FailBehind(fx.Result))
	rep := Build([]Run{fx}, fixedTime)
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, rep))
	require.NoError(t, validate(t, sch, buf.Bytes()))
	assert.Equal(t, 1, rep.Summary.Results["behind"])
	v := rep.Scenarios[0].Verdicts[len(rep.Scenarios[0].Verdicts)-1]
	assert.Equal(t, "pace", v.Kind)
	assert.False(t, v.Passed)
	assert.Equal(t, "the run keeps to its clock", CaseName(v))

	var table bytes.Buffer
	WriteVerdicts(&table, fx.Result, false)
	assert.Regexp(t, `BEHIND\s+\*\s+the run's clock\s+-\s+0\s+--fail-behind: 7 of 50 timed actions`, table.String())
	var page bytes.Buffer
	require.NoError(t, WriteHTML(&page, rep))
	assert.Contains(t, page.String(), "<td class=\"fail\">BEHIND</td><td>*</td><td>the run&#39;s clock, ")
}
