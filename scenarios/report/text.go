package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/maildrill/maildrill/internal/termsafe"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/run"
)

// Timeline prints a run as it goes (Options.Progress): steps, alerts,
// download progress. On a terminal (tty) a progress line is redrawn in
// place, and alerts stand out in colour when color.
type Timeline struct {
	mu     sync.Mutex
	w      io.Writer
	sc     *scenarios.Scenario
	tty    bool
	color  bool
	quiet  bool
	status bool // a progress line is on screen
}

// NewTimeline prints sc's run on w; quiet prints nothing.
func NewTimeline(w io.Writer, sc *scenarios.Scenario, tty, color, quiet bool) *Timeline {
	return &Timeline{w: w, sc: sc, tty: tty, color: color, quiet: quiet}
}

// Note prints a note of the run.
func (t *Timeline) Note(n run.Note) {
	if t.quiet {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := n.Time.In(t.sc.Env.Location).Format("Mon 15:04:05")
	if n.Kind == "progress" {
		if !t.tty {
			return // plain output: only the step lines
		}
		bar := progressBar(n.Count, n.Total, 20)
		fmt.Fprintf(t.w, "\r  %s  %-12s %s %s %d/%d  %s\x1b[K", ts, termsafe.String(n.Actor), termsafe.String(n.Text), bar, n.Count, n.Total, humanBytes(n.Bytes))
		t.status = true
		return
	}
	if n.Actor != "" && strings.Contains(n.Actor, "/") && n.Kind == "step" {
		return // staff steps would drown the timeline
	}
	if t.status {
		fmt.Fprint(t.w, "\r\x1b[K")
		t.status = false
	}
	switch n.Kind {
	case "alert":
		if t.tty && t.color {
			fmt.Fprintf(t.w, "  %s  \x1b[1;31m⚑ ALERT\x1b[0m %s\n", ts, termsafe.String(n.Text))
		} else {
			fmt.Fprintf(t.w, "  %s  ALERT %s\n", ts, termsafe.String(n.Text))
		}
	default:
		fmt.Fprintf(t.w, "  %s  %-12s %s\n", ts, termsafe.String(n.Actor), termsafe.String(n.Text))
	}
}

// Done clears the progress line.
func (t *Timeline) Done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status {
		fmt.Fprint(t.w, "\r\x1b[K")
	}
}

func progressBar(n, total, width int) string {
	if total <= 0 {
		return ""
	}
	f := n * width / total
	return "[" + strings.Repeat("█", f) + strings.Repeat("·", width-f) + "]"
}

func humanBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// WriteTables writes a run's verdict table (WriteVerdicts) and the alerts
// no expectation covers (WriteNoise).
func WriteTables(w io.Writer, res *scenarios.Result, color, verbose bool) {
	WriteVerdicts(w, res, color)
	WriteNoise(w, res, verbose)
}

