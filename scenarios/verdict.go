package scenarios

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/maildrill/maildrill/detectors"
)

// Verdict outcomes.
const (
	Met           = "met"
	Missed        = "missed"
	Early         = "early"
	Late          = "late"
	TooMany       = "too_many"
	FalsePositive = "false_positive"
	// Blind: the expected alert did not come on a telemetry the
	// expectation's blind_on says cannot see the technique. A finding, not
	// a failure.
	Blind = "blind"
)

// Verdict is an expectation judged against the alerts and ground truth.
type Verdict struct {
	Rule        string        `json:"rule"`
	Kind        string        `json:"kind"` // fire or must_not_fire
	Result      string        `json:"result"`
	Anchor      string        `json:"anchor,omitempty"`
	WindowStart time.Time     `json:"window_start"`
	WindowEnd   time.Time     `json:"window_end"`
	Alerts      int           `json:"alerts"`
	FirstAlert  *time.Time    `json:"first_alert,omitempty"`
	TTD         time.Duration `json:"time_to_detect_ns,omitempty"`
	Detail      string        `json:"detail,omitempty"`
	Line        int           `json:"line"`
	// Telemetry is the run's telemetry (see Telemetry) on a verdict whose
	// expectation has blind_on.
	Telemetry string `json:"telemetry,omitempty"`
	// DerivedBy lists the rules, derived from the one named, whose alerts
	// the verdict counted (Sigma related: derived).
	DerivedBy []string `json:"derived_by,omitempty"`
}

// OK reports whether the verdict passes: met, or blind (the run's
// telemetry cannot see the technique, as the scenario says).
func (v Verdict) OK() bool { return v.Result == Met || v.Result == Blind }

// ruleMatches reports whether an expectation naming pattern (a rule id,
// name or title glob, or *) covers the alert: the alert's own rule, or a
// rule its rule declares itself derived from (Sigma related: derived).
func ruleMatches(pattern string, a detectors.Alert) bool {
	if ruleIs(pattern, a.RuleID, a.RuleName, a.Title) {
		return true
	}
	for _, d := range a.DerivedFrom {
		if ruleIs(pattern, d.ID, d.Name, d.Title) {
			return true
		}
	}
	return false
}

// ruleIs reports whether pattern names the rule with this id, name and title.
func ruleIs(pattern, id, name, title string) bool {
	if pattern == "*" || pattern == id || (name != "" && pattern == name) {
		return true
	}
	if title == "" {
		return false
	}
	ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(title))
	return ok
}

// firedBy lists, in order of first alert, the titles of the rules behind
// alerts that an expectation on pattern counts only through derivation.
func firedBy(pattern string, in []detectors.Alert) []string {
	var out []string
	for _, a := range in {
		if ruleIs(pattern, a.RuleID, a.RuleName, a.Title) || slices.Contains(out, a.Title) {
			continue
		}
		out = append(out, a.Title)
	}
	return out
}

// Evaluate judges every expectation of the scenario, then its noise
// budgets (see Noise for the alerts they count).
func Evaluate(sc *Scenario, res *Result) []Verdict {
	out, _ := evaluate(sc, res)
	return out
}

