package run

import (
	"context"
	"testing"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoiseLive runs a brute force at night beside two staff members
// working late from an outside address: the brute-force rule is expected,
// the off-hours and outside-network rules are not. Their alerts are
// listed per rule, attributed to staff or to the attacker by the sources
// of their events, and the budget of the off-hours rule fails the run.
func TestNoiseLive(t *testing.T) {
	sc, err := scenarios.ParseFile("../testdata/verdicts/noise.yaml")
	require.NoError(t, err)
	require.NotNil(t, sc.Noise)
	res, err := Run(context.Background(), sc, Options{})
	require.NoError(t, err)

	noise := scenarios.Noise(sc, res)
	byTitle := map[string]scenarios.RuleNoise{}
	for _, n := range noise {
		byTitle[n.Title] = n
		assert.Equal(t, n.Alerts, len(n.Items))
		assert.Equal(t, n.Alerts, n.Attacker+n.Staff+n.Unknown)
	}
	assert.NotContains(t, byTitle, "IMAP Brute Force Against One Account", "its alerts are covered by the expectation")
	off, ok := byTitle["IMAP Login Outside Office Hours"]
	require.True(t, ok, "off-hours alerts are unexpected: %+v", noise)
	assert.Positive(t, off.Staff, "the late staff logins")
	assert.Positive(t, off.Attacker, "the attacker's night login")
	for _, it := range off.Items {
		require.NotEmpty(t, it.EventIDs)
		assert.Equal(t, "no expectation names this rule", it.Reason)
		ev, ok := res.Event(it.EventIDs[0])
		require.True(t, ok, "the event behind the alert is kept")
		assert.Equal(t, "imap.login", ev.Action)
		assert.Equal(t, "success", ev.Outcome)
		assert.NotEmpty(t, ev.User)
		assert.Equal(t, it.Time, ev.Time)
		if it.Attribution == scenarios.ByStaff {
			assert.Contains(t, ev.SourceIP, "198.51.100.")
		} else {
			assert.Equal(t, "91.219.236.40", ev.SourceIP)
		}
	}

	// The budgets: the overall one holds, the off-hours rule's does not.
	var nv []scenarios.Verdict
	for _, v := range res.Verdicts {
		if v.Kind == scenarios.KindNoise {
			nv = append(nv, v)
		}
	}
	require.Len(t, nv, 2)
	assert.Equal(t, "*", nv[0].Rule)
	assert.Equal(t, scenarios.Met, nv[0].Result)
	total := 0
	for _, n := range noise {
		total += n.Alerts
	}
	assert.Equal(t, total, nv[0].Alerts)
	assert.Equal(t, "IMAP Login Outside Office Hours", nv[1].Rule)
	assert.Equal(t, scenarios.Noisy, nv[1].Result)
	assert.Equal(t, off.Alerts, nv[1].Alerts)
	assert.Equal(t, 35, nv[1].Line)
	assert.Contains(t, nv[1].Detail, "at most 0 allowed")
	assert.True(t, res.Failed, "an exceeded noise budget fails the run")

	// Judged again from a recording: the same noise; the events behind it
	// when the recording keeps them.
	again := scenarios.Judge(sc, scenarios.Recording{RunID: res.RunID, Truth: res.Truth, Alerts: res.Alerts, EventTable: res.Recording().EventTable, Events: res.Events})
	assert.Equal(t, noise, scenarios.Noise(sc, again))
	assert.Equal(t, res.Verdicts, again.Verdicts)
	id := off.Items[0].EventIDs[0]
	ev, ok := again.Event(id)
	require.True(t, ok)
	want, _ := res.Event(id)
	assert.Equal(t, want, ev)
	assert.Equal(t, id, ev.ID)
	assert.Equal(t, "imap.login", ev.Action)
	assert.False(t, ev.Time.IsZero())
	assert.Equal(t, res.Events, res.Recording().EventTable.Len(), "every event of the run is kept")

	// Without the table, the events behind the alerts are unknown: no
	// alert can be told the attacker's, and a report lists ids only.
	bare := scenarios.Judge(sc, scenarios.Recording{RunID: res.RunID, Truth: res.Truth, Alerts: res.Alerts, Events: res.Events})
	_, ok = bare.Event(id)
	assert.False(t, ok)
	for _, n := range scenarios.Noise(sc, bare) {
		for _, it := range n.Items {
			assert.Equal(t, scenarios.ByUnknown, it.Attribution)
		}
	}
}
