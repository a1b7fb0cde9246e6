package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// The HTML report is one self-contained page: inline CSS and SVG, no
// script, nothing loaded from elsewhere, so that it opens from a CI
// artefact and projects in a room without a network.

// WriteHTML writes the report as one self-contained HTML page.
func WriteHTML(w io.Writer, rep *Report) error {
	page := htmlPage{Report: rep, Generated: rep.Generated.Format("2006-01-02 15:04 MST")}
	for _, s := range rep.Scenarios {
		loc := location(s)
		t0, t1 := timeRange(s)
		hs := htmlScenario{Scenario: s, Timeline: template.HTML(timelineSVG(s, loc, t0, t1, ""))}
		if z0, z1, ok := attackRange(s); ok && z1.Sub(z0) < t1.Sub(t0)*2/5 {
			hs.Zoom = template.HTML(timelineSVG(s, loc, z0, z1, "-attack"))
			hs.ZoomFrom, hs.ZoomTo = z0.In(loc).Format("15:04"), z1.In(loc).Format("15:04")
		}
		for _, v := range s.Verdicts {
			hs.Rows = append(hs.Rows, verdictRow(v, loc))
			if v.Passed {
				hs.Met++
			}
		}
		hs.Noise, hs.Unexpected = noiseRows(s, loc)
		page.Scenarios = append(page.Scenarios, hs)
	}
	if err := pageTmpl.Execute(w, page); err != nil {
		return fmt.Errorf("writing the HTML report: %w", err)
	}
	return nil
}

type htmlPage struct {
	*Report
	Generated string
	Scenarios []htmlScenario
}

type htmlScenario struct {
	Scenario
	Timeline template.HTML
	// Zoom is the timeline again over the attack alone, when the attack
	// is a small part of the run.
	Zoom             template.HTML
	ZoomFrom, ZoomTo string
	Rows             []htmlRow
	Met              int
	// Noise is the unexpected alerts, a row per rule with its drill-down.
	Noise      []htmlNoise
	Unexpected int
}

type htmlNoise struct {
	Noise
	Alerts []htmlNoiseAlert
}

type htmlNoiseAlert struct {
	Time, Attribution, Reason string
	Events                    []htmlEvent
	Omitted                   int
	// Unkept are the ids of the events the run did not keep.
	Unkept []string
}

type htmlEvent struct {
	Time, Action, User, SourceIP, Outcome, ID string
}

// noiseRows lays out the unexpected alerts: times in loc, with their
// dates when the scenario spans more than one day.
func noiseRows(s Scenario, loc *time.Location) ([]htmlNoise, int) {
	layout := "15:04:05"
	if y1, m1, d1 := s.Start.In(loc).Date(); true {
		y2, m2, d2 := s.End.In(loc).Date()
		if y1 != y2 || m1 != m2 || d1 != d2 {
			layout = "Mon 2 Jan 15:04:05"
		}
	}
	var out []htmlNoise
	total := 0
	for _, n := range s.Noise {
		total += n.Alerts
		hn := htmlNoise{Noise: n}
		for _, it := range n.Items {
			ha := htmlNoiseAlert{Time: it.Time.In(loc).Format(layout), Attribution: it.Attribution, Reason: it.Reason, Omitted: it.EventsOmitted}
			kept := map[string]bool{}
			for _, e := range it.Events {
				kept[e.ID] = true
				ev := htmlEvent{Action: orDash(e.Action), User: orDash(e.User), SourceIP: orDash(e.SourceIP), Outcome: orDash(e.Outcome), ID: e.ID, Time: "–"}
				if !e.Time.IsZero() {
					ev.Time = e.Time.In(loc).Format(layout)
				}
				ha.Events = append(ha.Events, ev)
			}
			if it.EventsOmitted == 0 {
				for _, id := range it.EventIDs {
					if !kept[id] {
						ha.Unkept = append(ha.Unkept, id)
					}
				}
			}
			hn.Alerts = append(hn.Alerts, ha)
		}
		out = append(out, hn)
	}
	return out, total
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

type htmlRow struct {
	Result, Class, Rule, Window, TTD, Alerts, Detail string
	Line                                             int
}

func location(s Scenario) *time.Location {
	if s.Timezone != "" {
		if l, err := time.LoadLocation(s.Timezone); err == nil {
			return l
		}
	}
	return s.Start.Location()
}

// Span formats a window's ends in loc with layout (a time of day), and
// with their dates when the window crosses midnight: "02:10:00 – 04:10:00"
// beside a time to detect of 24h12m hid which night was meant.
func Span(from, to time.Time, loc *time.Location, layout string) (string, string) {
	from, to = from.In(loc), to.In(loc)
	y1, m1, d1 := from.Date()
	y2, m2, d2 := to.Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		return from.Format(layout), to.Format(layout)
	}
	layout = "Mon 2 Jan " + layout
	return from.Format(layout), to.Format(layout)
}

