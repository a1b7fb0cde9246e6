// Package report turns scenario runs into reports: a JSON document with a
// versioned, documented schema (maildrill.report/v2), JUnit XML for CI
// systems, a self-contained HTML timeline for analysts and trainers, and an
// ATT&CK Navigator layer. Every format is rendered from the same Report.
package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/scenarios"
)

// SchemaV2 names the JSON report format written; it changes only with an
// incompatible change (fields may be added within v2). Against v1 it adds
// the noise (unexpected alerts, per rule, with the events behind them),
// the noise verdicts (kind "noise", result "noisy") and what reproduces a
// run (tool version and commit, scenario hash, seed, target, rule pack
// hash).
const SchemaV2 = "maildrill.report/v2"

// SchemaV1 names the previous format, which ReadJSON still reads.
const SchemaV1 = "maildrill.report/v1"

// SchemaJSON is the JSON Schema (draft 2020-12) of SchemaV2.
//
//go:embed report-v2.schema.json
var SchemaJSON []byte

// SchemaV1JSON is the JSON Schema of SchemaV1, for reports written before
// v2.
//
//go:embed report-v1.schema.json
var SchemaV1JSON []byte

// MaxEventsPerAlert bounds the events a report carries behind one
// unexpected alert (their ids are all listed).
const MaxEventsPerAlert = 50

// Options are what a report says beyond the runs.
type Options struct {
	// Generated is when the report is written (wall time).
	Generated time.Time
	// Version and Commit are the maildrill build that ran ("" unknown).
	Version, Commit string
}

// Run is one scenario run, the input of Build.
type Run struct {
	// Scenario is the scenario run; taken from Result when nil.
	Scenario *scenarios.Scenario
	// Result is what the run produced (nil when it could not start).
	Result *scenarios.Result
	// Err is the error the run stopped with, if any.
	Err error
	// Speed is the Options.Speed the run was given (0: the scenario's own
	// clock).
	Speed float64
	// EventTimes are the audit events' timestamps, for the events-per-minute
	// histogram (optional).
	EventTimes []time.Time
}

// Report is the JSON document (schema maildrill.report/v2).
type Report struct {
	Schema      string     `json:"schema"`
	Generated   time.Time  `json:"generated_at"`
	Tool        string     `json:"tool"`
	ToolVersion string     `json:"tool_version"`
	ToolCommit  string     `json:"tool_commit"`
	Passed      bool       `json:"passed"`
	Summary     Summary    `json:"summary"`
	Scenarios   []Scenario `json:"scenarios"`
	// SyslogTo accounts for the audit trail streamed to a network syslog
	// receiver (--syslog-to), when it was.
	SyslogTo *Delivery `json:"syslog_to,omitempty"`
}

// Delivery is what became of the mail-log lines sent to a network syslog
// receiver: Sent = Delivered + Lost.
type Delivery struct {
	Endpoint  string `json:"endpoint"`
	Sent      int64  `json:"sent"`
	Delivered int64  `json:"delivered"`
	Lost      int64  `json:"lost"`
	// The losses by reason: dropped from the full buffer while the
	// receiver was slow or away, still buffered when sending stopped, too
	// large for a UDP datagram.
	LostBufferFull int64  `json:"lost_buffer_full"`
	LostUnsent     int64  `json:"lost_unsent"`
	LostTooLarge   int64  `json:"lost_too_large"`
	Connections    int    `json:"connections"`
	LastError      string `json:"last_error,omitempty"`
}

// Summary counts over the whole report.
type Summary struct {
	Scenarios    int            `json:"scenarios"`
	Expectations int            `json:"expectations"`
	Passed       int            `json:"passed"`  // expectations met
	Failed       int            `json:"failed"`  // expectations not met
	Errors       int            `json:"errors"`  // scenarios whose run stopped on an error
	Results      map[string]int `json:"results"` // expectations per result
	// Unexpected counts the alerts no expectation covers, over all
	// scenarios.
	Unexpected int `json:"unexpected_alerts"`
}

