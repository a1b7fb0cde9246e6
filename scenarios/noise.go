package scenarios

import (
	"fmt"
	"sort"
	"time"

	"github.com/maildrill/maildrill/detectors"
)

// Noisy is the result of a noise verdict whose budget was exceeded.
const Noisy = "noisy"

// KindNoise is the kind of the verdicts on noise: a declared budget
// (noise: in the scenario) or --fail-on-noise.
const KindNoise = "noise"

// Attributions of an alert, from the ground truth.
const (
	ByAttacker = "attacker" // some event behind the alert came from an attacker's or insider's address
	ByStaff    = "staff"    // no attacker event; some event came from a staff member's address
	ByUnknown  = "unknown"  // no event behind the alert has a source the ground truth knows
)

// NoiseBudget is a scenario's noise: block, how many unexpected alerts
// the run may raise, overall and per rule.
type NoiseBudget struct {
	// MaxAlerts bounds the unexpected alerts of all rules together; -1:
	// no overall bound.
	MaxAlerts int
	Rules     []*RuleNoiseBudget
	line, col int
}

// RuleNoiseBudget bounds the unexpected alerts of the rules a name
// matches (id, name or title glob, as an expectation's rule:).
type RuleNoiseBudget struct {
	Rule      string
	MaxAlerts int
	line, col int
	rulePos   [2]int
}

// EventRef is the part of an audit event a report shows behind an
// alert.
type EventRef struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action,omitempty"`
	Outcome  string    `json:"outcome,omitempty"`
	User     string    `json:"user,omitempty"`
	SourceIP string    `json:"source_ip,omitempty"`
}

// RuleNoise is the unexpected alerts of one rule in a run.
type RuleNoise struct {
	RuleID   string
	Title    string
	Level    string
	Alerts   int // len(Items)
	Attacker int
	Staff    int
	Unknown  int
	Items    []NoiseAlert
}

// NoiseAlert is one unexpected alert.
type NoiseAlert struct {
	Time        time.Time
	Group       map[string]string
	Attribution string // ByAttacker, ByStaff or ByUnknown
	// Reason says why no expectation covers it.
	Reason   string
	EventIDs []string
}

// Noise lists, per rule, the alerts of the run that no expectation
// covers. An alert is covered when a fire expectation counts it: the
// expectation names its rule, its group: matches the alert's group, and
// the alert falls inside the expectation's window. Everything else is
// unexpected: the alerts of rules no expectation names, the alerts of an
// expected rule before or after its window or for another group, and
// every alert a must_not_fire expectation counts (a false positive).
// Each carries its attribution from the ground truth and the ids of the
// events that made it. Rules come by decreasing number of alerts, then
// title.
func Noise(sc *Scenario, res *Result) []RuleNoise {
	if res.attackerIPs == nil {
		res.sources()
	}
	_, covered := evaluate(sc, res)
	byRule := map[string]*RuleNoise{}
	var order []string
	for i, a := range res.Alerts {
		if covered[i] {
			continue
		}
		key := a.RuleID + "\x00" + a.Title
		rn := byRule[key]
		if rn == nil {
			rn = &RuleNoise{RuleID: a.RuleID, Title: a.Title, Level: a.Level}
			byRule[key] = rn
			order = append(order, key)
		}
		na := NoiseAlert{Time: a.Time, Group: a.Group, Attribution: res.attribution(a),
			Reason: noiseReason(sc, res, a), EventIDs: a.EventIDs}
		rn.Items = append(rn.Items, na)
		rn.Alerts++
		switch na.Attribution {
		case ByAttacker:
			rn.Attacker++
		case ByStaff:
			rn.Staff++
		default:
			rn.Unknown++
		}
	}
	out := make([]RuleNoise, 0, len(order))
	for _, k := range order {
		out = append(out, *byRule[k])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Alerts != out[j].Alerts {
			return out[i].Alerts > out[j].Alerts
		}
		return out[i].Title < out[j].Title
	})
	return out
}