func verdictRow(v Verdict, loc *time.Location) htmlRow {
	r := htmlRow{Result: strings.ToUpper(strings.ReplaceAll(v.Result, "_", " ")), Class: "fail", Rule: v.Rule,
		TTD: "–", Alerts: fmt.Sprint(v.Alerts), Detail: v.Detail, Line: v.Line}
	if v.Passed {
		r.Class = "ok"
	}
	if v.Result == "blind" {
		r.Class = "blind" // a finding: the telemetry cannot see the technique
	}
	from, to := Span(v.WindowStart, v.WindowEnd, loc, "15:04:05")
	switch v.Kind {
	case "noise":
		r.Window = "noise: alerts no expectation covers, " + from + " – " + to
	case "pace":
		r.Window = "the run's clock, " + from + " – " + to
	case "must_not_fire":
		r.Window = "silent " + from + " – " + to
	default:
		anchor := v.Anchor
		if anchor == "" {
			anchor = "start"
		}
		r.Window = fmt.Sprintf("after %s: %s – %s", anchor, from, to)
		if v.TTDMS != nil {
			r.TTD = roundDur(time.Duration(*v.TTDMS) * time.Millisecond)
			if v.TTDWallMS != nil {
				r.TTD += " (wall " + roundDur(time.Duration(*v.TTDWallMS)*time.Millisecond) + ")"
			}
		}
	}
	return r
}

// roundDur shows seconds, or milliseconds under ten seconds.
func roundDur(d time.Duration) string {
	if d >= 10*time.Second || d <= -10*time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// Timeline geometry.
const (
	svgWidth   = 1200.0
	gutter     = 230.0 // labels on the left
	rightPad   = 20.0
	rowH       = 22.0
	histH      = 46.0
	axisH      = 28.0
	bandColor  = "#2e7d32"
	missColor  = "#c62828"
	blindColor = "#b26a00" // blind: the run's telemetry cannot see the technique
)

func esc(s string) string { return template.HTMLEscapeString(s) }

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// timeRange is the span of the whole timeline: the run, and every alert,
// step and expectation window.
func timeRange(s Scenario) (t0, t1 time.Time) {
	t0, t1 = s.Start, s.End
	extend := func(t time.Time) {
		if t.After(t1) {
			t1 = t
		}
	}
	for _, a := range s.Alerts {
		extend(a.Time)
	}
	for _, st := range s.Steps {
		extend(st.End)
	}
	for _, v := range s.Verdicts {
		if v.Kind == "fire" {
			extend(v.WindowEnd)
		}
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Minute)
	}
	return t0, t1
}

// attackRange is the span of the attackers' actions and of the windows
// anchored on their steps, with a margin.
func attackRange(s Scenario) (t0, t1 time.Time, ok bool) {
	if s.Activity == nil {
		return t0, t1, false
	}
	bucket := time.Duration(s.Activity.BucketSeconds) * time.Second
	add := func(a, b time.Time) {
		if !ok || a.Before(t0) {
			t0 = a
		}
		if !ok || b.After(t1) {
			t1 = b
		}
		ok = true
	}
	for _, counts := range s.Activity.Actors {
		for i, c := range counts {
			if c > 0 {
				t := s.Activity.Start.Add(time.Duration(i) * bucket)
				add(t, t.Add(bucket))
			}
		}
	}
	for _, v := range s.Verdicts {
		if v.Kind == "fire" && v.Anchor != "" {
			add(v.WindowStart, v.WindowEnd)
		}
	}
	if !ok {
		return t0, t1, false
	}
	margin := max(t1.Sub(t0)/20, 2*time.Minute)
	t0, t1 = t0.Add(-margin), t1.Add(margin)
	if t0.Before(s.Start) {
		t0 = s.Start
	}
	return t0, t1, true
}