// Scenario is one scenario's run.
type Scenario struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	File        string    `json:"file,omitempty"`
	Description string    `json:"description,omitempty"`
	Narrative   string    `json:"narrative,omitempty"`
	Attack      []string  `json:"attack"`
	RunID       string    `json:"run_id,omitempty"`
	Passed      bool      `json:"passed"`
	Error       string    `json:"error,omitempty"`
	Clock       string    `json:"clock"`
	Speed       float64   `json:"speed,omitempty"`
	Timezone    string    `json:"timezone,omitempty"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	WallMS      int64     `json:"wall_ms"`
	// What reproduces the run: the scenario file's sha256, the corpus
	// seed, the target, and the sha256 of the rules that judged it.
	ScenarioSHA256 string     `json:"scenario_sha256,omitempty"`
	Seed           int64      `json:"seed"`
	Target         string     `json:"target,omitempty"`
	RulesSHA256    string     `json:"rules_sha256,omitempty"`
	Actions        int        `json:"actions"`
	Events         int        `json:"events"`
	Actors         []Actor    `json:"actors"`
	Steps          []Step     `json:"steps"`
	Verdicts       []Verdict  `json:"verdicts"`
	Alerts         []Alert    `json:"alerts"`
	Noise          []Noise    `json:"noise"`
	Activity       *Activity  `json:"activity,omitempty"`
	Pace           *Pace      `json:"pace,omitempty"`
	Techniques     []Coverage `json:"techniques"`
}

// Pace is how a run on a scaled or real clock kept to its schedule
// (scenarios.Pace).
type Pace struct {
	Behind      bool       `json:"behind"`
	Timed       int        `json:"timed_actions"`
	Late        int        `json:"late_actions"`
	ToleranceMS int64      `json:"tolerance_ms"`
	MaxLagMS    int64      `json:"max_lag_ms"`
	MaxLagActor string     `json:"max_lag_actor,omitempty"`
	MaxLagDue   *time.Time `json:"max_lag_due,omitempty"`
}

// Actor is an actor of the run with its number of recorded actions; staff
// members are summed under their population's id.
type Actor struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Actions int    `json:"actions"`
}

// Step is an identified step and when it ran.
type Step struct {
	ID    string    `json:"id"`
	Actor string    `json:"actor"`
	Kind  string    `json:"kind,omitempty"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Verdict is an expectation's verdict.
type Verdict struct {
	Rule        string     `json:"rule"`
	Kind        string     `json:"kind"`
	Result      string     `json:"result"`
	Passed      bool       `json:"passed"`
	Anchor      string     `json:"anchor,omitempty"`
	WindowStart time.Time  `json:"window_start"`
	WindowEnd   time.Time  `json:"window_end"`
	Alerts      int        `json:"alerts"`
	FirstAlert  *time.Time `json:"first_alert,omitempty"`
	TTDMS       *int64     `json:"time_to_detect_ms,omitempty"`
	TTDWallMS   *int64     `json:"time_to_detect_wall_ms,omitempty"`
	Detail      string     `json:"detail,omitempty"`
	Line        int        `json:"line"`
	// Telemetry is the run's telemetry on an expectation with blind_on
	// (a blind verdict: the telemetry that cannot see the technique).
	Telemetry string `json:"telemetry,omitempty"`
	// DerivedBy names the rules derived from the one expected whose
	// alerts the verdict counted.
	DerivedBy []string `json:"derived_by,omitempty"`
}

// Alert is an alert raised during the run.
type Alert struct {
	RuleID     string            `json:"rule_id"`
	Title      string            `json:"title"`
	Level      string            `json:"level,omitempty"`
	Type       string            `json:"type,omitempty"`
	Time       time.Time         `json:"time"`
	Group      map[string]string `json:"group"`
	Techniques []string          `json:"techniques"`
	Events     int               `json:"events"`
}

