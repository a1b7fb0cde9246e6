package exercise

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maildrill/maildrill/scenarios"
)

// maxAnswer bounds a player's answer.
const maxAnswer = 4096

// dueTime is when an inject with a time condition is due: its at:, its
// step's start plus delay, or its no_alert deadline (zero when not known
// yet).
func (x *Exercise) dueTimeLocked(in *scenarios.Inject) time.Time {
	r := in.Release
	switch {
	case r.At != nil:
		return x.atTime(r.At)
	case r.After != "":
		if t, ok := x.steps[r.After]; ok {
			return t.Add(r.Delay)
		}
	case r.NoAlert != "":
		return x.atTime(r.By)
	}
	return time.Time{}
}

// atTime resolves an at: against the scenario start (a time of day: the
// first one at or after the start).
func (x *Exercise) atTime(at *scenarios.At) time.Time {
	return at.Next(x.sc.Env.Start, x.sc.Env.Start, x.loc())
}

// firstAlertLocked is the first alert of a rule, nil when none fired.
func (x *Exercise) firstAlertLocked(rule string) *alertRec {
	for i := range x.alerts {
		if scenarios.AlertMatches(rule, x.alerts[i].Alert) {
			return &x.alerts[i]
		}
	}
	return nil
}

// releaseDue releases every inject whose condition has come.
func (x *Exercise) releaseDue() {
	now := x.ctl.Clock().Now()
	var out []*releaseRec
	x.mu.Lock()
	for _, in := range x.sc.Injects {
		if _, ok := x.released[in.ID]; ok {
			continue
		}
		if _, ok := x.skipped[in.ID]; ok {
			continue
		}
		r := in.Release
		why := ""
		switch {
		case r.OnAlert != "":
			if a := x.firstAlertLocked(r.OnAlert); a != nil {
				why = fmt.Sprintf("alert %q fired", a.Alert.Title)
			}
		case r.NoAlert != "":
			if a := x.firstAlertLocked(r.NoAlert); a != nil {
				x.skipped[in.ID] = fmt.Sprintf("not released: %q fired at %s, before the deadline", a.Alert.Title, stamp(a.Alert.Time, x.loc()))
				continue
			}
			if due := x.dueTimeLocked(in); !now.Before(due) {
				why = fmt.Sprintf("no alert of %q by %s", r.NoAlert, stamp(due, x.loc()))
			}
		default:
			if due := x.dueTimeLocked(in); !due.IsZero() && !now.Before(due) {
				if r.After != "" {
					why = fmt.Sprintf("%s after step %s", r.Delay, r.After)
				} else {
					why = "scheduled time " + stamp(due, x.loc())
				}
			}
		}
		if why == "" {
			continue
		}
		rec := &releaseRec{N: len(x.released) + 1, Inject: in, At: now, Wall: time.Now(), Why: why}
		x.released[in.ID] = rec
		out = append(out, rec)
	}
	x.mu.Unlock()
	for _, rec := range out {
		x.publishInject(rec)
	}
}

func (x *Exercise) publishInject(rec *releaseRec) {
	in := rec.Inject
	si := socInject{N: rec.N, Time: stamp(rec.At, x.loc()), Title: in.Title, Text: in.Text, Questions: []socQuestion{}}
	var fq []map[string]any
	for _, q := range in.Questions {
		si.Questions = append(si.Questions, socQuestion{ID: q.ID, Text: q.Text, Choices: q.Choices})
		fq = append(fq, map[string]any{"id": q.ID, "text": q.Text, "choices": q.Choices, "expected": q.Answer})
	}
	x.soc.publish("inject", si)
	x.fac.publish("inject", map[string]any{"n": rec.N, "id": in.ID, "t": si.Time, "title": in.Title, "text": in.Text, "why": rec.Why, "questions": fq})
}

// upcoming lists the injects not released yet, with their condition and
// due time when known.
func (x *Exercise) upcoming(now time.Time) []map[string]any {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []map[string]any
	for _, in := range x.sc.Injects {
		if _, ok := x.released[in.ID]; ok {
			continue
		}
		item := map[string]any{"id": in.ID, "title": in.Title, "when": releaseText(in.Release)}
		if why, ok := x.skipped[in.ID]; ok {
			item["skipped"] = why
		}
		if due := x.dueTimeLocked(in); !due.IsZero() {
			item["due"] = stamp(due, x.loc())
		}
		out = append(out, item)
	}
	return out
}

