package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/scenarios"
)

// fixture is a hand-made run of testdata/suite.yaml with one verdict of
// every kind, so that the report tests need no mail system.
func fixture(t testing.TB) Run {
	t.Helper()
	sc, err := scenarios.ParseFile("testdata/suite.yaml")
	require.NoError(t, err)
	at := func(hm string) time.Time {
		d, err := time.ParseDuration(hm)
		require.NoError(t, err)
		return sc.Env.Start.Add(d)
	}
	ptr := func(t time.Time) *time.Time { return &t }
	res := &scenarios.Result{
		Scenario: sc, RunID: "md-report-fixture-0001", Start: sc.Env.Start, End: at("2h30m"), Wall: 1500 * time.Millisecond,
		Events: 9, Actions: 0,
		Spans: map[string]scenarios.Span{
			"spray":    {Actor: "attacker", Start: at("1h40m"), End: at("1h42m")},
			"login":    {Actor: "attacker", Start: at("1h43m"), End: at("1h43m10s")},
			"download": {Actor: "attacker", Start: at("1h44m"), End: at("1h50m")},
		},
	}
	add := func(d, actor, role, step, kind, action string) {
		src := "185.220.101.34"
		if role == "staff" {
			src = "10.20.1.5"
		}
		res.Truth = append(res.Truth, scenarios.TruthRecord{Time: at(d), RunID: res.RunID, Actor: actor, Role: role,
			Step: step, StepKind: kind, Action: action, Outcome: "success", SourceIP: src})
		res.Actions++
	}
	add("5m", "staff/alice", "staff", "", "", "imap.login")
	add("6m", "staff/alice", "staff", "", "", "imap.read")
	add("1h", "staff/bob", "staff", "", "", "smtp.send")
	for i := range 5 {
		add((100*time.Minute + time.Duration(i)*20*time.Second).String(), "attacker", "attacker", "spray", "spray", "imap.login")
	}
	add("1h43m", "attacker", "attacker", "login", "login", "imap.login")
	for i := range 5 {
		add((104*time.Minute + time.Duration(i)*time.Minute).String(), "attacker", "attacker", "download", "download_attachments", "imap.download_attachment")
	}
	// The events behind the alerts: e1, e2 the attacker's, s1 a staff
	// member's; u1 was not kept (its alert's attribution is unknown).
	res.KeepEvents(
		scenarios.EventRef{ID: "e1", Time: at("1h42m50s"), Action: "imap.login", Outcome: "failure", User: "alice@interieur.test", SourceIP: "185.220.101.34"},
		scenarios.EventRef{ID: "e2", Time: at("1h43m"), Action: "imap.login", Outcome: "success", User: "alice@interieur.test", SourceIP: "185.220.101.34"},
		scenarios.EventRef{ID: "s1", Time: at("1h20m"), Action: "imap.login", Outcome: "success", User: "bob@interieur.test", SourceIP: "10.20.1.5"},
	)
	alert := func(title, d string, ids []string, tags ...string) detectors.Alert {
		return detectors.Alert{RuleID: "id-" + title, Title: title, Level: "high", Type: "detection", Time: at(d),
			Group: map[string]string{"source.ip": "185.220.101.34"}, EventIDs: ids, Attack: tags}
	}
	atk := []string{"e1", "e2"}
	res.Alerts = []detectors.Alert{
		alert("IMAP Off-Hours Access", "1h20m", []string{"s1"}, "attack.initial-access", "attack.t1078"),
		alert("IMAP Password Spray From One Source", "1h43m", atk, "attack.credential-access", "attack.t1110.003"),
		alert("IMAP Login From Outside The Office Network", "1h43m", atk, "attack.t1078"),
		alert("IMAP Search For Sensitive Keywords", "1h45m", atk, "attack.collection", "attack.t1114.002"),
		alert("IMAP Search For Sensitive Keywords", "1h46m", atk, "attack.collection", "attack.t1114.002"),
		alert("IMAP Bulk Attachment Download (count)", "1h55m", atk, "attack.collection", "attack.t1114.002"),
		alert("SMTP AUTH With Cleartext Credentials", "2h10m", []string{"u1"}, "attack.t1078"),
	}
	w := func(from, to string) (time.Time, time.Time) { return at(from), at(to) }
	v := func(rule, anchor, result string, from, to string, n int, first *time.Time, ttd time.Duration, detail string, line int) scenarios.Verdict {
		ws, we := w(from, to)
		kind := "fire"
		if anchor == "-" {
			kind, anchor = "must_not_fire", ""
		}
		return scenarios.Verdict{Rule: rule, Kind: kind, Result: result, Anchor: anchor, WindowStart: ws, WindowEnd: we,
			Alerts: n, FirstAlert: first, TTD: ttd, Detail: detail, Line: line}
	}
	res.Verdicts = []scenarios.Verdict{
		v("IMAP Password Spray From One Source", "spray", scenarios.Met, "1h40m", "1h50m", 1, ptr(at("1h43m")), 3*time.Minute, "", 30),
		v("IMAP Login From Outside The Office Network", "login", scenarios.Met, "1h43m", "1h44m", 1, ptr(at("1h43m")), 0, "", 33),
		v("IMAP Bulk Attachment Download (count)", "download", scenarios.Late, "1h44m", "1h49m", 0, ptr(at("1h55m")), 11*time.Minute, "first alert 11m0s after the anchor, window ends at +5m0s", 36),
		v("Attachment Download Followed By Outbound Send", "download", scenarios.Missed, "1h44m", "1h49m", 0, nil, 0, "no alert", 39),
		v("IMAP Search For Sensitive Keywords", "login", scenarios.TooMany, "1h43m", "1h53m", 2, ptr(at("1h45m")), 2*time.Minute, "2 alerts in the window, expected at most 1", 42),
		v("IMAP Off-Hours Access", "login", scenarios.Early, "1h44m", "1h53m", 0, nil, 0, "1 alert(s) before the window, first at 2025-12-11T23:20:00+01:00", 46),
		v("*", "-", scenarios.FalsePositive, "0h", "1h40m", 1, ptr(at("1h20m")), 0, "fired on benign activity: IMAP Off-Hours Access at 23:20:00", 50),
	}
	res.Failed = true
	var evs []time.Time
	for i := range 9 {
		evs = append(evs, at("1h40m").Add(time.Duration(i)*40*time.Second))
	}
	return Run{Result: res, EventTimes: evs}
}

// fixedTime is the generation time of golden reports.
var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