// Noise is the unexpected alerts of one rule: those no fire expectation
// covers (scenarios.Noise), with who caused them.
type Noise struct {
	RuleID   string       `json:"rule_id"`
	Title    string       `json:"title"`
	Level    string       `json:"level,omitempty"`
	Alerts   int          `json:"alerts"`
	Attacker int          `json:"attacker"`
	Staff    int          `json:"staff"`
	Unknown  int          `json:"unknown"`
	Items    []NoiseAlert `json:"items"`
}

// NoiseAlert is one unexpected alert and the events behind it.
type NoiseAlert struct {
	Time        time.Time         `json:"time"`
	Group       map[string]string `json:"group"`
	Attribution string            `json:"attribution"`
	Reason      string            `json:"reason"`
	EventIDs    []string          `json:"event_ids"`
	// Events are the first MaxEventsPerAlert events of EventIDs the run
	// kept; EventsOmitted counts the rest.
	Events        []Event `json:"events"`
	EventsOmitted int     `json:"events_omitted,omitempty"`
}

// Event is an audit event behind an unexpected alert.
type Event struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action,omitempty"`
	Outcome  string    `json:"outcome,omitempty"`
	User     string    `json:"user,omitempty"`
	SourceIP string    `json:"source_ip,omitempty"`
}

// Activity is the run's activity in fixed time buckets from Start.
type Activity struct {
	Start         time.Time        `json:"start"`
	BucketSeconds int              `json:"bucket_seconds"`
	Events        []int            `json:"events"` // audit events (empty when not recorded)
	Staff         []int            `json:"staff"`  // staff actions
	Actors        map[string][]int `json:"actors"` // attacker and insider actions, by actor
}

// Coverage says whether an ATT&CK technique the scenario exercises was
// detected: some alert of the run is tagged with it (or with its parent
// technique or one of its sub-techniques).
type Coverage struct {
	Technique string   `json:"technique"`
	Detected  bool     `json:"detected"`
	Rules     []string `json:"rules"` // titles of the alerting rules tagged with it
}

// Build assembles the report of a suite of runs.
func Build(runs []Run, generated time.Time) *Report {
	return BuildWith(runs, Options{Generated: generated})
}

// BuildWith is Build with the tool's version and commit.
func BuildWith(runs []Run, opts Options) *Report {
	rep := &Report{Schema: SchemaV2, Generated: opts.Generated.UTC(), Tool: "maildrill", Passed: true,
		ToolVersion: opts.Version, ToolCommit: opts.Commit,
		Summary: Summary{Results: map[string]int{}}, Scenarios: []Scenario{}}
	if rep.ToolVersion == "" {
		rep.ToolVersion = "unknown"
	}
	if rep.ToolCommit == "" {
		rep.ToolCommit = "unknown"
	}
	for _, r := range runs {
		s := buildScenario(r)
		for _, n := range s.Noise {
			rep.Summary.Unexpected += n.Alerts
		}
		rep.Scenarios = append(rep.Scenarios, s)
		rep.Summary.Scenarios++
		if s.Error != "" {
			rep.Summary.Errors++
		}
		if !s.Passed {
			rep.Passed = false
		}
		for _, v := range s.Verdicts {
			rep.Summary.Expectations++
			rep.Summary.Results[v.Result]++
			if v.Passed {
				rep.Summary.Passed++
			} else {
				rep.Summary.Failed++
			}
		}
	}
	return rep
}