func releaseText(r scenarios.Release) string {
	switch {
	case r.At != nil && r.At.IsClock:
		return fmt.Sprintf("at %02d:%02d", int(r.At.TimeOfDay.Hours()), int(r.At.TimeOfDay.Minutes())%60)
	case r.At != nil:
		return "at +" + r.At.Offset.String()
	case r.After != "":
		if r.Delay > 0 {
			return fmt.Sprintf("%s after step %s starts", r.Delay, r.After)
		}
		return "when step " + r.After + " starts"
	case r.OnAlert != "":
		return "when " + r.OnAlert + " fires"
	case r.NoAlert != "":
		return "if " + r.NoAlert + " has not fired by then"
	}
	return ""
}

// answer records a player's answer to a released inject's question.
func (x *Exercise) answer(n int, question, text string) (socReceipt, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return socReceipt{}, fmt.Errorf("empty answer")
	}
	if len(text) > maxAnswer || !utf8.ValidString(text) {
		return socReceipt{}, fmt.Errorf("answer: at most %d bytes of UTF-8 text", maxAnswer)
	}
	now, wall := x.ctl.Clock().Now(), time.Now()
	x.mu.Lock()
	var rec *releaseRec
	for _, r := range x.released {
		if r.N == n {
			rec = r
		}
	}
	if rec == nil {
		x.mu.Unlock()
		return socReceipt{}, fmt.Errorf("inject %d has not been released", n)
	}
	var q *scenarios.Question
	for _, c := range rec.Inject.Questions {
		if c.ID == question {
			q = c
		}
	}
	if q == nil {
		x.mu.Unlock()
		return socReceipt{}, fmt.Errorf("inject %d has no question %q", n, question)
	}
	if len(q.Choices) > 0 && !slices.Contains(q.Choices, text) {
		x.mu.Unlock()
		return socReceipt{}, fmt.Errorf("answer %q is not one of the choices", text)
	}
	correct := ""
	if q.Answer != "" {
		correct = "no"
		if strings.EqualFold(strings.TrimSpace(q.Answer), text) {
			correct = "yes"
		}
	}
	a := answerRec{Inject: rec.Inject.ID, Question: q.ID, Answer: text, Correct: correct, At: now, Wall: wall, After: wall.Sub(rec.Wall)}
	x.answers = append(x.answers, a)
	x.mu.Unlock()
	x.fac.publish("answer", map[string]any{"inject": rec.Inject.ID, "title": rec.Inject.Title, "n": n, "question": q.Text, "answer": text, "correct": correct,
		"t": stamp(now, x.loc()), "after": roundDur(a.After)})
	r := socReceipt{Kind: "answer", Inject: n, Question: q.ID, Answer: text, Time: stamp(now, x.loc())}
	x.soc.publish("receipt", r)
	return r, nil
}

// ack records that the players took an alert up.
func (x *Exercise) ack(n int) (socReceipt, error) {
	now, wall := x.ctl.Clock().Now(), time.Now()
	x.mu.Lock()
	if n < 1 || n > len(x.alerts) {
		x.mu.Unlock()
		return socReceipt{}, fmt.Errorf("no alert %d", n)
	}
	for _, a := range x.acks {
		if a.Alert == n {
			x.mu.Unlock()
			return socReceipt{}, fmt.Errorf("alert %d is already taken up", n)
		}
	}
	al := x.alerts[n-1]
	a := ackRec{Alert: n, At: now, Wall: wall, After: wall.Sub(al.Wall)}
	x.acks = append(x.acks, a)
	x.mu.Unlock()
	x.fac.publish("ack", map[string]any{"n": n, "title": al.Alert.Title, "t": stamp(now, x.loc()), "after": roundDur(a.After)})
	r := socReceipt{Kind: "ack", Alert: n, Time: stamp(now, x.loc())}
	x.soc.publish("receipt", r)
	return r, nil
}
