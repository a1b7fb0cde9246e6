package main

import (
	"io"
	"time"

	"github.com/maildrill/maildrill/internal/cliout"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/report"
	scenariorun "github.com/maildrill/maildrill/scenarios/run"
)

// runStatus is the status line of a run of sc on stderr when stderr is a
// terminal (none with quiet); speed is the run's --speed: the notes go to the timeline tl with the
// status line out of its way, and to the line's state. stop erases it.
func runStatus(stderr io.Writer, sc *scenarios.Scenario, tl *report.Timeline, speed float64, quiet bool) (note func(scenariorun.Note), stop func()) {
	prog := report.NewRunProgress(sc, time.Now(), speed)
	var status *cliout.Status
	if !quiet {
		status = cliout.StartStatus(stderr, func() string { return prog.Line(time.Now()) })
	}
	return func(n scenariorun.Note) {
		prog.Note(n)
		if n.Kind == "progress" && status != nil {
			return // downloads are on the status line
		}
		status.Print(func() { tl.Note(n) })
	}, status.Stop
}
