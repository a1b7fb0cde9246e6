package scenarios

import (
	"fmt"
	"math"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// DefaultMaxActions bounds the actions a scenario's steps expand to, repeats
// multiplied out: far above the library's largest (some thousands), far below
// what would run for days and fill memory with ground truth.
const DefaultMaxActions = 1_000_000

// Limits bounds what a scenario file may ask for. A zero field means its
// default.
type Limits struct {
	// YAML bounds the file: size, nesting depth, aliases (yamlsafe's defaults).
	YAML yamlsafe.Limits
	// MaxActions bounds the actions of all actors' steps, repeats multiplied
	// out (DefaultMaxActions).
	MaxActions int64
}

func (l Limits) maxActions() int64 {
	if l.MaxActions <= 0 {
		return DefaultMaxActions
	}
	return l.MaxActions
}

// mulSat and addSat saturate instead of overflowing: a nested repeat may ask
// for 100000^n actions.
func mulSat(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// actions is how many actions st expands to: a login attempt, a command, a
// wait each count one; spray and brute_force count their attempts; a repeat
// multiplies its steps by its times. A foreach counts its steps once: the
// mailboxes it runs over are known only at run time (they are bounded by
// the target's data, not by the file).
func actions(st *Step, env Environment) int64 {
	p := &st.params.(*kindStep).p
	switch st.Kind {
	case "repeat":
		return addSat(1, mulSat(int64(p.Times), stepsActions(p.Steps, env)))
	case "foreach":
		return addSat(1, stepsActions(p.Steps, env))
	case "spray":
		users := int64(p.Users)
		if users <= 0 {
			users = int64(env.Users)
		}
		pws := int64(len(p.Passwords))
		if pws == 0 {
			pws = 3
		}
		return max(1, mulSat(users, pws))
	case "brute_force":
		if p.Attempts > 0 {
			return int64(p.Attempts)
		}
		return 30
	}
	return 1
}

func stepsActions(steps []*Step, env Environment) int64 {
	var n int64
	for _, c := range steps {
		n = addSat(n, actions(c, env))
	}
	return n
}

// takesTime reports whether running st always moves the actor's scenario
// clock forward: a wait or an idle, a step pacing its own actions with a
// delay, or any step when the actor paces its steps. A step at a time of
// day may not (the second time round it is already that time).
func takesTime(st *Step, a *Actor) bool {
	if a.Pacing.Delay > 0 {
		return true
	}
	p := &st.params.(*kindStep).p
	switch st.Kind {
	case "wait", "idle":
		return p.Duration > 0
	case "repeat", "foreach":
		return stepsTakeTime(p.Steps, a)
	case "spray", "brute_force":
		return p.Delay != 0 // -1: their own default delay (15s, 5s)
	}
	return p.Delay > 0
}

func stepsTakeTime(steps []*Step, a *Actor) bool {
	for _, c := range steps {
		if takesTime(c, a) {
			return true
		}
	}
	return false
}

// bounds refuses, before any packet, what would run without end: a repeat
// whose steps take no scenario time (the clock that ends the scenario never
// moves), and steps that expand to more than lim's actions in all.
func (d *decoder) bounds(s *Scenario, lim Limits) {
	max := lim.maxActions()
	var total int64
	for _, a := range s.Actors {
		for _, st := range a.Steps {
			d.timelessRepeats(a, st)
			n := actions(st, s.Env)
			if n > max {
				in := innermostOver(st, s.Env, max)
				d.errf(&ynode{line: in.line, col: in.col}, "lower its times, or split the scenario",
					"actor %q: step %s expands to %s actions, more than the limit of %d", a.ID, in.Kind, countText(actions(in, s.Env)), max)
				return
			}
			total = addSat(total, n)
			if total > max {
				d.errf(&ynode{line: st.line, col: st.col}, "lower the repeats' times, or split the scenario",
					"actor %q: step %s brings the scenario to %s actions, more than the limit of %d", a.ID, st.Kind, countText(total), max)
				return
			}
		}
	}
}

// timelessRepeats reports the outermost repeats under st whose steps take
// no scenario time.
func (d *decoder) timelessRepeats(a *Actor, st *Step) {
	if p := &st.params.(*kindStep).p; st.Kind == "repeat" && p.Times > 1 && !stepsTakeTime(p.Steps, a) {
		d.errf(&ynode{line: st.line, col: st.col}, "add a wait step to its steps, a delay, or a pacing delay to the actor",
			"actor %q: repeat of %d takes no scenario time (the actor's pacing delay is 0 and its steps neither wait nor pace)", a.ID, p.Times)
		return
	}
	for _, c := range st.params.children() {
		d.timelessRepeats(a, c)
	}
}

// innermostOver is the deepest step under st that alone exceeds max.
func innermostOver(st *Step, env Environment, max int64) *Step {
	for _, c := range st.params.children() {
		if actions(c, env) > max {
			return innermostOver(c, env, max)
		}
	}
	return st
}

func countText(n int64) string {
	if n == math.MaxInt64 {
		return "more than 9.2e18"
	}
	return fmt.Sprint(n)
}
