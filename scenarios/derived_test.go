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
}
