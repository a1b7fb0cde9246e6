package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
)

// TestJUnitXSD has a real consumer read the JUnit file: xmllint validates
// it against testdata/junit-10.xsd (Debian's libxml2-utils; CI installs
// it, and MAILDRILL_REQUIRE_TOOLS=1 turns a missing xmllint into a failure).
func TestJUnitXSD(t *testing.T) {
	rep := Build([]Run{fixture(t)}, fixedTime)
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, rep))
	golden(t, "junit.golden.xml", buf.Bytes())

	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("MAILDRILL_REQUIRE_TOOLS") != "" {
			t.Fatal("xmllint not found: apt-get install libxml2-utils")
		}
		t.Skip("xmllint not found (apt-get install libxml2-utils)")
	}
	file := filepath.Join(t.TempDir(), "junit.xml")
	require.NoError(t, os.WriteFile(file, buf.Bytes(), 0o644))
	out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/junit-10.xsd", file).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "validates")

	// xmllint does say no: a testcase without a name is refused.
	bad := bytes.Replace(buf.Bytes(), []byte(`<testcase name=`), []byte(`<testcase nom=`), 1)
	require.NoError(t, os.WriteFile(file, bad, 0o644))
	out, err = exec.Command(xmllint, "--noout", "--schema", "testdata/junit-10.xsd", file).CombinedOutput()
	assert.Error(t, err, "%s", out)
}

func TestJUnitContent(t *testing.T) {
	rep := Build([]Run{fixture(t)}, fixedTime)
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, rep))
	var doc junitSuites
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc))
	require.Len(t, doc.Suites, 1)
	s := doc.Suites[0]
	assert.Equal(t, "report-fixture", s.Name)
	assert.Equal(t, 7, s.Tests)
	assert.Equal(t, 5, s.Failures)
	assert.Equal(t, 7, doc.Tests)
	byName := map[string]junitTestcase{}
	for _, c := range s.Cases {
		byName[c.Name] = c
	}
	met := byName["IMAP Password Spray From One Source fires after spray"]
	assert.Nil(t, met.Failure)
	props := map[string]string{}
	for _, p := range met.Properties.Props {
		props[p.Name] = p.Value
	}
	assert.Equal(t, "180.000", props["time_to_detect_seconds"])
	assert.Equal(t, "3m0s", props["time_to_detect"])
	assert.Equal(t, "met", props["result"])
	for name, typ := range map[string]string{
		"IMAP Bulk Attachment Download (count) fires after download":         "late",
		"Attachment Download Followed By Outbound Send fires after download": "missed",
		"IMAP Search For Sensitive Keywords fires after login":               "too_many",
		"IMAP Off-Hours Access fires after login":                            "early",
		"* must not fire": "false_positive",
	} {
		c, ok := byName[name]
		require.True(t, ok, name)
		require.NotNil(t, c.Failure, name)
		assert.Equal(t, typ, c.Failure.Type, name)
		assert.Contains(t, c.Failure.Text, "testdata/suite.yaml:", name)
	}

	// The unexpected alerts, in the suite's system-out.
	require.NotNil(t, s.SystemOut)
	out := s.SystemOut.Text
	assert.Contains(t, out, "A spray from an exit node", "the narrative stays")
	assert.Contains(t, out, "Unexpected alerts (no expectation covers them): 3\n")
	assert.Contains(t, out, "  IMAP Off-Hours Access: 1 (attacker 0, staff 1, unknown 0)\n")
	assert.Contains(t, out, "    2025-12-11T23:20:00+01:00 staff: a false positive of the must_not_fire expectation at line 52; events s1\n")
	assert.Contains(t, out, "  SMTP AUTH With Cleartext Credentials: 1 (attacker 0, staff 0, unknown 1)\n")
	assert.Contains(t, out, "events e1 e2")
	sp := map[string]string{}
	for _, p := range s.Properties.Props {
		sp[p.Name] = p.Value
	}
	assert.Equal(t, "3", sp["unexpected_alerts"])
}

