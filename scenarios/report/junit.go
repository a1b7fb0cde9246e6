package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/maildrill/maildrill/internal/termsafe"
	"github.com/maildrill/maildrill/scenarios"
)

// JUnit XML: the structure of the Jenkins/Ant junit-10.xsd that GitLab,
// Jenkins and the GitHub test reporters read. One testsuite per scenario,
// one testcase per expectation; a missed, early, late, too_many or
// false_positive verdict is a <failure> whose type is the result; a blind
// verdict (blind_on: the run's telemetry cannot see the technique) is
// <skipped> with the reason as its message; a run
// that stopped on an error adds a testcase "run" with an <error>. The
// time to detect is in each testcase's <properties> (an optional element
// that pytest and Surefire also write) and in its system-out. A noise
// budget (or --fail-on-noise) is a testcase too, failed with type
// "noisy"; the unexpected alerts, per rule with their attribution and
// events, are in each testsuite's system-out after the narrative.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	ID         int             `xml:"id,attr"`
	Package    string          `xml:"package,attr"`
	File       string          `xml:"file,attr,omitempty"`
	Properties *junitProps     `xml:"properties,omitempty"`
	Cases      []junitTestcase `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out,omitempty"`
}

// junitText is element text written as CDATA, so that line breaks stay
// line breaks.
type junitText struct {
	Text string `xml:",cdata"`
}

func text(s string) *junitText {
	if s == "" {
		return nil
	}
	return &junitText{xmlChars(s)}
}