// WriteVerdicts writes a run's summary line and verdict table as the
// terminal shows them (color: ANSI colours).
func WriteVerdicts(w io.Writer, res *scenarios.Result, color bool) {
	fmt.Fprintf(w, "\n%s: %d actions, %d audit events, %d alerts; %s of scenario time in %s\n",
		res.Scenario.ID, res.Actions, res.Events, len(res.Alerts), res.End.Sub(res.Start).Round(time.Minute), res.Wall.Round(time.Millisecond))
	if msg := PaceWarning(res.Pace, res.Scenario.Env.Location); msg != "" {
		if color {
			msg = "\x1b[0;33m" + msg + "\x1b[0m"
		}
		fmt.Fprintf(w, "  %s\n", msg)
	}
	if len(res.Verdicts) == 0 {
		fmt.Fprintln(w, "  (no expectations)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "RESULT"
	if color {
		head = "\x1b[1;39m" + head + "\x1b[0m" // same escape length as the results, so columns align
	}
	fmt.Fprintf(tw, "  %s\tRULE\tWINDOW\tTIME TO DETECT\tALERTS\tDETAIL\n", head)
	for _, v := range res.Verdicts {
		r := strings.ToUpper(v.Result)
		if color {
			if v.Result == scenarios.Blind {
				r = "\x1b[0;33m" + r + "\x1b[0m" // a finding, not a failure
			} else if v.OK() {
				r = "\x1b[0;32m" + r + "\x1b[0m"
			} else {
				r = "\x1b[1;31m" + r + "\x1b[0m"
			}
		}
		win := "after " + termsafe.String(orStart(v.Anchor))
		ttd := "-"
		switch {
		case v.Kind == scenarios.KindNoise:
			win = "noise (unexpected alerts)"
		case v.Kind == scenarios.KindPace:
			win = "the run's clock"
		case v.Kind == "must_not_fire":
			from, to := Span(v.WindowStart, v.WindowEnd, res.Scenario.Env.Location, "15:04")
			win = "silent " + from + "–" + to
		case v.FirstAlert != nil:
			ttd = v.TTD.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\n", r, termsafe.String(v.Rule), win, ttd, v.Alerts, termsafe.String(v.Detail))
	}
	tw.Flush()
	blind := 0
	for _, v := range res.Verdicts {
		if v.Result == scenarios.Blind {
			blind++
		}
	}
	if blind > 0 {
		fmt.Fprintf(w, "  finding: %d expectation(s) BLIND: the %s telemetry cannot see these techniques (the scenario's blind_on); more logging would (docs/dovecot.md)\n",
			blind, scenarios.Telemetry(res.Target, res.TargetProfile()))
	}
}

// WriteNoise writes the alerts no expectation covers, per rule, with who
// caused them; verbose lists each alert's events.
func WriteNoise(w io.Writer, res *scenarios.Result, verbose bool) {
	noise := scenarios.Noise(res.Scenario, res)
	if len(noise) == 0 {
		fmt.Fprintln(w, "  unexpected alerts: none")
		return
	}
	total := 0
	for _, n := range noise {
		total += n.Alerts
	}
	fmt.Fprintf(w, "  unexpected alerts (no expectation covers them): %d\n", total)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  RULE\tALERTS\tATTACKER\tSTAFF\tUNKNOWN")
	for _, n := range noise {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\n", termsafe.String(n.Title), n.Alerts, n.Attacker, n.Staff, n.Unknown)
	}
	tw.Flush()
	if !verbose {
		return
	}
	for _, n := range noise {
		fmt.Fprintf(w, "  %s:\n", termsafe.String(n.Title))
		for _, it := range n.Items {
			t := it.Time
			if loc := res.Scenario.Env.Location; loc != nil {
				t = t.In(loc)
			}
			fmt.Fprintf(w, "    %s %s (%s): events %s\n", t.Format(time.RFC3339), it.Attribution, termsafe.String(it.Reason), termsafe.String(strings.Join(it.EventIDs, " ")))
		}
	}
}

// PaceWarning says that a run on a scaled or real clock fell behind it,
// and how far ("" when it kept up): its verdicts were judged on a
// stretched time.
func PaceWarning(p *scenarios.Pace, loc *time.Location) string {
	if !p.Behind() {
		return ""
	}
	due := p.MaxLagDue
	if loc != nil {
		due = due.In(loc)
	}
	return fmt.Sprintf("warning: the run fell behind its clock: %d of %d timed actions started more than %s late, the latest %s late (%s, due %s). "+
		"The scenario's actions ran later and closer together than it scripts, and the verdicts are judged on that time: %s",
		p.Late, p.Timed, scenarios.LateTolerance, roundLag(p.MaxLag), p.MaxLagActor, due.Format("Mon 15:04:05"), p.Remedy())
}

// roundLag rounds a delay for reading: to the second below an hour, to
// the minute above.
func roundLag(d time.Duration) time.Duration {
	if d >= time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// orStart names an empty anchor: the scenario's start.
func orStart(s string) string {
	if s == "" {
		return "start"
	}
	return s
}

// StatusLine is a suite's one-line status of a run.
func StatusLine(r Run, color bool) string {
	mark, word := "✔", "ok"
	met, blind, total := 0, 0, 0
	var wall time.Duration
	if r.Result != nil {
		wall = r.Result.Wall
		for _, v := range r.Result.Verdicts {
			total++
			switch {
			case v.Result == scenarios.Blind:
				blind++
			case v.OK():
				met++
			}
		}
	}
	if r.Err != nil || r.Result == nil || r.Result.Failed {
		mark, word = "✘", "FAIL"
	}
	if color {
		if mark == "✔" {
			mark = "\x1b[0;32m" + mark + "\x1b[0m"
		} else {
			mark = "\x1b[1;31m" + mark + "\x1b[0m"
		}
	}
	blindText := ""
	if blind > 0 {
		blindText = fmt.Sprintf(", %d blind", blind)
	}
	id := ""
	if sc := r.Scenario; sc != nil {
		id = sc.ID
	} else if r.Result != nil && r.Result.Scenario != nil {
		id = r.Result.Scenario.ID // Run.Scenario: taken from Result when nil
	}
	line := fmt.Sprintf("%s %-4s %s: %d/%d expectations met%s (%s)", mark, word, id, met, total, blindText, wall.Round(time.Millisecond))
	if r.Result != nil && r.Result.Pace.Behind() {
		line += fmt.Sprintf("; fell behind its clock by up to %s", roundLag(r.Result.Pace.MaxLag))
	}
	if r.Err != nil {
		line += ": " + termsafe.Lines(r.Err.Error())
	}
	return line
}
