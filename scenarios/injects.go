package scenarios

import (
	"fmt"
	"slices"
	"time"

	"github.com/maildrill/maildrill/detectors"
)

// Inject is a piece of an exercise's story handed to the players while the
// scenario runs: narrative text, questions, and when it is released. A run
// outside an exercise (run, test) ignores injects; their references
// (steps, rules) are still checked.
type Inject struct {
	ID        string
	Title     string
	Text      string
	Release   Release
	Questions []*Question
	line, col int
	// where the release names a step or a rule, for the errors of
	// crossCheck and Resolve
	stepAt  *ynode
	rulePos [2]int
}

// Release says when an inject reaches the players: exactly one of At,
// After (then Delay), OnAlert or NoAlert (then By).
type Release struct {
	At      *At           // at a scenario time
	After   string        // after this step starts ...
	Delay   time.Duration // ... and this much later
	OnAlert string        // when a rule (id, name or title glob) first fires
	NoAlert string        // when a rule has not fired by By
	By      *At
}

// Question is one question of an inject: free text, or multiple choice
// when Choices are given. Answer, when set, is the expected answer (one
// of the choices for a multiple-choice question); the facilitator sees
// it, the players never do.
type Question struct {
	ID      string
	Text    string
	Choices []string
	Answer  string
}

// Line is where the inject is written.
func (i *Inject) Line() int { return i.line }

func (d *decoder) injects(n *ynode) []*Inject {
	if n.kind == nNull {
		return nil
	}
	if n.kind != nSeq {
		d.errf(n, "e.g. injects: [{id: press, text: ..., release: {at: \"01:30\"}}]", "injects must be a list")
		return nil
	}
	var out []*Inject
	ids := map[string]bool{}
	for _, it := range n.items {
		get, ok := d.fields(it, "an inject", "id", "title", "text", "release", "questions")
		if !ok {
			continue
		}
		in := &Inject{line: it.line, col: it.col}
		v, ok := get("id")
		in.ID = d.str(v, "inject id")
		switch {
		case !ok:
			d.errf(it, "add e.g. id: press-call", "inject without id")
		case !idRe.MatchString(in.ID):
			d.errf(v, "use lower-case letters, digits, - and _", "inject id %q is not a valid identifier", in.ID)
		case ids[in.ID]:
			d.errf(v, "inject ids are unique", "duplicate inject id %q", in.ID)
		}
		ids[in.ID] = true
		v, _ = get("title")
		in.Title = d.str(v, "inject title")
		v, _ = get("text")
		in.Text = d.str(v, "inject text")
		if in.Text == "" {
			d.errf(it, "what the players are told", "inject %q has no text", in.ID)
		}
		rn, ok := get("release")
		if !ok {
			d.errf(it, `release: {at: "01:30"}, {after: STEP}, {on_alert: RULE} or {no_alert: RULE, by: "01:30"}`, "inject %q has no release", in.ID)
		} else {
			in.Release = d.release(rn, in)
		}
		if qn, ok := get("questions"); ok {
			in.Questions = d.questions(qn, in.ID)
		}
		out = append(out, in)
	}
	return out
}

func (d *decoder) release(n *ynode, in *Inject) Release {
	var r Release
	get, ok := d.fields(n, "an inject's release", "at", "after", "delay", "on_alert", "no_alert", "by")
	if !ok {
		return r
	}
	kinds := 0
	if v, ok := get("at"); ok {
		kinds++
		r.At = d.at(v)
	}
	if v, ok := get("after"); ok {
		kinds++
		r.After = d.str(v, "release after")
		in.stepAt = v
	}
	if v, ok := get("delay"); ok {
		r.Delay = d.duration(v, "release delay")
		if r.After == "" {
			d.errf(v, "delay counts from the step named by after:", "release delay without after")
		}
	}
	for _, k := range []string{"on_alert", "no_alert"} {
		v, ok := get(k)
		if !ok {
			continue
		}
		kinds++
		name := d.str(v, "release "+k)
		if name == "" {
			d.errf(v, "name a rule by id, name or title", "release %s without a rule", k)
		}
		in.rulePos = [2]int{v.line, v.col}
		if k == "on_alert" {
			r.OnAlert = name
		} else {
			r.NoAlert = name
		}
	}
	if v, ok := get("by"); ok {
		r.By = d.at(v)
		if r.NoAlert == "" {
			d.errf(v, "by: is the deadline of no_alert:", "release by without no_alert")
		}
	} else if r.NoAlert != "" {
		d.errf(n, `add by: "01:30" (released then if the rule has not fired)`, "release no_alert without by")
	}
	if kinds != 1 {
		d.errf(n, "one of at, after, on_alert, no_alert", "inject %q: a release needs exactly one condition, got %d", in.ID, kinds)
	}
	return r
}

func (d *decoder) questions(n *ynode, inject string) []*Question {
	if n.kind == nNull {
		return nil
	}
	if n.kind != nSeq {
		d.errf(n, "e.g. questions: [{text: Who is affected?}]", "questions must be a list")
		return nil
	}
	var out []*Question
	ids := map[string]bool{}
	for i, it := range n.items {
		get, ok := d.fields(it, "a question", "id", "text", "choices", "answer")
		if !ok {
			continue
		}
		q := &Question{ID: fmt.Sprintf("q%d", i+1)}
		if v, ok := get("id"); ok {
			q.ID = d.str(v, "question id")
			if !idRe.MatchString(q.ID) {
				d.errf(v, "use lower-case letters, digits, - and _", "question id %q is not a valid identifier", q.ID)
			}
		}
		if ids[q.ID] {
			d.errf(it, "question ids are unique within an inject", "inject %q: duplicate question id %q", inject, q.ID)
		}
		ids[q.ID] = true
		v, _ := get("text")
		q.Text = d.str(v, "question text")
		if q.Text == "" {
			d.errf(it, "", "inject %q: question %s has no text", inject, q.ID)
		}
		if v, ok := get("choices"); ok {
			q.Choices = d.strList(v, "question choices")
			if len(q.Choices) < 2 {
				d.errf(v, "a multiple-choice question offers two choices or more", "inject %q: question %s has %d choice(s)", inject, q.ID, len(q.Choices))
			}
		}
		if v, ok := get("answer"); ok {
			q.Answer = d.str(v, "question answer")
			if len(q.Choices) > 0 && !slices.Contains(q.Choices, q.Answer) {
				d.errf(v, suggest(q.Answer, q.Choices), "inject %q: expected answer %q is not one of the choices", inject, q.Answer)
			}
		}
		out = append(out, q)
	}
	return out
}

// checkInjectSteps is crossCheck's part for injects: the step a release
// names must exist.
func (d *decoder) checkInjectSteps(s *Scenario, stepIDs map[string]bool, all []string) {
	for _, in := range s.Injects {
		if in.Release.After != "" && !stepIDs[in.Release.After] {
			hint := "no step has an id"
			if len(all) > 0 {
				hint = suggest(in.Release.After, all)
			}
			d.errf(in.stepAt, hint, "inject %q released after unknown step %q", in.ID, in.Release.After)
		}
	}
}

// AlertMatches reports whether an alert is one of the rule an
// expectation or an inject names (id, name, or title glob).
func AlertMatches(rule string, a detectors.Alert) bool {
	return ruleMatches(rule, a)
}