// timelineSVG draws the run: attacker steps and actions, staff activity,
// audit events per minute, alerts, and each expectation's window as a band
// (red when not met).
func timelineSVG(s Scenario, loc *time.Location, t0, t1 time.Time, suffix string) string {
	span := t1.Sub(t0)
	in := func(t time.Time) bool { return !t.Before(t0) && !t.After(t1) }
	plotW := svgWidth - gutter - rightPad
	x := func(t time.Time) float64 {
		f := float64(t.Sub(t0)) / float64(span)
		return gutter + math.Max(0, math.Min(1, f))*plotW
	}

	var b strings.Builder
	y := 8.0
	section := func(label string) {
		fmt.Fprintf(&b, `<text class="sec" x="4" y="%.1f">%s</text>`, y+12, esc(label))
		y += 18
	}
	rowLabel := func(label, class string) {
		fmt.Fprintf(&b, `<text class="lbl %s" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, class, gutter-8, y+rowH/2+4, esc(trunc(label, 31)))
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, gutter, svgWidth-rightPad, y+rowH, y+rowH)
	}

	// Expectation windows.
	if len(s.Verdicts) > 0 {
		section("Expectations")
		for _, v := range s.Verdicts {
			color := bandColor
			if !v.Passed {
				color = missColor
			}
			if v.Result == "blind" {
				color = blindColor
			}
			name := v.Rule
			switch v.Kind {
			case "must_not_fire":
				name = "silent: " + v.Rule
			case "noise":
				name = "noise: " + v.Rule
			case "pace":
				name = "pace: the run's clock"
			}
			rowLabel(name, map[bool]string{true: "ok", false: "fail"}[v.Passed])
			if v.WindowEnd.Before(t0) || v.WindowStart.After(t1) {
				y += rowH
				continue
			}
			x0, x1 := x(v.WindowStart), x(v.WindowEnd)
			if x1-x0 < 3 {
				x1 = x0 + 3
			}
			fmt.Fprintf(&b, `<rect class="band %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.35" stroke="%s"><title>%s</title></rect>`,
				v.Result, x0, y+3, x1-x0, rowH-6, color, color, esc(fmt.Sprintf("%s — %s (%s – %s)", v.Rule, v.Result, v.WindowStart.In(loc).Format("15:04:05"), v.WindowEnd.In(loc).Format("15:04:05"))))
			if v.FirstAlert != nil && in(*v.FirstAlert) {
				fx := x(*v.FirstAlert)
				fmt.Fprintf(&b, `<path class="first" d="M%.1f %.1f l5 8 l-5 8 l-5 -8 z" fill="%s"><title>first alert %s</title></path>`,
					fx, y+3, color, v.FirstAlert.In(loc).Format("15:04:05"))
			}
			if !v.Passed || v.Result == "blind" {
				mark := "✘"
				if v.Passed {
					mark = "◌"
				}
				lx := x1 + 6
				anchor := "start"
				if lx > svgWidth-rightPad-120 {
					lx, anchor = x0-6, "end"
				}
				fmt.Fprintf(&b, `<text class="miss" x="%.1f" y="%.1f" text-anchor="%s">%s %s</text>`, lx, y+rowH/2+4, anchor, mark, esc(strings.ToUpper(strings.ReplaceAll(v.Result, "_", " "))))
			}
			y += rowH
		}
		y += 6
	}

	// Attackers and insiders: steps as bars, actions as ticks.
	var actors []string
	kind := map[string]string{}
	for _, a := range s.Actors {
		if a.Kind != "staff" {
			actors = append(actors, a.ID)
			kind[a.ID] = a.Kind
		}
	}
	if len(actors) > 0 {
		section("Attack")
		for _, id := range actors {
			rowLabel(id+" ("+kind[id]+")", "actor")
			if s.Activity != nil {
				bw := plotW * float64(s.Activity.BucketSeconds) / span.Seconds()
				max := maxOf(s.Activity.Actors[id])
				for i, c := range s.Activity.Actors[id] {
					bt := s.Activity.Start.Add(time.Duration(i*s.Activity.BucketSeconds) * time.Second)
					if c == 0 || !in(bt) {
						continue
					}
					bx := x(bt)
					h := 4 + (rowH-8)*float64(c)/float64(max)
					fmt.Fprintf(&b, `<rect class="act" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%d action(s)</title></rect>`, bx, y+rowH-2-h, math.Max(1.5, bw), h, c)
				}
			}
			var lblEnd [2]float64 // where the step labels of each line end
			for _, st := range s.Steps {
				if st.Actor != id || st.End.Before(t0) || st.Start.After(t1) {
					continue
				}
				x0, x1 := x(st.Start), x(st.End)
				if x1-x0 < 2 {
					x1 = x0 + 2
				}
				fmt.Fprintf(&b, `<rect class="step" x="%.1f" y="%.1f" width="%.1f" height="6"><title>%s (%s) %s – %s</title></rect>`,
					x0, y+2, x1-x0, esc(st.ID), esc(st.Kind), st.Start.In(loc).Format("15:04:05"), st.End.In(loc).Format("15:04:05"))
				// Labels on two lines; one that fits on neither is left to
				// the bar's tooltip.
				w := 6 * float64(len([]rune(st.ID)))
				for line := range lblEnd {
					if x0 >= lblEnd[line]+4 {
						fmt.Fprintf(&b, `<text class="steplbl" x="%.1f" y="%.1f">%s</text>`, x0, y+rowH+9+float64(line)*11, esc(st.ID))
						lblEnd[line] = x0 + w
						break
					}
				}
			}
			y += rowH + 21
		}
		y += 4
	}

	// Histograms: staff activity, audit events per bucket.
	hist := func(label, class string, counts []int) {
		if len(counts) == 0 || s.Activity == nil {
			return
		}
		max := maxOf(counts)
		fmt.Fprintf(&b, `<text class="lbl" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, gutter-8, y+histH/2, esc(label))
		fmt.Fprintf(&b, `<text class="small" x="%.1f" y="%.1f" text-anchor="end">max %d</text>`, gutter-8, y+histH/2+14, max)
		bw := plotW * float64(s.Activity.BucketSeconds) / span.Seconds()
		fmt.Fprintf(&b, `<g class="%s">`, class)
		for i, c := range counts {
			if c == 0 || max == 0 {
				continue
			}
			bt := s.Activity.Start.Add(time.Duration(i*s.Activity.BucketSeconds) * time.Second)
			if !in(bt) {
				continue
			}
			h := histH * float64(c) / float64(max)
			bx := x(bt)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, bx, y+histH-h, math.Max(1, bw), h)
		}
		b.WriteString(`</g>`)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, gutter, svgWidth-rightPad, y+histH, y+histH)
		y += histH + 8
	}
	per := "per minute"
	if s.Activity != nil && s.Activity.BucketSeconds != 60 {
		per = "per " + (time.Duration(s.Activity.BucketSeconds) * time.Second).String()
	}
	if s.Activity != nil {
		section("Activity")
		hist("staff actions "+per, "hist-staff", s.Activity.Staff)
		hist("audit events "+per, "hist-events", s.Activity.Events)
	}

	// Alerts.
	section(fmt.Sprintf("Alerts (%d)", len(s.Alerts)))
	rowLabel("alerts", "")
	for _, a := range s.Alerts {
		if !in(a.Time) {
			continue
		}
		ax := x(a.Time)
		if a.Type == "outside" { // from an outside SIEM: a circle
			fmt.Fprintf(&b, `<circle class="alert outside lvl-%s" cx="%.1f" cy="%.1f" r="5"><title>%s %s [%s, outside]</title></circle>`,
				esc(a.Level), ax, y+10, a.Time.In(loc).Format("15:04:05"), esc(a.Title), esc(a.Level))
			continue
		}
		fmt.Fprintf(&b, `<path class="alert lvl-%s" d="M%.1f %.1f l6 10 l-12 0 z"><title>%s %s [%s]</title></path>`,
			esc(a.Level), ax, y+5, a.Time.In(loc).Format("15:04:05"), esc(a.Title), esc(a.Level))
	}
	y += rowH + 4

	// Time axis, and the grid lines across everything above.
	top := 8.0
	step := tickStep(span)
	first := t0.In(loc).Truncate(step)
	if step >= time.Hour {
		first = time.Date(first.Year(), first.Month(), first.Day(), first.Hour(), 0, 0, 0, loc)
	}
	var axis strings.Builder
	// An axis that crosses midnight or spans days carries dates: under the
	// first tick and under each tick on a new day.
	days := !sameDay(t0.In(loc), t1.In(loc))
	lastDay := time.Time{}
	for t := first; !t.After(t1); t = t.Add(step) {
		if t.Before(t0) {
			continue
		}
		tx := x(t)
		lt := t.In(loc)
		fmt.Fprintf(&axis, `<line class="tick" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, tx, tx, top, y)
		fmt.Fprintf(&axis, `<text class="axis" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, tx, y+16, lt.Format("15:04"))
		if days && (lastDay.IsZero() || !sameDay(lastDay, lt)) {
			fmt.Fprintf(&axis, `<text class="axis date" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, tx, y+30, lt.Format("Mon 2 Jan"))
			lastDay = lt
		}
	}
	height := y + axisH
	if days {
		height += 14
	}
	return fmt.Sprintf(`<svg class="timeline" id="timeline-%s" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" aria-label="Timeline of %s">`,
		esc(s.ID)+suffix, svgWidth, height, esc(s.ID)) + axis.String() + b.String() + `</svg>`
}

func sameDay(a, b time.Time) bool {
	y1, m1, d1 := a.Date()
	y2, m2, d2 := b.Date()
	return y1 == y2 && m1 == m2 && d1 == d2
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		if x > m {
			m = x
		}
	}
	return m
}

