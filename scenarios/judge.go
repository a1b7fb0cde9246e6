package scenarios

import (
	"sort"
	"time"

	"github.com/maildrill/maildrill/detectors"
)

// Recording is a run recorded to disk: its ground truth and the alerts
// raised over its audit events (by the built-in engine on replay, or by
// an outside system).
type Recording struct {
	RunID  string
	Truth  []TruthRecord
	Alerts []detectors.Alert
	// EventSources maps audit event ids to their source address, so that
	// "no rule fires on benign activity" can leave out the attack's own
	// alerts, as in a live run.
	EventSources map[string]string
	// EventRefs keeps what a report shows of each audit event behind an
	// alert (optional; without it a report lists the event by its id).
	EventRefs map[string]EventRef
	Events    int
	// End is when the run ended; zero: its last action or alert.
	End time.Time
}

// Judge rebuilds the Result of a recorded run and judges the scenario's
// expectations over it, as Run does at the end of a live run. Step spans
// are rebuilt from the truth records' step fields: a step runs from its
// first recorded action to its last.
func Judge(sc *Scenario, rec Recording) *Result {
	res := &Result{Scenario: sc, RunID: rec.RunID, Start: sc.Env.Start, End: sc.Env.Start,
		Truth: rec.Truth, Spans: map[string]Span{}, Alerts: append([]detectors.Alert(nil), rec.Alerts...),
		Events: rec.Events, eventSrc: rec.EventSources, events: rec.EventRefs}
	if res.eventSrc == nil {
		res.eventSrc = map[string]string{}
	}
	res.sources()
	for _, t := range rec.Truth {
		if res.RunID == "" {
			res.RunID = t.RunID
		}
		if t.Time.After(res.End) {
			res.End = t.Time
		}
		if t.Action != "" {
			res.Actions++
		}
		if t.Step == "" {
			continue
		}
		s, ok := res.Spans[t.Step]
		if !ok || t.Time.Before(s.Start) {
			s.Start = t.Time
		}
		if !ok || t.Time.After(s.End) {
			s.End = t.Time
		}
		s.Actor = t.Actor
		res.Spans[t.Step] = s
	}
	for _, a := range rec.Alerts {
		if a.Time.After(res.End) {
			res.End = a.Time
		}
	}
	if !rec.End.IsZero() {
		res.End = rec.End
	}
	if end := sc.Env.Start.Add(sc.Env.Duration); res.End.After(end) {
		res.End = end
	}
	sort.SliceStable(res.Alerts, func(i, j int) bool { return res.Alerts[i].Time.Before(res.Alerts[j].Time) })
	res.Verdicts = Evaluate(sc, res)
	for _, v := range res.Verdicts {
		if !v.OK() {
			res.Failed = true
		}
	}
	return res
}