func buildScenario(r Run) Scenario {
	sc := r.Scenario
	res := r.Result
	if sc == nil && res != nil {
		sc = res.Scenario
	}
	s := Scenario{Attack: []string{}, Actors: []Actor{}, Steps: []Step{}, Verdicts: []Verdict{}, Alerts: []Alert{}, Noise: []Noise{}, Techniques: []Coverage{}}
	if sc != nil {
		s.ID, s.Title, s.File, s.Description, s.Narrative = sc.ID, sc.Title, sc.File, sc.Description, sc.Narrative
		s.ScenarioSHA256, s.Seed, s.Target = sc.SHA256, sc.Env.Seed, sc.Env.Target
		s.Attack = append(s.Attack, sc.Attack...)
		s.Clock = sc.Env.Clock
		if s.Clock == "scaled" {
			s.Speed = sc.Env.Speed
		}
		if sc.Env.Location != nil {
			s.Timezone = sc.Env.Location.String()
		}
		s.Start = sc.Env.Start
		s.End = sc.Env.Start.Add(sc.Env.Duration)
	}
	if r.Err != nil {
		s.Error = r.Err.Error()
	}
	if res == nil {
		s.Passed = false
		if s.Error == "" {
			s.Error = "the scenario did not run"
		}
		if !control(sc) {
			s.Techniques = coverage(s.Attack, nil)
		}
		return s
	}
	s.RunID = res.RunID
	if res.Seed != 0 {
		s.Seed = res.Seed
	}
	if res.Target != "" {
		s.Target = res.Target
	}
	s.RulesSHA256 = res.RulesSHA256
	s.Start, s.End = res.Start, res.End
	s.WallMS = res.Wall.Milliseconds()
	s.Actions, s.Events = res.Actions, res.Events
	s.Passed = !res.Failed && r.Err == nil
	if r.Speed > 0 { // Options.Speed put the run on a scaled clock
		s.Clock, s.Speed = "scaled", r.Speed
	}
	if s.Clock == "scaled" && s.Speed == 1 {
		s.Clock = "real"
	}

	// Actors, in scenario order, with their action counts.
	counts := map[string]int{}
	for _, t := range res.Truth {
		if t.Action != "" {
			counts[actorOf(t)]++
		}
	}
	if sc != nil {
		for _, a := range sc.Actors {
			s.Actors = append(s.Actors, Actor{ID: a.ID, Kind: a.Kind, Actions: counts[a.ID]})
		}
	}

	// Steps with an id, in time order.
	kinds := map[string]string{}
	for _, t := range res.Truth {
		if t.Step != "" && kinds[t.Step] == "" {
			kinds[t.Step] = t.StepKind
		}
	}
	for id, sp := range res.Spans {
		s.Steps = append(s.Steps, Step{ID: id, Actor: sp.Actor, Kind: kinds[id], Start: sp.Start, End: sp.End})
	}
	sort.Slice(s.Steps, func(i, j int) bool {
		if !s.Steps[i].Start.Equal(s.Steps[j].Start) {
			return s.Steps[i].Start.Before(s.Steps[j].Start)
		}
		return s.Steps[i].ID < s.Steps[j].ID
	})

	for _, v := range res.Verdicts {
		s.Verdicts = append(s.Verdicts, verdict(v, s.Clock, s.Speed))
	}
	for _, a := range res.Alerts {
		s.Alerts = append(s.Alerts, alert(a))
	}
	if sc != nil {
		s.Noise = noise(sc, res)
	}
	s.Activity = activity(res, r.EventTimes)
	if p := res.Pace; p != nil {
		s.Pace = &Pace{Behind: p.Behind(), Timed: p.Timed, Late: p.Late, ToleranceMS: scenarios.LateTolerance.Milliseconds(),
			MaxLagMS: max(p.MaxLag, 0).Milliseconds(), MaxLagActor: p.MaxLagActor}
		if !p.MaxLagDue.IsZero() {
			due := p.MaxLagDue
			s.Pace.MaxLagDue = &due
		}
	}
	if !control(sc) {
		s.Techniques = coverage(s.Attack, res.Alerts)
	}
	s.inZone(sc)
	return s
}

