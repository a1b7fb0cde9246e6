package exercise

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/report"
)

type debriefPage struct {
	Title, Scenario, Date, Played, Speed, Ended string
	Rows                                        []debriefRow
	Injects                                     []debriefInject
	Acks                                        []debriefAck
	Notes                                       []debriefNote
	RunLog                                      []debriefRunNote
	ReportStyle                                 template.CSS
	Report                                      template.HTML
}

type debriefRow struct {
	Rule, Window, Result, RulesTTD, PlayersTTD, OnScreen string
	OK                                                   bool
}

type debriefInject struct {
	Title, Text, Released, Why string
	Questions                  []debriefQuestion
}

type debriefQuestion struct {
	Text, Choices, Expected string
	Answers                 []debriefAnswer
}

type debriefAnswer struct{ Answer, At, After, Correct string }

type debriefAck struct{ N, Title, Alerted, At, After string }

type debriefNote struct{ At, Text string }

type debriefRunNote struct{ At, Actor, Text string }

// Debrief writes the debrief: one self-contained, printable HTML file
// joining the verdicts with the players' time to detect, the injects with
// their answers and response times, the alerts the players took up, the
// facilitator's notes, and the verdict report with its timeline.
func (x *Exercise) Debrief(w io.Writer) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	loc := x.loc()
	hm := func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.In(loc).Format("Mon 15:04:05")
	}
	p := debriefPage{Title: x.sc.Title, Scenario: x.sc.ID, Date: x.started.Format("2006-01-02 15:04 MST"),
		Played: roundDur(x.ended.Sub(x.started)), Speed: fmt.Sprintf("×%g", x.speed), Ended: "the scenario's end"}
	if x.runErr != nil {
		p.Ended = "stopped: " + x.runErr.Error()
	}
	if x.result != nil {
		for _, v := range x.result.Verdicts {
			row := debriefRow{Rule: v.Rule, Result: strings.ToUpper(strings.ReplaceAll(v.Result, "_", " ")), OK: v.OK(),
				Window: hm(v.WindowStart) + " – " + hm(v.WindowEnd), RulesTTD: "—", PlayersTTD: "not taken up", OnScreen: "—"}
			if v.Kind == "must_not_fire" {
				row.PlayersTTD = "—"
			}
			if v.FirstAlert != nil {
				row.RulesTTD = roundDur(v.TTD)
			}
			if v.Kind == "fire" {
				if ack := x.firstAckLocked(v); ack != nil {
					row.PlayersTTD = roundDur(ack.At.Sub(v.WindowStart.Add(-x.minDelay(v))))
					row.OnScreen = roundDur(ack.After)
				}
			}
			p.Rows = append(p.Rows, row)
		}
	}
	for _, in := range x.sc.Injects {
		di := debriefInject{Title: in.Title, Text: in.Text}
		if di.Title == "" {
			di.Title = in.ID
		}
		rec, ok := x.released[in.ID]
		if ok {
			di.Released, di.Why = hm(rec.At), rec.Why
		} else {
			di.Released, di.Why = "not released", x.skipped[in.ID]
		}
		for _, q := range in.Questions {
			dq := debriefQuestion{Text: q.Text, Choices: strings.Join(q.Choices, " · "), Expected: q.Answer}
			for _, a := range x.answers {
				if a.Inject == in.ID && a.Question == q.ID {
					c := map[string]string{"yes": "as expected", "no": "not the expected answer", "": ""}[a.Correct]
					dq.Answers = append(dq.Answers, debriefAnswer{Answer: a.Answer, At: hm(a.At), After: roundDur(a.After), Correct: c})
				}
			}
			di.Questions = append(di.Questions, dq)
		}
		p.Injects = append(p.Injects, di)
	}
	for _, a := range x.acks {
		al := x.alerts[a.Alert-1]
		p.Acks = append(p.Acks, debriefAck{N: fmt.Sprint(a.Alert), Title: al.Alert.Title, Alerted: hm(al.Alert.Time), At: hm(a.At), After: roundDur(a.After)})
	}
	for _, n := range x.notes {
		p.Notes = append(p.Notes, debriefNote{At: hm(n.At), Text: n.Text})
	}
	for _, n := range x.runlog {
		who := n.Actor
		if who == "" {
			who = "the run"
		}
		p.RunLog = append(p.RunLog, debriefRunNote{At: hm(n.At), Actor: who, Text: n.Text})
	}
	if x.result != nil {
		var buf bytes.Buffer
		if err := report.WriteHTML(&buf, report.Build([]report.Run{{Result: x.result, Err: x.runErr, Speed: x.speed, EventTimes: x.result.EventTimes}}, time.Now())); err != nil {
			return err
		}
		style, body := splitPage(buf.String())
		p.ReportStyle, p.Report = template.CSS(style), template.HTML(body)
	}
	return debriefTmpl.Execute(w, p)
}

// minDelay is the expectation's min_delay behind a verdict's window (the
// window opens that long after its anchor).
func (x *Exercise) minDelay(v scenarios.Verdict) time.Duration {
	for _, e := range x.sc.Expect {
		if e.Rule == v.Rule && e.Anchor == v.Anchor && !e.NotFire {
			return e.MinDelay
		}
	}
	return 0
}