// xmlChars writes the characters XML 1.0 forbids even in CDATA (C0
// controls but tab and line feed, U+FFFE, U+FFFF, bytes that are not
// UTF-8) as Go escapes (\x01), as the terminal report does (termsafe,
// which also escapes C1 controls and bidirectional overrides): a rule
// title or a value from an event that held one made the whole report
// unreadable to a CI's JUnit parser. Attributes need nothing:
// encoding/xml replaces those characters there.
func xmlChars(s string) string {
	s = termsafe.Lines(s)
	if strings.ContainsAny(s, "\ufffe\uffff") {
		s = strings.NewReplacer("\ufffe", `\ufffe`, "\uffff", `\uffff`).Replace(s)
	}
	return s
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestcase struct {
	Name       string        `xml:"name,attr"`
	Classname  string        `xml:"classname,attr"`
	Time       string        `xml:"time,attr"`
	Properties *junitProps   `xml:"properties,omitempty"`
	Error      *junitProblem `xml:"error,omitempty"`
	Failure    *junitProblem `xml:"failure,omitempty"`
	Skipped    *junitSkipped `xml:"skipped,omitempty"`
	SystemOut  *junitText    `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// junitSkipped marks a testcase skipped: a blind verdict (the run's
// telemetry cannot see the technique).
type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

// CaseName is the testcase name of a verdict: stable across runs (no
// times, no line numbers) so that CI systems can follow it over builds.
func CaseName(v Verdict) string {
	if v.Kind == "noise" {
		if v.Rule == "*" {
			return "unexpected alerts of all rules stay within the noise budget"
		}
		return fmt.Sprintf("%s stays within its noise budget", v.Rule)
	}
	if v.Kind == "must_not_fire" {
		return fmt.Sprintf("%s must not fire", v.Rule)
	}
	if v.Kind == scenarios.KindPace {
		return "the run keeps to its clock"
	}
	anchor := v.Anchor
	if anchor == "" {
		anchor = "start"
	}
	return fmt.Sprintf("%s fires after %s", v.Rule, anchor)
}

// unexpected counts the scenario's unexpected alerts.
func unexpected(s Scenario) int {
	n := 0
	for _, r := range s.Noise {
		n += r.Alerts
	}
	return n
}

// NoiseText lists the scenario's unexpected alerts per rule, with their
// attribution; with events, each alert's time, attribution, reason and
// event ids. "" when there is none.
func NoiseText(s Scenario, events bool) string {
	if len(s.Noise) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Unexpected alerts (no expectation covers them): %d\n", unexpected(s))
	for _, r := range s.Noise {
		fmt.Fprintf(&b, "  %s: %d (attacker %d, staff %d, unknown %d)\n", r.Title, r.Alerts, r.Attacker, r.Staff, r.Unknown)
		if !events {
			continue
		}
		for _, it := range r.Items {
			fmt.Fprintf(&b, "    %s %s: %s; events %s\n", it.Time.Format(time.RFC3339), it.Attribution, it.Reason, strings.Join(it.EventIDs, " "))
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// WriteJUnit writes the report as JUnit XML.
func WriteJUnit(w io.Writer, rep *Report) error {
	out := junitSuites{Name: "maildrill"}
	var total time.Duration
	for i, s := range rep.Scenarios {
		wall := time.Duration(s.WallMS) * time.Millisecond
		total += wall
		js := junitSuite{Name: s.ID, Time: secs(wall), ID: i, Package: "maildrill", File: s.File,
			Timestamp: rep.Generated.UTC().Format("2006-01-02T15:04:05")}
		props := []junitProp{{"title", s.Title}, {"clock", s.Clock}}
		if s.RunID != "" {
			props = append(props, junitProp{"run_id", s.RunID})
		}
		if len(s.Attack) > 0 {
			props = append(props, junitProp{"attack", strings.Join(s.Attack, ",")})
		}
		props = append(props, junitProp{"scenario_start", s.Start.Format(time.RFC3339)}, junitProp{"scenario_time", s.End.Sub(s.Start).String()},
			junitProp{"actions", strconv.Itoa(s.Actions)}, junitProp{"events", strconv.Itoa(s.Events)},
			junitProp{"alerts", strconv.Itoa(len(s.Alerts))}, junitProp{"unexpected_alerts", strconv.Itoa(unexpected(s))})
		warn := ""
		if p := s.Pace; p != nil {
			props = append(props, junitProp{"timed_actions", strconv.Itoa(p.Timed)}, junitProp{"late_actions", strconv.Itoa(p.Late)},
				junitProp{"max_lag", (time.Duration(p.MaxLagMS) * time.Millisecond).String()})
			sp := &scenarios.Pace{Speed: s.Speed, Timed: p.Timed, Late: p.Late, MaxLag: time.Duration(p.MaxLagMS) * time.Millisecond, MaxLagActor: p.MaxLagActor}
			if p.MaxLagDue != nil {
				sp.MaxLagDue = *p.MaxLagDue
			}
			warn = PaceWarning(sp, nil)
		}
		js.Properties = &junitProps{props}
		seen := map[string]int{}
		for _, v := range s.Verdicts {
			name := CaseName(v)
			seen[name]++
			if n := seen[name]; n > 1 {
				name = fmt.Sprintf("%s #%d", name, n)
			}
			tc := junitTestcase{Name: name, Classname: "maildrill." + s.ID, Time: "0.000"}
			cp := []junitProp{{"result", v.Result}, {"kind", v.Kind},
				{"window_start", v.WindowStart.Format(time.RFC3339)}, {"window_end", v.WindowEnd.Format(time.RFC3339)},
				{"alerts", strconv.Itoa(v.Alerts)}, {"line", strconv.Itoa(v.Line)}}
			var outText []string
			if v.TTDMS != nil {
				ttd := time.Duration(*v.TTDMS) * time.Millisecond
				cp = append(cp, junitProp{"time_to_detect", ttd.String()}, junitProp{"time_to_detect_seconds", secs(ttd)})
				outText = append(outText, "time to detect: "+ttd.String()+" (scenario time)")
				if v.TTDWallMS != nil {
					wttd := time.Duration(*v.TTDWallMS) * time.Millisecond
					cp = append(cp, junitProp{"time_to_detect_wall_seconds", secs(wttd)})
					outText = append(outText, "time to detect: "+wttd.String()+" (wall time)")
				}
			}
			if v.FirstAlert != nil {
				cp = append(cp, junitProp{"first_alert", v.FirstAlert.Format(time.RFC3339)})
			}
			tc.Properties = &junitProps{cp}
			outText = append(outText, fmt.Sprintf("%s: %d alert(s) in the window %s – %s", v.Result, v.Alerts,
				v.WindowStart.Format(time.RFC3339), v.WindowEnd.Format(time.RFC3339)))
			if v.Detail != "" {
				outText = append(outText, v.Detail)
			}
			tc.SystemOut = text(strings.Join(outText, "\n"))
			if v.Result == "blind" {
				tc.Skipped = &junitSkipped{Message: "blind: " + v.Detail}
				js.Skipped++
			}
			if !v.Passed {
				msg := v.Result
				if v.Detail != "" {
					msg += ": " + v.Detail
				}
				where := fmt.Sprintf("%s:%d", s.File, v.Line)
				tc.Failure = &junitProblem{Message: msg, Type: v.Result, Text: xmlChars(where + ": " + CaseName(v) + " — " + msg)}
				js.Failures++
			}
			js.Cases = append(js.Cases, tc)
		}
		if s.Error != "" {
			js.Cases = append(js.Cases, junitTestcase{Name: "run", Classname: "maildrill." + s.ID, Time: secs(wall),
				Error: &junitProblem{Message: s.Error, Type: "run_error", Text: xmlChars(s.Error)}})
			js.Errors++
		}
		js.Tests = len(js.Cases)
		var parts []string
		for _, p := range []string{warn, strings.TrimSpace(s.Narrative), NoiseText(s, true)} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		js.SystemOut = text(strings.Join(parts, "\n\n"))
		out.Tests += js.Tests
		out.Failures += js.Failures
		out.Errors += js.Errors
		out.Suites = append(out.Suites, js)
	}
	out.Time = secs(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing the JUnit report: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}