// inZone writes every time of the scenario in one zone, the scenario's
// (its timezone, else its start's offset): the engine stamps correlation
// alerts in UTC and detection alerts with their event's offset, and a
// report that mixes them misleads whoever reads it.
func (s *Scenario) inZone(sc *scenarios.Scenario) {
	var loc *time.Location
	switch {
	case sc != nil && sc.Env.Location != nil:
		loc = sc.Env.Location
	case sc != nil && !sc.Env.Start.IsZero():
		loc = sc.Env.Start.Location()
	default:
		return
	}
	in := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.In(loc)
		}
	}
	in(&s.Start)
	in(&s.End)
	for i := range s.Steps {
		in(&s.Steps[i].Start)
		in(&s.Steps[i].End)
	}
	for i := range s.Verdicts {
		v := &s.Verdicts[i]
		in(&v.WindowStart)
		in(&v.WindowEnd)
		if v.FirstAlert != nil {
			in(v.FirstAlert)
		}
	}
	for i := range s.Alerts {
		in(&s.Alerts[i].Time)
	}
	for i := range s.Noise {
		for j := range s.Noise[i].Items {
			it := &s.Noise[i].Items[j]
			in(&it.Time)
			for k := range it.Events {
				in(&it.Events[k].Time)
			}
		}
	}
	if s.Activity != nil {
		in(&s.Activity.Start)
	}
	if s.Pace != nil && s.Pace.MaxLagDue != nil {
		in(s.Pace.MaxLagDue)
	}
}

// control tells a control scenario: no attacker and no insider, only the
// benign background. Its ATT&CK tags say what it guards against false
// positives for; nothing is attacked, so no technique is detected or
// missed (the HTML report and the Navigator layer leave it out).
func control(sc *scenarios.Scenario) bool {
	if sc == nil {
		return false
	}
	for _, a := range sc.Actors {
		if a.Kind == "attacker" || a.Kind == "insider" {
			return false
		}
	}
	return true
}

// actorOf is the actor a truth record belongs to: a staff member counts
// under its population (staff/alice → staff).
func actorOf(t scenarios.TruthRecord) string {
	if t.Role == "staff" {
		if i := strings.IndexByte(t.Actor, '/'); i > 0 {
			return t.Actor[:i]
		}
	}
	return t.Actor
}

func verdict(v scenarios.Verdict, clock string, speed float64) Verdict {
	out := Verdict{Rule: v.Rule, Kind: v.Kind, Result: v.Result, Passed: v.OK(), Anchor: v.Anchor,
		WindowStart: v.WindowStart, WindowEnd: v.WindowEnd, Alerts: v.Alerts, Detail: v.Detail, Line: v.Line,
		Telemetry: v.Telemetry, DerivedBy: v.DerivedBy}
	if v.FirstAlert != nil {
		t := *v.FirstAlert
		out.FirstAlert = &t
		if v.Kind == "fire" {
			ms := v.TTD.Milliseconds()
			out.TTDMS = &ms
			switch clock {
			case "real":
				out.TTDWallMS = &ms
			case "scaled":
				if speed > 0 {
					w := int64(float64(ms) / speed)
					out.TTDWallMS = &w
				}
			}
		}
	}
	return out
}

func alert(a detectors.Alert) Alert {
	out := Alert{RuleID: a.RuleID, Title: a.Title, Level: a.Level, Type: a.Type, Time: a.Time,
		Group: map[string]string{}, Techniques: techniques(a.Attack), Events: len(a.EventIDs)}
	for k, v := range a.Group {
		out.Group[k] = v
	}
	return out
}

// noise is the run's unexpected alerts with the events behind them.
func noise(sc *scenarios.Scenario, res *scenarios.Result) []Noise {
	out := []Noise{}
	for _, rn := range scenarios.Noise(sc, res) {
		n := Noise{RuleID: rn.RuleID, Title: rn.Title, Level: rn.Level, Alerts: rn.Alerts,
			Attacker: rn.Attacker, Staff: rn.Staff, Unknown: rn.Unknown, Items: []NoiseAlert{}}
		for _, it := range rn.Items {
			na := NoiseAlert{Time: it.Time, Group: map[string]string{}, Attribution: it.Attribution, Reason: it.Reason,
				EventIDs: append([]string{}, it.EventIDs...), Events: []Event{}}
			for k, v := range it.Group {
				na.Group[k] = v
			}
			for _, id := range it.EventIDs {
				e, ok := res.Event(id)
				if !ok {
					continue
				}
				if len(na.Events) == MaxEventsPerAlert {
					na.EventsOmitted++
					continue
				}
				na.Events = append(na.Events, Event(e))
			}
			n.Items = append(n.Items, na)
		}
		out = append(out, n)
	}
	return out
}