// tickStep picks an axis step giving at most about 12 ticks.
func tickStep(span time.Duration) time.Duration {
	steps := []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}
	i := sort.Search(len(steps), func(i int) bool { return span/steps[i] <= 12 })
	if i == len(steps) {
		return steps[len(steps)-1] * time.Duration(span/(12*steps[len(steps)-1])+1)
	}
	return steps[i]
}

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"clock": func(t time.Time, tz string) string {
		if l, err := time.LoadLocation(tz); err == nil && tz != "" {
			t = t.In(l)
		}
		return t.Format("Mon 2 Jan 2006 15:04 MST")
	},
	"dur": func(a, b time.Time) string { return b.Sub(a).Round(time.Minute).String() },
	"ms":  func(ms int64) string { return (time.Duration(ms) * time.Millisecond).Round(time.Millisecond).String() },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="maildrill ({{.Schema}})">
<title>maildrill report{{if eq (len .Scenarios) 1}}: {{(index .Scenarios 0).ID}}{{end}}</title>
<style>
:root { --ok: #2e7d32; --fail: #c62828; --blind: #b26a00; --ink: #1d2430; --muted: #5f6b7a; --rule: #d9dee5; --bg: #ffffff; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
header, main { max-width: 1280px; margin: 0 auto; padding: 16px 24px; }
header { border-bottom: 1px solid var(--rule); }
h1 { font-size: 24px; margin: 4px 0; }
h2 { font-size: 20px; margin: 28px 0 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.meta { color: var(--muted); font-size: 13px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600; font-size: 13px; vertical-align: middle; }
.badge.ok { background: var(--ok); } .badge.fail { background: var(--fail); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.ok { color: var(--ok); font-weight: 700; } td.fail { color: var(--fail); font-weight: 700; } td.blind { color: var(--blind); font-weight: 700; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.narrative { white-space: pre-wrap; background: var(--panel); border-left: 4px solid var(--rule); padding: 10px 14px; margin: 0; font: inherit; }
.scenario { border-top: 2px solid var(--rule); margin-top: 24px; }
.error { color: var(--fail); font-weight: 600; }
.behind { color: var(--blind); font-weight: 600; }
.tech { display: inline-block; margin: 2px 6px 2px 0; padding: 2px 8px; border-radius: 4px; font-size: 13px; border: 1px solid; }
.tech.ok { color: var(--ok); border-color: var(--ok); } .tech.fail { color: var(--fail); border-color: var(--fail); }
svg.timeline { width: 100%; height: auto; background: #fff; border: 1px solid var(--rule); border-radius: 4px; }
svg .sec { font-size: 12px; font-weight: 700; fill: var(--muted); text-transform: uppercase; }
svg .lbl { font-size: 12px; fill: var(--ink); } svg .lbl.fail { fill: var(--fail); } svg .lbl.actor { font-weight: 700; }
svg .small { font-size: 10px; fill: var(--muted); }
svg .axis { font-size: 11px; fill: var(--muted); }
svg .tick { stroke: #eef0f3; stroke-width: 1; } svg .grid { stroke: #f0f2f5; stroke-width: 1; }
svg .step { fill: #37474f; } svg .steplbl { font-size: 10px; fill: #37474f; }
svg .act { fill: #ef6c00; fill-opacity: .8; }
svg .hist-staff rect { fill: #5c8ddb; } svg .hist-events rect { fill: #8e99a8; }
svg .alert { fill: #f9a825; stroke: #5d4037; stroke-width: .6; } svg .alert.lvl-high, svg .alert.lvl-critical { fill: #e53935; } svg .alert.outside { stroke: #1a237e; stroke-width: 1.5; }
svg .miss { font-size: 11px; font-weight: 700; fill: var(--fail); }
svg .axis.date { font-weight: 700; fill: var(--ink); }
table.noise { font-size: 17px; } table.noise th, table.noise td { padding: 7px 10px; }
table.noise tr.drill > td { background: var(--panel); padding: 0 10px; }
details.drill > summary { cursor: pointer; padding: 8px 0; font-weight: 600; font-size: 16px; }
details.drill[open] > summary { border-bottom: 1px solid var(--rule); }
.nalert { margin: 10px 0 14px; font-size: 16px; }
.nalert .attr { display: inline-block; padding: 1px 8px; border-radius: 4px; font-weight: 700; font-size: 14px; color: #fff; }
.attr.attacker { background: var(--fail); } .attr.staff { background: #1565c0; } .attr.unknown { background: var(--muted); }
table.events { font-size: 15px; margin-top: 6px; background: #fff; }
table.events td.id { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
@media print { header, main { max-width: none; } }
</style>
</head>
<body>
<header>
<h1>maildrill report <span class="badge {{if .Passed}}ok{{else}}fail{{end}}">{{if .Passed}}PASSED{{else}}FAILED{{end}}</span></h1>
<div class="meta">{{.Summary.Scenarios}} scenario(s), {{.Summary.Passed}} of {{.Summary.Expectations}} expectation(s) met{{if .Summary.Errors}}, {{.Summary.Errors}} run error(s){{end}} · generated {{.Generated}} · {{.Schema}}</div>
{{if gt (len .Scenarios) 1}}
<table class="suite" id="suite">
<thead><tr><th>Scenario</th><th>Result</th><th>Expectations met</th><th>Alerts</th><th>Wall time</th></tr></thead>
<tbody>{{range .Scenarios}}
<tr><td><a href="#s-{{.ID}}">{{.ID}}</a> — {{.Title}}</td><td class="{{if .Passed}}ok{{else}}fail{{end}}">{{if .Passed}}PASSED{{else}}FAILED{{end}}</td><td class="num">{{.Met}} of {{len .Rows}}</td><td class="num">{{len .Alerts}}</td><td class="num">{{ms .WallMS}}</td></tr>{{end}}
</tbody></table>
{{end}}
</header>
<main>
{{range .Scenarios}}
<section class="scenario" id="s-{{.ID}}">
<h2>{{.Title}} <span class="badge {{if .Passed}}ok{{else}}fail{{end}}">{{if .Passed}}PASSED{{else}}FAILED{{end}}</span></h2>
<div class="meta">{{.ID}}{{if .File}} · {{.File}}{{end}}{{if .RunID}} · run {{.RunID}}{{end}} · {{clock .Start .Timezone}}, {{dur .Start .End}} of scenario time on a {{.Clock}} clock{{if .Speed}} (×{{.Speed}}){{end}} in {{ms .WallMS}} · {{.Actions}} actions, {{.Events}} audit events, {{len .Alerts}} alerts</div>
{{if .Error}}<p class="error">The run stopped: {{.Error}}</p>{{end}}
{{$clock := .Clock}}{{with .Pace}}{{if .Behind}}<p class="behind">The run fell behind its clock: {{.Late}} of {{.Timed}} timed actions started more than {{ms .ToleranceMS}} late, the latest {{ms .MaxLagMS}} late ({{.MaxLagActor}}). The scenario's actions ran later and closer together than it scripts, and the verdicts below are judged on that time: {{if eq $clock "real"}}at real time only a less loaded machine or a faster target keeps to it{{else}}a lower speed keeps to it{{end}}.</p>{{end}}{{end}}
{{if .Description}}<p>{{.Description}}</p>{{end}}
<h3>Timeline</h3>
{{.Timeline}}
{{if .Zoom}}<h3>The attack, {{.ZoomFrom}} – {{.ZoomTo}}</h3>
{{.Zoom}}{{end}}
<h3>Verdicts</h3>
<table class="verdicts" id="verdicts-{{.ID}}">
<thead><tr><th>Result</th><th>Rule</th><th>Window</th><th>Time to detect</th><th>Alerts</th><th>Detail</th></tr></thead>
<tbody>{{range .Rows}}
<tr><td class="{{.Class}}">{{.Result}}</td><td>{{.Rule}}</td><td>{{.Window}}</td><td class="num">{{.TTD}}</td><td class="num">{{.Alerts}}</td><td>{{.Detail}}</td></tr>{{else}}
<tr><td colspan="6">No expectations.</td></tr>{{end}}
</tbody></table>
{{$sid := .ID}}<h3>Unexpected alerts ({{.Unexpected}})</h3>
{{if .Noise}}<p class="meta">Alerts no expectation covers (outside every fire expectation's window or group, false positives of a must_not_fire, rules nobody expected), per rule, by who caused them in the ground truth. Open a rule for its alerts and the audit events behind each.</p>
<table class="noise" id="noise-{{.ID}}">
<thead><tr><th>Rule</th><th>Level</th><th>Alerts</th><th>Attacker</th><th>Staff</th><th>Unknown</th></tr></thead>
<tbody>{{range $i, $n := .Noise}}
<tr class="noise-rule"><td class="rule">{{$n.Title}}</td><td>{{$n.Level}}</td><td class="num alerts">{{$n.Noise.Alerts}}</td><td class="num attacker">{{$n.Attacker}}</td><td class="num staff">{{$n.Staff}}</td><td class="num unknown">{{$n.Unknown}}</td></tr>
<tr class="drill"><td colspan="6"><details class="drill" id="drill-{{$sid}}-{{$i}}"><summary>{{$n.Title}}: {{$n.Noise.Alerts}} alert(s) — the events behind each</summary>
{{range $n.Alerts}}<div class="nalert"><strong>{{.Time}}</strong> <span class="attr {{.Attribution}}">{{.Attribution}}</span> {{.Reason}}
<table class="events"><thead><tr><th>Time</th><th>Action</th><th>User</th><th>Source IP</th><th>Outcome</th><th>Event id</th></tr></thead>
<tbody>{{range .Events}}<tr><td>{{.Time}}</td><td>{{.Action}}</td><td>{{.User}}</td><td>{{.SourceIP}}</td><td>{{.Outcome}}</td><td class="id">{{.ID}}</td></tr>{{end}}{{range .Unkept}}<tr><td colspan="5">not recorded by the run</td><td class="id">{{.}}</td></tr>{{end}}{{if .Omitted}}<tr><td colspan="6">and {{.Omitted}} more event(s): their ids are in the JSON report</td></tr>{{end}}</tbody></table></div>
{{end}}</details></td></tr>{{end}}
</tbody></table>
{{else}}<p>None: every alert is covered by an expectation.</p>{{end}}
{{if .Techniques}}<h3>ATT&amp;CK techniques</h3>
<div>{{range .Techniques}}<span class="tech {{if .Detected}}ok{{else}}fail{{end}}" title="{{range .Rules}}{{.}}; {{end}}">{{.Technique}} {{if .Detected}}detected{{else}}missed{{end}}</span>{{end}}</div>{{end}}
{{if .Narrative}}<h3>Narrative</h3>
<pre class="narrative">{{.Narrative}}</pre>{{end}}
</section>
{{end}}
</main>
</body>
</html>
`))