// firstAckLocked is the players' first take-up of an alert that counts
// for the verdict (its rule, in its window).
func (x *Exercise) firstAckLocked(v scenarios.Verdict) *ackRec {
	var best *ackRec
	for i := range x.acks {
		a := &x.acks[i]
		al := x.alerts[a.Alert-1].Alert
		if !scenarios.AlertMatches(v.Rule, al) || al.Time.Before(v.WindowStart) || al.Time.After(v.WindowEnd) {
			continue
		}
		if best == nil || a.Wall.Before(best.Wall) {
			best = a
		}
	}
	return best
}

// splitPage takes the style and the body of the verdict report's page.
func splitPage(page string) (style, body string) {
	if i, j := strings.Index(page, "<style>"), strings.Index(page, "</style>"); i >= 0 && j > i {
		style = page[i+len("<style>") : j]
	}
	if i, j := strings.Index(page, "<body>"), strings.LastIndex(page, "</body>"); i >= 0 && j > i {
		body = page[i+len("<body>") : j]
	}
	return style, body
}

var debriefTmpl = template.Must(template.New("debrief").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Exercise debrief: {{.Title}}</title>
<style>
{{.ReportStyle}}
.debrief { font: 16px/1.45 system-ui, sans-serif; color: #1d2430; max-width: 1200px; margin: 0 auto; padding: 0 16px; }
.debrief table { border-collapse: collapse; width: 100%; margin: 8px 0 20px; }
.debrief th, .debrief td { border-bottom: 1px solid #d9dee5; padding: 6px 8px; text-align: left; vertical-align: top; }
.debrief .res-ok { color: #0b5394; font-weight: 700; }
.debrief .res-fail { color: #b45f06; font-weight: 700; }
.debrief .inject { border-left: 6px solid #0072b2; padding: 4px 12px; margin: 12px 0; page-break-inside: avoid; }
.debrief .inject.not { border-left-color: #999; }
.debrief .expected { color: #5f6b7a; }
.report-part { border-top: 3px solid #1d2430; margin-top: 28px; padding-top: 8px; }
@media print { body { font-size: 12pt; } .debrief, .report-part { max-width: none; } a { color: inherit; text-decoration: none; } h2 { page-break-after: avoid; } table, .inject { page-break-inside: avoid; } }
</style>
</head>
<body>
<div class="debrief">
<h1>Exercise debrief: {{.Title}}</h1>
<p>Scenario <code>{{.Scenario}}</code> · played {{.Date}} for {{.Played}} at {{.Speed}} · ended by {{.Ended}}</p>

<h2>Detection: the rules and the players</h2>
<table id="debrief-verdicts"><thead><tr><th>Rule</th><th>Window</th><th>Result</th><th>Time to detect (rules)</th><th>Time to detect (players)</th><th>Alert on screen until taken up</th></tr></thead><tbody>
{{range .Rows}}<tr><td>{{.Rule}}</td><td>{{.Window}}</td><td class="{{if .OK}}res-ok{{else}}res-fail{{end}}">{{if .OK}}✔{{else}}✘{{end}} {{.Result}}</td><td>{{.RulesTTD}}</td><td>{{.PlayersTTD}}</td><td>{{.OnScreen}}</td></tr>
{{else}}<tr><td colspan="6">No verdicts: the run did not produce a result.</td></tr>{{end}}
</tbody></table>
<p class="expected">Time to detect (players): scenario time from the start of the step the expectation watches to the moment the players took up an alert of that rule. On screen: wall time between the alert reaching the players' view and their take-up.</p>

<h2>Injects and answers</h2>
<div id="debrief-injects">
{{range .Injects}}<div class="inject{{if eq .Released "not released"}} not{{end}}">
<h3>{{.Title}}</h3>
<p><strong>Released:</strong> {{.Released}}{{if .Why}} — {{.Why}}{{end}}</p>
<p>{{.Text}}</p>
{{range .Questions}}<p><strong>Q:</strong> {{.Text}}{{if .Choices}} <span class="expected">({{.Choices}})</span>{{end}}{{if .Expected}} <span class="expected">— expected: {{.Expected}}</span>{{end}}</p>
<table class="answers"><thead><tr><th>Answer</th><th>Scenario time</th><th>Response time</th><th>Check</th></tr></thead><tbody>
{{range .Answers}}<tr><td>{{.Answer}}</td><td>{{.At}}</td><td>{{.After}}</td><td>{{.Correct}}</td></tr>{{else}}<tr><td colspan="4">no answer</td></tr>{{end}}
</tbody></table>
{{end}}</div>
{{else}}<p>The scenario has no injects.</p>{{end}}
</div>

<h2>Alerts the players took up</h2>
<table id="debrief-acks"><thead><tr><th>#</th><th>Alert</th><th>Fired (scenario)</th><th>Taken up (scenario)</th><th>On screen for</th></tr></thead><tbody>
{{range .Acks}}<tr><td>{{.N}}</td><td>{{.Title}}</td><td>{{.Alerted}}</td><td>{{.At}}</td><td>{{.After}}</td></tr>
{{else}}<tr><td colspan="5">none</td></tr>{{end}}
</tbody></table>

<h2>Facilitator's notes</h2>
<table id="debrief-notes"><tbody>
{{range .Notes}}<tr><td>{{.At}}</td><td>{{.Text}}</td></tr>{{else}}<tr><td>none</td></tr>{{end}}
</tbody></table>

<h2>What the run noted</h2>
<table id="debrief-runlog"><tbody>
{{range .RunLog}}<tr><td>{{.At}}</td><td>{{.Actor}}</td><td>{{.Text}}</td></tr>{{else}}<tr><td>nothing</td></tr>{{end}}
</tbody></table>
</div>
<div class="report-part">
{{.Report}}
</div>
</body>
</html>
`))