var techRe = regexp.MustCompile(`^attack\.(t\d{4}(\.\d{3})?)$`)

// techniques turns Sigma attack.* tags into technique ids (T1110.003).
func techniques(tags []string) []string {
	out := []string{}
	for _, t := range tags {
		if m := techRe.FindStringSubmatch(strings.ToLower(t)); m != nil {
			out = append(out, strings.ToUpper(m[1]))
		}
	}
	return out
}

// related reports whether two technique ids are the same technique, or a
// technique and one of its sub-techniques.
func related(a, b string) bool {
	if a == b {
		return true
	}
	pa, _, _ := strings.Cut(a, ".")
	pb, _, _ := strings.Cut(b, ".")
	return (pa == b || pb == a) && pa == pb
}

func coverage(attack []string, alerts []detectors.Alert) []Coverage {
	out := []Coverage{}
	for _, t := range attack {
		c := Coverage{Technique: t, Rules: []string{}}
		seen := map[string]bool{}
		for _, a := range alerts {
			for _, at := range techniques(a.Attack) {
				if related(t, at) && !seen[a.Title] {
					seen[a.Title] = true
					c.Rules = append(c.Rules, a.Title)
				}
			}
		}
		sort.Strings(c.Rules)
		c.Detected = len(c.Rules) > 0
		out = append(out, c)
	}
	return out
}

// activity buckets the run: one minute per bucket up to a day of scenario
// time, wider beyond, so that there are at most 1440 buckets.
func activity(res *scenarios.Result, events []time.Time) *Activity {
	start, end := res.Start, res.End
	for _, t := range res.Truth {
		if t.Time.After(end) {
			end = t.Time
		}
	}
	for _, a := range res.Alerts {
		if a.Time.After(end) {
			end = a.Time
		}
	}
	if !end.After(start) {
		return nil
	}
	bucket := time.Minute
	if d := end.Sub(start); d > 1440*time.Minute {
		bucket = (d/1440 + time.Minute - 1).Truncate(time.Minute)
	}
	n := int(end.Sub(start)/bucket) + 1
	act := &Activity{Start: start, BucketSeconds: int(bucket / time.Second), Events: []int{}, Staff: make([]int, n), Actors: map[string][]int{}}
	idx := func(t time.Time) int {
		i := int(t.Sub(start) / bucket)
		if i < 0 || i >= n {
			return -1
		}
		return i
	}
	if len(events) > 0 {
		act.Events = make([]int, n)
		for _, t := range events {
			if i := idx(t); i >= 0 {
				act.Events[i]++
			}
		}
	}
	for _, t := range res.Truth {
		i := idx(t.Time)
		if i < 0 || t.Action == "" {
			continue
		}
		if t.Role == "staff" {
			act.Staff[i]++
			continue
		}
		c := act.Actors[t.Actor]
		if c == nil {
			c = make([]int, n)
			act.Actors[t.Actor] = c
		}
		c[i]++
	}
	return act
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("writing the JSON report: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by WriteJSON (v2, or v1 from an older
// maildrill), refusing other schemas.
func ReadJSON(r io.Reader) (*Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("reading the JSON report: %w", err)
	}
	if rep.Schema != SchemaV2 && rep.Schema != SchemaV1 {
		return nil, fmt.Errorf("reading the JSON report: schema %q, want %q (or %q)", rep.Schema, SchemaV2, SchemaV1)
	}
	return &rep, nil
}
