package report

import (
	"fmt"
	"io"
)

// ScenariosPassed counts the scenarios whose every expectation held.
func (r *Report) ScenariosPassed() int {
	n := 0
	for _, s := range r.Scenarios {
		if s.Passed {
			n++
		}
	}
	return n
}

// WriteSummary writes the suite's one-line summary: scenarios passed and
// failed, expectations met and not, alerts no expectation covers.
func WriteSummary(w io.Writer, r *Report) {
	sm, passed := r.Summary, r.ScenariosPassed()
	blind := ""
	if n := sm.Results["blind"]; n > 0 {
		blind = fmt.Sprintf(" (%d of them blind: the telemetry cannot see the technique)", n)
	}
	fmt.Fprintf(w, "\nscenarios: %d passed, %d failed; expectations: %d met%s, %d not met; unexpected alerts: %d\n",
		passed, sm.Scenarios-passed, sm.Passed, blind, sm.Failed, sm.Unexpected)
}
