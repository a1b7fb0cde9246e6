package scenarios

import (
	"context"
	"sort"
	"time"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/alertsrc"
)

// Recording is what a run produced, live or read back from its logs: its
// ground truth, the audit events behind its alerts, the alerts raised
// over them (by the rule engine, and by an outside system), and what the
// run was (Header). Judge turns it into verdicts.
type Recording struct {
	RunID string
	// Header says what the run was: scenario and its hash, seed, target,
	// version, rule pack hash (zero for a recording without a header).
	Header RecordingHeader
	Truth  []TruthRecord
	Alerts []detectors.Alert
	// EventTable keeps the run's audit events by id: their source
	// addresses, so that "no rule fires on benign activity" can leave out
	// the attack's own alerts, as in a live run, and what a report shows
	// of each event behind an alert (optional; without it no alert is
	// attributed, and a report lists events by their ids).
	EventTable *EventTable
	Events     int
	// EventTimes are the audit events' times, in order (optional: for the
	// report's events per minute).
	EventTimes []time.Time
	// Spans are when each step ran, as the runner measured them; nil:
	// rebuilt from the truth records' step fields, a step running from
	// its first recorded action to its last.
	Spans map[string]Span
	// End is when the run ended; zero: its last action or alert, bounded
	// by the scenario's duration.
	End time.Time
	// Wall is the wall time the run took.
	Wall time.Duration
	// Pace is how the run kept to a wall clock (nil: virtual, or unknown).
	Pace *Pace
}

// Judge is where verdicts are made: it builds the Result of a run from
// its recording and judges the scenario's expectations and noise budgets
// over it. A live run (Run), a replayed recording (Replay) and a run
// judged again with outside alerts (JudgeOutside) all come here.
func Judge(sc *Scenario, rec Recording) *Result {
	res := &Result{Scenario: sc, RunID: rec.RunID, Start: sc.Env.Start, End: sc.Env.Start, Wall: rec.Wall,
		Truth: rec.Truth, Spans: rec.Spans, Alerts: append([]detectors.Alert(nil), rec.Alerts...),
		Events: rec.Events, EventTimes: rec.EventTimes, events: rec.EventTable,
		Seed: rec.Header.Seed, Target: rec.Header.Target, RulesSHA256: rec.Header.RulesSHA256, header: rec.Header,
		Pace: rec.Pace}
	res.sources()
	rebuild := res.Spans == nil
	if rebuild {
		res.Spans = map[string]Span{}
	}
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
		if t.Step == "" || !rebuild {
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
	if rec.End.IsZero() {
		for _, a := range rec.Alerts {
			if a.Time.After(res.End) {
				res.End = a.Time
			}
		}
		if end := sc.Env.Start.Add(sc.Env.Duration); res.End.After(end) {
			res.End = end
		}
	} else {
		res.End = rec.End
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

// Recording gives back the recording res was judged from.
func (res *Result) Recording() Recording {
	return Recording{RunID: res.RunID, Header: res.header, Truth: res.Truth, Alerts: res.Alerts,
		EventTable: res.events, Events: res.Events, EventTimes: res.EventTimes,
		Spans: res.Spans, End: res.End, Wall: res.Wall, Pace: res.Pace}
}

// JudgeOutside waits for the run's outside alerts from srcs (until every
// expectation to fire is met, or wait has passed; 0: asks once, without
// waiting), adds them to the alerts res was judged with and judges the
// run again, in place.
func JudgeOutside(ctx context.Context, res *Result, srcs []alertsrc.Source, wait time.Duration) error {
	base := res.Recording()
	with := func(extra []detectors.Alert) *Result {
		rec := base
		rec.Alerts = append(append([]detectors.Alert(nil), base.Alerts...), extra...)
		return Judge(res.Scenario, rec)
	}
	o := alertsrc.PollOptions{Deadline: wait}
	if wait <= 0 {
		// One poll, bounded as a default wait would be (a command that
		// hangs): --alerts-wait 0 used to wait the default 30 s.
		o = alertsrc.PollOptions{Once: true}
	}
	o.Done = func(as []detectors.Alert) bool {
		for _, v := range with(as).Verdicts {
			if v.Kind == "fire" && !v.OK() {
				return false
			}
		}
		return true
	}
	alerts, err := alertsrc.Poll(ctx, srcs, o)
	*res = *with(alerts)
	return err
}
