package report

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/run"
)

// RunProgress is the state of a run for its status line on a terminal
// (cliout.Status): the scenario clock (the time of the latest note), the
// attack steps started of those the scenario lists, the alerts so far,
// the bytes the attackers downloaded, the wall time, and whether the
// actors have fallen behind the clock.
type RunProgress struct {
	mu         sync.Mutex
	sc         *scenarios.Scenario
	wallStart  time.Time
	clock      time.Time // the latest note's time
	clockWall  time.Time // when it came
	speed      float64   // scenario seconds per wall second; 0: virtual
	steps      int
	totalSteps int
	alerts     int
	bytes      int64
	download   string // the download under way: "downloading attachments 3/12"
	behind     bool   // an action started late: the clock runs ahead of the actors
}

// NewRunProgress is the progress of a run of sc starting now. speed is
// the run's scaled clock (--speed; 0: the scenario's own clock): on a
// scaled or real clock the scenario clock moves on between notes, on a
// virtual one it is the latest note's time.
func NewRunProgress(sc *scenarios.Scenario, now time.Time, speed float64) *RunProgress {
	p := &RunProgress{sc: sc, wallStart: now, speed: speed, clock: sc.Env.Start, clockWall: now}
	if speed == 0 {
		switch sc.Env.Clock {
		case "scaled":
			p.speed = sc.Env.Speed
		case "real":
			p.speed = 1
		}
	}
	for _, a := range sc.Actors {
		if a.Kind != "staff" {
			p.totalSteps += len(a.Steps)
		}
	}
	return p
}

// Note takes a note of the run into account.
func (p *RunProgress) Note(n run.Note) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n.Time.After(p.clock) {
		p.clock, p.clockWall = n.Time, time.Now()
	}
	staff := strings.Contains(n.Actor, "/")
	switch n.Kind {
	case "step":
		if !staff && n.Actor != "" {
			p.steps++
			p.download = ""
		}
	case "alert":
		p.alerts++
	case "pace":
		p.behind = true
	case "progress":
		p.download = fmt.Sprintf("%s %d/%d", n.Text, n.Count, n.Total)
		if n.Count >= n.Total {
			p.download = ""
		}
		p.bytes = max(p.bytes, n.Bytes)
	}
}

// Line renders the status line at wall time now.
func (p *RunProgress) Line(now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	clock := p.clock
	if p.speed > 0 && now.After(p.clockWall) {
		clock = clock.Add(time.Duration(float64(now.Sub(p.clockWall)) * p.speed))
	}
	parts := []string{p.sc.ID, clock.In(p.sc.Env.Location).Format("Mon 15:04:05")}
	if p.steps <= p.totalSteps {
		parts = append(parts, fmt.Sprintf("step %d/%d", p.steps, p.totalSteps))
	} else {
		parts = append(parts, fmt.Sprintf("step %d", p.steps))
	}
	parts = append(parts, fmt.Sprintf("%d alert%s", p.alerts, plural(p.alerts)), wallClock(now.Sub(p.wallStart)))
	if p.download != "" {
		parts = append(parts, p.download)
	}
	if p.bytes > 0 {
		parts = append(parts, "↓ "+humanBytes(p.bytes))
	}
	if p.behind {
		parts = append(parts, "behind the clock")
	}
	return "  ▸ " + strings.Join(parts, " · ")
}

// SuiteProgress renders a suite's status line: scenarios done of all, how
// many failed so far, and the wall time.
type SuiteProgress struct {
	mu                  sync.Mutex
	start               time.Time
	done, failed, total int
}

// NewSuiteProgress is the progress of a suite of total scenarios.
func NewSuiteProgress(total int, now time.Time) *SuiteProgress {
	return &SuiteProgress{start: now, total: total}
}

// Done counts a finished scenario.
func (p *SuiteProgress) Done(failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if failed {
		p.failed++
	}
}

// Line renders the status line at wall time now.
func (p *SuiteProgress) Line(now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("  ▸ %d/%d scenarios done", p.done, p.total)
	if p.failed > 0 {
		s += fmt.Sprintf(" · %d failed", p.failed)
	}
	return s + " · " + wallClock(now.Sub(p.start))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// wallClock is an elapsed wall time as m:ss (h:mm:ss past an hour).
func wallClock(d time.Duration) string {
	s := int(d.Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