// noiseReason says why no expectation covers alert a: a false positive
// a must_not_fire counts (in its period; with no rule named, not the
// attack's own), else an expected rule's alert outside its window or for
// another group, else a rule no expectation names.
func noiseReason(sc *Scenario, res *Result, a detectors.Alert) string {
	end := judgedEnd(sc, res)
	for _, e := range sc.Expect {
		if !e.NotFire || !ruleMatches(e.Rule, a) {
			continue
		}
		to := end
		if e.To > 0 {
			to = sc.Env.Start.Add(e.To)
		}
		if a.Time.Before(sc.Env.Start.Add(e.From)) || a.Time.After(to) || e.Rule == "*" && res.attackerCaused(a) {
			continue
		}
		return fmt.Sprintf("a false positive of the must_not_fire expectation at line %d", e.line)
	}
	for _, e := range sc.Expect {
		if !e.NotFire && ruleMatches(e.Rule, a) {
			if !groupMatches(e.Group, a) {
				return fmt.Sprintf("another group than the expectation at line %d", e.line)
			}
			return fmt.Sprintf("outside the window of the expectation at line %d", e.line)
		}
	}
	return "no expectation names this rule"
}

// attribution says who caused alert a, from the sources of its events.
func (res *Result) attribution(a detectors.Alert) string {
	staff := false
	for _, id := range a.EventIDs {
		ip, ok := res.events.Source(id)
		if !ok {
			continue
		}
		if res.attackerIPs[ip] {
			return ByAttacker
		}
		if res.staffIPs[ip] {
			staff = true
		}
	}
	if staff {
		return ByStaff
	}
	return ByUnknown
}

// Event is the kept part of the audit event id (false when the run did
// not keep it: an event it never saw, or a Recording without an EventTable).
func (res *Result) Event(id string) (EventRef, bool) {
	return res.events.Get(id)
}

// KeepEvents records audit events of the run (what a report shows behind
// an alert, and the source addresses that attribute it), for a Result
// built outside Run and Judge.
func (res *Result) KeepEvents(evs ...EventRef) {
	if res.events == nil {
		res.events = NewEventTable(res.RunID)
	}
	for _, e := range evs {
		res.events.Add(e)
	}
}

// noiseVerdicts judges the scenario's noise budgets over the alerts that
// no expectation covers.
func noiseVerdicts(sc *Scenario, res *Result, covered []bool, end time.Time) []Verdict {
	nb := sc.Noise
	if nb == nil {
		return nil
	}
	var out []Verdict
	total := 0
	for i := range res.Alerts {
		if !covered[i] {
			total++
		}
	}
	judge := func(rule string, line, n, max int, detail string) {
		v := Verdict{Rule: rule, Kind: KindNoise, Result: Met, WindowStart: sc.Env.Start, WindowEnd: end, Alerts: n, Line: line,
			Detail: fmt.Sprintf("%d unexpected alert(s)%s, at most %d allowed", n, detail, max)}
		if n > max {
			v.Result = Noisy
		}
		out = append(out, v)
	}
	if nb.MaxAlerts >= 0 {
		judge("*", nb.line, total, nb.MaxAlerts, "")
	}
	for _, rb := range nb.Rules {
		n := 0
		var first *time.Time
		for i, a := range res.Alerts {
			if !covered[i] && ruleMatches(rb.Rule, a) {
				n++
				if first == nil {
					t := a.Time
					first = &t
				}
			}
		}
		detail := ""
		if first != nil {
			detail = ", first at " + first.Format(time.RFC3339)
		}
		judge(rb.Rule, rb.line, n, rb.MaxAlerts, detail)
	}
	return out
}

// FailOnNoise makes every rule with unexpected alerts a failed noise
// verdict of res (maildrill test --fail-on-noise), unless a declared
// budget of that rule already failed. It returns the number of verdicts
// added.
func FailOnNoise(res *Result) int {
	added := 0
	for _, rn := range Noise(res.Scenario, res) {
		dup := false
		for _, v := range res.Verdicts {
			if v.Kind == KindNoise && v.Result == Noisy && (v.Rule == rn.Title || v.Rule == rn.RuleID) {
				dup = true
			}
		}
		if dup {
			continue
		}
		res.Verdicts = append(res.Verdicts, Verdict{Rule: rn.Title, Kind: KindNoise, Result: Noisy,
			WindowStart: res.Start, WindowEnd: res.End, Alerts: rn.Alerts,
			FirstAlert: &rn.Items[0].Time,
			Detail: fmt.Sprintf("--fail-on-noise: %d unexpected alert(s) (attacker %d, staff %d, unknown %d)",
				rn.Alerts, rn.Attacker, rn.Staff, rn.Unknown)})
		res.Failed = true
		added++
	}
	return added
}