// evaluate is Evaluate; covered[i] says whether a fire expectation
// counts res.Alerts[i] (in its window, for its group).
func evaluate(sc *Scenario, res *Result) ([]Verdict, []bool) {
	var out []Verdict
	covered := make([]bool, len(res.Alerts))
	end := judgedEnd(sc, res)
	telemetry := Telemetry(res.header.Target, res.header.DovecotProfile)
	for _, e := range sc.Expect {
		v := Verdict{Rule: e.Rule, Anchor: e.Anchor, Line: e.line, Kind: "fire"}
		if e.NotFire {
			v.Kind = "must_not_fire"
			from := sc.Env.Start.Add(e.From)
			to := end
			if e.To > 0 {
				to = sc.Env.Start.Add(e.To)
			}
			v.WindowStart, v.WindowEnd = from, to
			var bad []string
			for _, a := range res.Alerts {
				if !ruleMatches(e.Rule, a) || a.Time.Before(from) || a.Time.After(to) {
					continue
				}
				if e.Rule == "*" && res.attackerCaused(a) {
					continue // "no rule fires on benign activity": the attack's own alerts don't count
				}
				v.Alerts++
				if v.FirstAlert == nil {
					t := a.Time
					v.FirstAlert = &t
				}
				if len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("%s at %s", a.Title, a.Time.Format("15:04:05")))
				}
			}
			if v.Alerts > 0 {
				v.Result = FalsePositive
				v.Detail = "fired on benign activity: " + strings.Join(bad, "; ")
			} else {
				v.Result = Met
			}
			out = append(out, v)
			continue
		}
		anchor := sc.Env.Start
		if e.Anchor != "" {
			sp, ok := res.Spans[e.Anchor]
			if !ok {
				v.Result = Missed
				v.Detail = fmt.Sprintf("anchor step %q never ran", e.Anchor)
				out = append(out, v)
				continue
			}
			anchor = sp.Start
			if e.Edge == "end" {
				anchor = sp.End
			}
		}
		v.WindowStart, v.WindowEnd = anchor.Add(e.MinDelay), anchor.Add(e.MaxDelay)
		var in, before, after []detectors.Alert
		for i, a := range res.Alerts {
			if !ruleMatches(e.Rule, a) || !groupMatches(e.Group, a) {
				continue
			}
			switch {
			case a.Time.Before(v.WindowStart):
				before = append(before, a)
			case a.Time.After(v.WindowEnd):
				after = append(after, a)
			default:
				in = append(in, a)
				covered[i] = true
			}
		}
		v.Alerts = len(in)
		if len(in) > 0 {
			t := in[0].Time
			v.FirstAlert = &t
			v.TTD = t.Sub(anchor)
		}
		switch {
		case len(before) > 0:
			v.Result = Early
			v.Detail = fmt.Sprintf("%d alert(s) before the window, first at %s", len(before), before[0].Time.Format(time.RFC3339))
		case len(in) == 0 && len(after) > 0:
			v.Result = Late
			t := after[0].Time
			v.FirstAlert = &t
			v.TTD = t.Sub(anchor)
			v.Detail = fmt.Sprintf("first alert %s after the anchor, window ends at +%s", t.Sub(anchor).Round(time.Second), e.MaxDelay)
		case len(in) < e.MinCount:
			v.Result = Missed
			if len(in) > 0 {
				v.Detail = fmt.Sprintf("%d alert(s) in the window, expected at least %d", len(in), e.MinCount)
			} else {
				v.Detail = "no alert"
			}
		case e.MaxCount > 0 && len(in) > e.MaxCount:
			v.Result = TooMany
			v.Detail = fmt.Sprintf("%d alerts in the window, expected at most %d", len(in), e.MaxCount)
		default:
			v.Result = Met
		}
		if v.DerivedBy = firedBy(e.Rule, in); len(v.DerivedBy) > 0 && v.Detail == "" {
			v.Detail = "by derived rule " + strings.Join(v.DerivedBy, ", ")
			for _, a := range in {
				if ruleIs(e.Rule, a.RuleID, a.RuleName, a.Title) {
					v.Detail = "also by derived rule " + strings.Join(v.DerivedBy, ", ")
					break
				}
			}
		}
		if slices.Contains(e.BlindOn, telemetry) {
			v.Telemetry = telemetry
			switch {
			case v.Result == Missed && len(in) == 0:
				v.Result = Blind
				v.Detail = fmt.Sprintf("no alert: %s telemetry cannot see this technique (blind_on)", telemetry)
			case v.Result == Met:
				note := fmt.Sprintf("seen although blind_on lists %s", telemetry)
				if v.Detail != "" {
					note = v.Detail + "; " + note
				}
				v.Detail = note
			}
		}
		out = append(out, v)
	}
	out = append(out, noiseVerdicts(sc, res, covered, end)...)
	return out, covered
}

// judgedEnd is the end of the judged period: the run's end, bounded by
// the scenario's duration.
func judgedEnd(sc *Scenario, res *Result) time.Time {
	end := res.End
	if e := sc.Env.Start.Add(sc.Env.Duration); e.Before(end) || end.IsZero() {
		end = e
	}
	return end
}

func groupMatches(want map[string]string, a detectors.Alert) bool {
	for k, v := range want {
		if !strings.EqualFold(a.Group[k], v) {
			return false
		}
	}
	return true
}

// attackerCaused reports whether any event behind the alert came from a
// non-staff actor (by source address in the ground truth).
func (res *Result) attackerCaused(a detectors.Alert) bool {
	for _, id := range a.EventIDs {
		if ip, ok := res.events.Source(id); ok && res.attackerIPs[ip] {
			return true
		}
	}
	return false
}