// A failed noise budget is a failed testcase of type noisy.
func TestJUnitNoiseVerdict(t *testing.T) {
	fx := fixture(t)
	fx.Result.Verdicts = fx.Result.Verdicts[:1]
	scenarios.FailOnNoise(fx.Result)
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, Build([]Run{fx}, fixedTime)))
	var doc junitSuites
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc))
	s := doc.Suites[0]
	assert.Equal(t, 4, s.Tests)
	assert.Equal(t, 3, s.Failures)
	var names []string
	for _, c := range s.Cases[1:] {
		names = append(names, c.Name)
		require.NotNil(t, c.Failure)
		assert.Equal(t, "noisy", c.Failure.Type)
		assert.Contains(t, c.Failure.Message, "--fail-on-noise")
	}
	assert.Contains(t, names, "IMAP Off-Hours Access stays within its noise budget")
}

// A blind verdict is a skipped testcase with the reason, not a failure; the
// JSON report counts it as passed with result blind; the terminal says it
// is a finding.
func TestBlindVerdictInReports(t *testing.T) {
	fx := fixture(t)
	v := &fx.Result.Verdicts[0]
	v.Result, v.Alerts, v.FirstAlert, v.Detail, v.Telemetry = scenarios.Blind, 0, nil, "no alert: dovecot-stock telemetry cannot see this technique (blind_on)", "dovecot-stock"
	rep := Build([]Run{fx}, fixedTime)
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, rep))
	var doc junitSuites
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc))
	s := doc.Suites[0]
	assert.Equal(t, 1, s.Skipped)
	require.NotNil(t, s.Cases[0].Skipped)
	assert.Nil(t, s.Cases[0].Failure)
	assert.Contains(t, s.Cases[0].Skipped.Message, "blind: no alert: dovecot-stock telemetry cannot see")

	jv := rep.Scenarios[0].Verdicts[0]
	assert.Equal(t, "blind", jv.Result)
	assert.True(t, jv.Passed)
	assert.Equal(t, "dovecot-stock", jv.Telemetry)
	assert.Equal(t, 1, rep.Summary.Results["blind"])

	buf.Reset()
	WriteVerdicts(&buf, fx.Result, false)
	assert.Contains(t, buf.String(), "BLIND")
	assert.Contains(t, buf.String(), "finding: 1 expectation(s) BLIND")

	buf.Reset()
	require.NoError(t, WriteHTML(&buf, rep))
	assert.Contains(t, buf.String(), `<td class="blind">BLIND</td>`)
}

// TestJUnitControlCharacters: a rule title or a run error holding a
// character XML forbids (a C0 control, a byte that is not UTF-8) made the
// whole JUnit file unreadable, CDATA or not. Those characters are now
// written as Go escapes in text and replaced in attributes.
func TestJUnitControlCharacters(t *testing.T) {
	rep := Build([]Run{fixture(t)}, fixedTime)
	for i := range rep.Scenarios[0].Verdicts {
		rep.Scenarios[0].Verdicts[i].Rule = "Spray \x01 <b>&\x1b[31m \xff\ufffe"
		rep.Scenarios[0].Verdicts[i].Detail = "detail \x02"
	}
	rep.Scenarios[0].Error = "run failed: \x00\x1b[2J"
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, rep))
	var doc junitSuites
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc), "the file is XML")
	assert.Contains(t, buf.String(), `Spray \x01 <b>&\x1b[31m \xff\ufffe`, "visible in CDATA")
	assert.Contains(t, buf.String(), `run failed: \x00\x1b[2J`)

	if xmllint, err := exec.LookPath("xmllint"); err == nil {
		file := filepath.Join(t.TempDir(), "junit.xml")
		require.NoError(t, os.WriteFile(file, buf.Bytes(), 0o644))
		out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/junit-10.xsd", file).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	assert.Equal(t, "plain — text\n\ttab", xmlChars("plain — text\n\ttab"))
}
