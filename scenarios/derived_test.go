package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors"
)

// TestDerivedRuleMeetsExpectation: an expectation naming a rule (by title,
// name or id) is met by alerts of a rule declaring itself derived from it,
// the verdict says which rule fired; a rule not derived from it does not
// count.
func TestDerivedRuleMeetsExpectation(t *testing.T) {
	src := `id: derived
title: t
environment: {start: 2025-12-10T00:00:00Z, duration: 2h}
actors: [{id: a, kind: attacker, source: 203.0.113.9, steps: [{id: s, login: {}}]}]
expect:
  - {rule: Bulk Download, after: s, within: 10m}
  - {rule: bulk_download, after: s, within: 10m}
  - {rule: 11111111-2222-3333-4444-555555555555, after: s, within: 10m}
  - {rule: Other, after: s, within: 10m}
`
	sc, err := Parse("derived.yaml", []byte(src))
	require.NoError(t, err)
	t0 := sc.Env.Start
	parent := detectors.RuleRef{ID: "11111111-2222-3333-4444-555555555555", Name: "bulk_download", Title: "Bulk Download"}
	rec := Recording{RunID: "r",
		Truth: []TruthRecord{{Time: t0.Add(time.Minute), RunID: "r", Actor: "a", Role: "attacker", Step: "s", Action: "imap.login", SourceIP: "203.0.113.9"}},
		Alerts: []detectors.Alert{
			{RuleID: "variant-id", Title: "Bulk Download (FETCH parts)", Time: t0.Add(3 * time.Minute), DerivedFrom: []detectors.RuleRef{parent}},
			{RuleID: "unrelated", Title: "Unrelated", Time: t0.Add(3 * time.Minute)},
		},
		End: t0.Add(time.Hour)}
	res := Judge(sc, rec)
	for i := 0; i < 3; i++ {
		v := res.Verdicts[i]
		assert.Equal(t, Met, v.Result, v.Rule)
		assert.Equal(t, []string{"Bulk Download (FETCH parts)"}, v.DerivedBy, v.Rule)
		assert.Equal(t, "by derived rule Bulk Download (FETCH parts)", v.Detail, v.Rule)
	}
	assert.Equal(t, Missed, res.Verdicts[3].Result)
	assert.Empty(t, res.Verdicts[3].DerivedBy)

	// The original fired too: the detail says the variant also did.
	rec.Alerts = append(rec.Alerts, detectors.Alert{RuleID: parent.ID, RuleName: parent.Name, Title: parent.Title, Time: t0.Add(4 * time.Minute)})
	res = Judge(sc, rec)
	assert.Equal(t, 2, res.Verdicts[0].Alerts)
	assert.Equal(t, "also by derived rule Bulk Download (FETCH parts)", res.Verdicts[0].Detail)
}

// TestBlindOn: on a telemetry its blind_on lists, an expectation with no
// alert is BLIND (passing, with the reason); met if the alert comes all
// the same (said in the detail); on other telemetry missed as ever.
func TestBlindOn(t *testing.T) {
	src := `id: blind
title: t
environment: {start: 2025-12-10T00:00:00Z, duration: 2h}
actors: [{id: a, kind: attacker, source: 203.0.113.9, steps: [{id: s, login: {}}]}]
expect:
  - {rule: Seen, after: s, within: 10m, blind_on: [dovecot-stock]}
  - {rule: Unseen, after: s, within: 10m, blind_on: [dovecot-stock, remote]}
`
	sc, err := Parse("blind.yaml", []byte(src))
	require.NoError(t, err)
	assert.Equal(t, []string{"dovecot-stock", "remote"}, sc.Expect[1].BlindOn)
	t0 := sc.Env.Start
	judge := func(target, profile string) *Result {
		return Judge(sc, Recording{RunID: "r", Header: RecordingHeader{Target: target, DovecotProfile: profile},
			Truth:  []TruthRecord{{Time: t0.Add(time.Minute), RunID: "r", Actor: "a", Role: "attacker", Step: "s", Action: "imap.login", SourceIP: "203.0.113.9"}},
			Alerts: []detectors.Alert{{RuleID: "x", Title: "Seen", Time: t0.Add(3 * time.Minute)}},
			End:    t0.Add(time.Hour)})
	}
	res := judge("dovecot", "stock")
	assert.Equal(t, Met, res.Verdicts[0].Result)
	assert.Equal(t, "seen although blind_on lists dovecot-stock", res.Verdicts[0].Detail)
	assert.Equal(t, Blind, res.Verdicts[1].Result)
	assert.Equal(t, "dovecot-stock", res.Verdicts[1].Telemetry)
	assert.Contains(t, res.Verdicts[1].Detail, "dovecot-stock telemetry cannot see this technique")
	assert.True(t, res.Verdicts[1].OK())
	assert.False(t, res.Failed, "a blind verdict does not fail the run")

	for _, tg := range [][2]string{{"dovecot", ""}, {"dovecot", "enhanced"}, {"embedded", ""}} {
		res = judge(tg[0], tg[1])
		assert.Equal(t, Missed, res.Verdicts[1].Result, tg)
		assert.True(t, res.Failed, tg)
	}
	assert.Equal(t, Blind, judge("remote", "").Verdicts[1].Result)
}

func TestTelemetry(t *testing.T) {
	for _, c := range [][3]string{{"embedded", "", "mailsim"}, {"", "", "mailsim"}, {"docker", "", "mailsim"},
		{"dovecot", "", "dovecot-enhanced"}, {"dovecot", "enhanced", "dovecot-enhanced"}, {"dovecot", "stock", "dovecot-stock"},
		{"remote", "", "remote"}, {"remote", "stock", "dovecot-stock"}, {"remote", "enhanced", "dovecot-enhanced"}} {
		assert.Equal(t, c[2], Telemetry(c[0], c[1]), c)
	}
}

func TestBlindOnErrors(t *testing.T) {
	head := "id: b\ntitle: t\nenvironment: {start: 2025-12-10T00:00:00Z, duration: 2h}\nactors: [{id: a, kind: attacker, source: 203.0.113.9, steps: [{id: s, login: {}}]}]\nexpect:\n"
	for _, c := range []struct{ yaml, want string }{
		{"  - {rule: R, after: s, within: 1m, blind_on: [dovecot-stok]}\n", `b.yaml:6:48: blind_on: unknown telemetry "dovecot-stok"`},
		{"  - {rule: R, after: s, within: 1m, blind_on: dovecot-stock}\n", "b.yaml:6:47: blind_on must be a list"},
		{"  - {rule: R, must_not_fire: true, blind_on: [mailsim]}\n", "blind_on on a must_not_fire expectation"},
		{"  - {rule: R, after: s, within: 1m, blind_on: [mailsim, mailsim]}\n", `"mailsim" listed twice`},
	} {
		_, err := Parse("b.yaml", []byte(head+c.yaml))
		require.Error(t, err, c.yaml)
		assert.Contains(t, err.Error(), c.want, c.yaml)
	}
}
