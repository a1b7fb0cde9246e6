package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors"
)

// TestNoiseCovered checks what counts as covered on hand-made alerts: in
// the window of a fire expectation for its group only; before or after the
// window, another group, a must_not_fire, a rule nobody names: unexpected.
func TestNoiseCovered(t *testing.T) {
	src := `id: covered
title: t
environment: {start: 2025-12-10T00:00:00Z, duration: 2h}
actors: [{id: a, kind: attacker, source: 203.0.113.9, steps: [{id: s, login: {}}]}]
expect:
  - {rule: Spray, after: s, within: 10m, group: {source.ip: 203.0.113.9}}
  - {rule: Quiet, must_not_fire: true}
noise: {max_alerts: 3, rules: [{rule: Other, max_alerts: 1}]}
`
	sc, err := Parse("covered.yaml", []byte(src))
	require.NoError(t, err)
	t0 := sc.Env.Start
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	alert := func(title string, m int, group map[string]string, ids ...string) detectors.Alert {
		return detectors.Alert{RuleID: "id-" + title, Title: title, Time: at(m), Group: group, EventIDs: ids}
	}
	atk := map[string]string{"source.ip": "203.0.113.9"}
	rec := Recording{RunID: "r",
		Truth: []TruthRecord{
			{Time: at(1), RunID: "r", Actor: "a", Role: "attacker", Step: "s", Action: "imap.login", SourceIP: "203.0.113.9"},
			{Time: at(2), RunID: "r", Actor: "staff/x", Role: "staff", Action: "imap.login", SourceIP: "10.0.0.5"},
		},
		Alerts: []detectors.Alert{
			alert("Spray", 5, atk, "e1"),                                            // covered
			alert("Spray", 30, atk, "e1"),                                           // after the window
			alert("Spray", 6, map[string]string{"source.ip": "198.51.100.1"}, "e3"), // another group
			alert("Quiet", 7, nil, "e2"),                                            // a false positive
			alert("Other", 8, nil, "e2", "e1"),                                      // staff and attacker: attacker
			alert("Other", 9, nil, "e9"),                                            // unknown event
		},
		EventTable: &EventTable{},
		End:        at(60)}
	for id, ip := range map[string]string{"e1": "203.0.113.9", "e2": "10.0.0.5", "e3": "198.51.100.1"} {
		rec.EventTable.Add(EventRef{ID: id, SourceIP: ip})
	}
	res := Judge(sc, rec)
	noise := Noise(sc, res)
	require.Len(t, noise, 3)
	assert.Equal(t, "Other", noise[0].Title)
	assert.Equal(t, 2, noise[0].Alerts)
	assert.Equal(t, []string{ByAttacker, ByUnknown}, []string{noise[0].Items[0].Attribution, noise[0].Items[1].Attribution})
	assert.Equal(t, "Spray", noise[1].Title)
	assert.Equal(t, 2, noise[1].Alerts)
	assert.Contains(t, noise[1].Items[0].Reason, "another group than the expectation at line 6")
	assert.Equal(t, ByUnknown, noise[1].Items[0].Attribution)
	assert.Contains(t, noise[1].Items[1].Reason, "outside the window of the expectation at line 6")
	assert.Equal(t, ByAttacker, noise[1].Items[1].Attribution)
	assert.Equal(t, "Quiet", noise[2].Title)
	assert.Equal(t, ByStaff, noise[2].Items[0].Attribution)
	assert.Contains(t, noise[2].Items[0].Reason, "a false positive of the must_not_fire expectation at line 7")

	var nv []Verdict
	for _, v := range res.Verdicts {
		if v.Kind == KindNoise {
			nv = append(nv, v)
		}
	}
	require.Len(t, nv, 2)
	assert.Equal(t, Noisy, nv[0].Result, "5 unexpected alerts, at most 3")
	assert.Equal(t, 5, nv[0].Alerts)
	assert.Equal(t, Noisy, nv[1].Result, "2 of Other, at most 1")
	assert.Equal(t, 8, nv[0].Line)

	// --fail-on-noise: a failed noise verdict per noisy rule, none twice.
	added := FailOnNoise(res)
	assert.Equal(t, 2, added, "Other already failed its budget")
	assert.True(t, res.Failed)
	var rules []string
	for _, v := range res.Verdicts[len(res.Verdicts)-added:] {
		rules = append(rules, v.Rule)
		assert.Equal(t, Noisy, v.Result)
		assert.Contains(t, v.Detail, "--fail-on-noise")
	}
	assert.Equal(t, []string{"Spray", "Quiet"}, rules)
}

// A quiet run stays passed under --fail-on-noise.
func TestFailOnNoiseQuiet(t *testing.T) {
	sc, err := Parse("q.yaml", []byte("id: q\ntitle: t\nenvironment: {start: 2025-12-10T00:00:00Z, duration: 1h}\nactors: [{id: a, kind: attacker, steps: [login]}]\n"))
	require.NoError(t, err)
	res := Judge(sc, Recording{RunID: "r", Truth: []TruthRecord{{Time: sc.Env.Start, RunID: "r", Actor: "a", Action: "imap.login"}}})
	assert.Zero(t, FailOnNoise(res))
	assert.False(t, res.Failed)
	assert.Empty(t, Noise(sc, res))
}

// noise: is parsed with positions, and its rule names are resolved like
// expectations'.
func TestNoiseSpec(t *testing.T) {
	base := "id: n\ntitle: t\nactors: [{id: a, kind: attacker, steps: [login]}]\n"
	for _, c := range []struct{ src, want string }{
		{"noise: {}\n", "n.yaml:4:8: noise declares no budget"},
		{"noise: {max_alerts: -1}\n", "n.yaml:4:21"},
		{"noise: {rules: [{rule: X}]}\n", "n.yaml:4:18: noise budget for \"X\" has no max_alerts"},
		{"noise: {rules: [{max_alerts: 1}]}\n", "noise budget without rule"},
		{"noise: {max_alert: 1}\n", "n.yaml:4:9"},
		{"noise: {rules: x}\n", "noise rules must be a list"},
	} {
		_, err := Parse("n.yaml", []byte(base+c.src))
		require.Error(t, err, c.src)
		assert.Contains(t, err.Error(), c.want, c.src)
	}
	sc, err := Parse("n.yaml", []byte(base+"noise:\n  rules:\n    - {rule: IMAP Login Outside Ofice Hours, max_alerts: 0}\n"))
	require.NoError(t, err)
	assert.Equal(t, -1, sc.Noise.MaxAlerts)
	err = Resolve(sc, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `n.yaml:6:14: noise rule "IMAP Login Outside Ofice Hours": no loaded rule has this id, name or title`)
	assert.Contains(t, err.Error(), `"IMAP Login Outside Office Hours"`)
	sc, err = Parse("n.yaml", []byte(base+"noise: {rules: [{rule: IMAP Login Outside Office Hours, max_alerts: 0}]}\n"))
	require.NoError(t, err)
	require.NoError(t, Resolve(sc, nil))
	// A budget on a base rule, which never alerts, would always hold.
	sc, err = Parse("n.yaml", []byte(base+"noise: {rules: [{rule: IMAP Failed Login (spray base), max_alerts: 0}]}\n"))
	require.NoError(t, err)
	err = Resolve(sc, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "n.yaml:4:24: noise: ")
}
