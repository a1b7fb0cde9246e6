// Package exercise runs a scenario as a live tabletop exercise: the
// scenario plays on a clock a facilitator steers (start, pause, resume,
// speed, skip, end) while two web views follow it — the facilitator's,
// with the ground truth, the injects to come, the alerts with their
// verdicts and the players' answers, and the players' (SOC) view, with
// only what a SOC would have: alerts and the raw audit trail, and the
// injects as they are released. At the end a debrief joins the verdict
// report, the injects, the answers and the facilitator's notes in one
// HTML file.
package exercise

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/run"
)

// Config describes an exercise.
type Config struct {
	Scenario *scenarios.Scenario
	// Run are the run's options (target, rules, allowed targets ...);
	// Control, the hooks and RunID are the exercise's own.
	Run run.Options
	// Speed is scenario seconds per wall second; Duration, when set
	// instead, is the wall time the whole scenario should take.
	Speed    float64
	Duration time.Duration
	// FacilitatorToken and SOCToken open the two views; generated when
	// empty.
	FacilitatorToken, SOCToken string
	// AutoStart starts the scenario clock at once; otherwise it waits for
	// the facilitator's start.
	AutoStart bool
	Logger    *slog.Logger
}

// Exercise is one running exercise.
type Exercise struct {
	sc      *scenarios.Scenario
	cfg     Config
	ctl     *run.Control
	fac     *stream
	soc     *stream
	log     *slog.Logger
	started time.Time // wall
	ended   time.Time // wall

	mu        sync.Mutex
	state     string // ready, running, paused, ended
	speed     float64
	steps     map[string]time.Time // step id → first start (scenario time)
	actors    map[string]string    // scripted actor → what it does now
	alerts    []alertRec
	released  map[string]*releaseRec
	skipped   map[string]string // inject id → why it was never released
	answers   []answerRec
	acks      []ackRec
	notes     []noteRec
	runlog    []runNote // what the run said of itself (kind info, pace)
	staffActs int
	events    int
	result    *scenarios.Result
	runErr    error
	done      chan struct{}
}

type alertRec struct {
	N       int
	Alert   detectors.Alert
	Wall    time.Time
	Verdict string
}

type releaseRec struct {
	N      int
	Inject *scenarios.Inject
	At     time.Time // scenario time
	Wall   time.Time
	Why    string
}

type answerRec struct {
	Inject   string
	Question string
	Answer   string
	Correct  string // yes, no, "" (no expected answer)
	At       time.Time
	Wall     time.Time
	After    time.Duration // wall time since the inject's release
}

type ackRec struct {
	Alert int
	At    time.Time
	Wall  time.Time
	After time.Duration // wall time since the alert was shown
}

type noteRec struct {
	Text string
	At   time.Time
	Wall time.Time
}

// runNote is something the run said of itself while it played: a valid
// password found, an actor's budget spent, a step skipped, the run falling
// behind its clock. The facilitator's view lists them as they come (the
// actors table shows only each actor's latest line), and the debrief keeps
// them.
type runNote struct {
	At    time.Time // scenario time
	Actor string    // "" for the run itself
	Kind  string
	Text  string
}

// New prepares an exercise; Run plays it.
func New(cfg Config) (*Exercise, error) {
	sc := cfg.Scenario
	if sc == nil {
		return nil, errors.New("exercise: no scenario")
	}
	speed := cfg.Speed
	if cfg.Duration > 0 {
		if speed > 0 {
			return nil, errors.New("--speed and --duration both set: give one")
		}
		speed = float64(sc.Env.Duration) / float64(cfg.Duration)
		if clock.CheckFactor(speed) != nil {
			return nil, fmt.Errorf("--duration %s plays %s of scenario at ×%.3g: want a speed from ×%v to ×%v, a duration from %s to %s",
				cfg.Duration, sc.Env.Duration, speed, clock.MinFactor, int(clock.MaxFactor),
				time.Duration(float64(sc.Env.Duration)/clock.MaxFactor).Round(time.Millisecond), time.Duration(float64(sc.Env.Duration)/clock.MinFactor).Round(time.Second))
		}
	}
	if speed <= 0 {
		speed = 1
	}
	ctl, err := run.NewControl(sc.Env.Start, speed)
	if err != nil {
		return nil, err
	}
	for _, tok := range []*string{&cfg.FacilitatorToken, &cfg.SOCToken} {
		if *tok == "" {
			*tok = newToken()
		}
	}
	if cfg.FacilitatorToken == cfg.SOCToken {
		return nil, errors.New("the facilitator's and the players' tokens must differ")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &Exercise{sc: sc, cfg: cfg, ctl: ctl, fac: newStream(), soc: newStream(), log: log, state: "ready", speed: speed,
		steps: map[string]time.Time{}, actors: map[string]string{}, released: map[string]*releaseRec{}, skipped: map[string]string{},
		done: make(chan struct{})}
	return x, nil
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Tokens returns the facilitator's and the players' access tokens.
func (x *Exercise) Tokens() (facilitator, soc string) {
	return x.cfg.FacilitatorToken, x.cfg.SOCToken
}

// Speed is the current clock speed.
func (x *Exercise) Speed() float64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.speed
}

// Done is closed when the run has ended.
func (x *Exercise) Done() <-chan struct{} { return x.done }

// Result is the judged run once it ended (nil before), and the error the
// run ended with (a stop by the facilitator: "run stopped").
func (x *Exercise) Result() (*scenarios.Result, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.result, x.runErr
}

// Run plays the scenario until it ends, the facilitator ends it or ctx is
// cancelled.
func (x *Exercise) Run(ctx context.Context) (*scenarios.Result, error) {
	opts := x.cfg.Run
	opts.Control = x.ctl
	opts.RunID = "exercise"
	progress := opts.Progress
	opts.Progress = func(n run.Note) {
		if progress != nil {
			progress(n)
		}
		x.onNote(n)
	}
	opts.OnEvent = x.onEvent
	opts.OnAlert = x.onAlert
	opts.OnTruth = x.onTruth
	x.started = time.Now()
	x.publishClock()
	if x.cfg.AutoStart {
		x.control("start", 0)
	}
	tickCtx, stopTick := context.WithCancel(ctx)
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		x.ticker(tickCtx)
	}()
	res, err := run.Run(ctx, x.sc, opts)
	stopTick()
	<-tickDone
	x.finish(res, err)
	return res, err
}

func (x *Exercise) loc() *time.Location { return x.sc.Env.Location }

// ticker publishes the clock and releases injects that are due.
func (x *Exercise) ticker(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		x.releaseDue()
		if n++; n%4 == 0 {
			x.publishClock()
		}
	}
}

func (x *Exercise) onNote(n run.Note) {
	if n.Kind != "step" && n.Kind != "info" && n.Kind != "progress" && n.Kind != "pace" {
		return
	}
	x.mu.Lock()
	if n.Kind == "step" && n.Step != "" {
		if _, ok := x.steps[n.Step]; !ok {
			x.steps[n.Step] = n.Time
		}
	}
	staff := n.Actor != "" && x.isStaff(n.Actor)
	if n.Actor != "" && !staff {
		x.actors[n.Actor] = n.Text
	}
	if n.Kind == "info" && !staff || n.Kind == "pace" {
		x.runlog = append(x.runlog, runNote{At: n.Time, Actor: n.Actor, Kind: n.Kind, Text: n.Text})
	}
	x.mu.Unlock()
	if staff {
		return
	}
	x.fac.publish("note", map[string]any{"t": stamp(n.Time, x.loc()), "actor": n.Actor, "kind": n.Kind, "step": n.Step, "text": n.Text,
		"count": n.Count, "total": n.Total, "bytes": n.Bytes})
	if n.Kind == "step" {
		x.releaseDue()
	}
}

// isStaff tells a staff member ("staff/address") from a scripted actor.
func (x *Exercise) isStaff(actor string) bool {
	for _, a := range x.sc.Actors {
		if a.Kind == "staff" && len(actor) > len(a.ID) && actor[:len(a.ID)+1] == a.ID+"/" {
			return true
		}
	}
	return false
}

func (x *Exercise) onTruth(t scenarios.TruthRecord) {
	if t.Role == "staff" {
		x.mu.Lock()
		x.staffActs++
		x.mu.Unlock()
		return
	}
	x.fac.publish("truth", map[string]any{"t": stamp(t.Time, x.loc()), "actor": t.Actor, "step": t.Step, "action": t.Action,
		"outcome": t.Outcome, "user": t.User, "mailbox": t.Mailbox, "count": t.Count, "bytes": t.Bytes, "src": t.SourceIP})
}

func (x *Exercise) onEvent(e audit.Event) {
	x.mu.Lock()
	x.events++
	x.mu.Unlock()
	x.soc.publish("event", socEventOf(e, x.loc()))
}

func (x *Exercise) onAlert(a detectors.Alert) {
	wall := time.Now()
	x.mu.Lock()
	n := len(x.alerts) + 1
	v := x.liveVerdictLocked(a)
	x.alerts = append(x.alerts, alertRec{N: n, Alert: a, Wall: wall, Verdict: v})
	x.mu.Unlock()
	x.soc.publish("alert", socAlertOf(n, a, x.loc(), wall))
	x.fac.publish("alert", map[string]any{"n": n, "t": stamp(a.Time, x.loc()), "title": a.Title, "level": a.Level,
		"group": a.Group, "events": len(a.EventIDs), "verdict": v})
	x.releaseDue()
}

// liveVerdictLocked says, as the alert fires, what the expectations make
// of it: in an expected window, early, late, a must-not-fire breach, or
// not expected. The debrief carries the final verdicts.
func (x *Exercise) liveVerdictLocked(a detectors.Alert) string {
	verdict := "not expected"
	for _, e := range x.sc.Expect {
		if !scenarios.AlertMatches(e.Rule, a) {
			continue
		}
		if e.NotFire {
			from, to := x.sc.Env.Start.Add(e.From), x.sc.Env.Start.Add(e.To)
			if e.To == 0 {
				to = x.sc.Env.Start.Add(x.sc.Env.Duration)
			}
			if !a.Time.Before(from) && !a.Time.After(to) {
				return "must not fire: false positive"
			}
			continue
		}
		anchor := x.sc.Env.Start
		if e.Anchor != "" {
			t, ok := x.steps[e.Anchor]
			if !ok {
				verdict = "early (before " + e.Anchor + ")"
				continue
			}
			anchor = t
		}
		d := a.Time.Sub(anchor)
		switch {
		case d < e.MinDelay:
			verdict = "early"
		case d > e.MaxDelay:
			verdict = "late (" + roundDur(d) + " after " + orStart(e.Anchor) + ")"
		default:
			return "expected: " + roundDur(d) + " after " + orStart(e.Anchor)
		}
	}
	return verdict
}

func orStart(s string) string {
	if s == "" {
		return "the start"
	}
	return s
}

func roundDur(d time.Duration) string {
	if d < 0 {
		return "-" + roundDur(-d)
	}
	return d.Round(time.Second).String()
}

// control applies a facilitator's command.
func (x *Exercise) control(action string, speed float64) (string, error) {
	x.mu.Lock()
	state := x.state
	x.mu.Unlock()
	if state == "ended" {
		return "", fmt.Errorf("the exercise has ended")
	}
	var msg string
	switch action {
	case "start", "resume":
		if !x.ctl.Resume() {
			return "", fmt.Errorf("%s: the clock is already running", action)
		}
		x.setState("running")
		msg = action
	case "pause":
		if !x.ctl.Pause() {
			return "", fmt.Errorf("pause: the clock is not running")
		}
		x.setState("paused")
		msg = "pause"
	case "speed":
		if speed <= 0 || speed > 100000 {
			return "", fmt.Errorf("speed %v: want a number above 0 and at most 100000", speed)
		}
		if err := x.ctl.SetSpeed(speed); err != nil {
			return "", err
		}
		x.mu.Lock()
		x.speed = speed
		x.mu.Unlock()
		msg = fmt.Sprintf("speed ×%g", speed)
	case "skip":
		t, err := x.ctl.Skip()
		if err != nil {
			return "", err
		}
		msg = "skip to " + stamp(t, x.loc())
	case "end":
		x.ctl.End()
		msg = "end"
	default:
		return "", fmt.Errorf("unknown action %q: start, pause, resume, speed, skip or end", action)
	}
	x.fac.publish("control", map[string]any{"t": stamp(x.ctl.Clock().Now(), x.loc()), "action": msg})
	x.publishClock()
	return msg, nil
}

func (x *Exercise) setState(s string) {
	x.mu.Lock()
	x.state = s
	x.mu.Unlock()
}

func (x *Exercise) publishClock() {
	now := x.ctl.Clock().Now()
	x.mu.Lock()
	state, speed, staff, events := x.state, x.speed, x.staffActs, x.events
	actors := map[string]string{}
	for k, v := range x.actors {
		actors[k] = v
	}
	x.mu.Unlock()
	x.soc.publish("clock", socClock{Time: stamp(now, x.loc()), State: state})
	next := ""
	if t := x.ctl.Next(); !t.IsZero() {
		next = stamp(t, x.loc())
	}
	x.fac.publish("clock", map[string]any{"t": stamp(now, x.loc()), "state": state, "speed": speed, "actors": actors,
		"staff_actions": staff, "events": events, "upcoming": x.upcoming(now), "next": next})
}

// note records a facilitator's note.
func (x *Exercise) note(text string) noteRec {
	n := noteRec{Text: text, At: x.ctl.Clock().Now(), Wall: time.Now()}
	x.mu.Lock()
	x.notes = append(x.notes, n)
	x.mu.Unlock()
	x.fac.publish("fnote", map[string]any{"t": stamp(n.At, x.loc()), "text": text})
	return n
}

// refused records a refused request on the facilitator's log.
func (x *Exercise) refused(what, why, remote string) {
	x.log.Warn("exercise: refused", "what", what, "why", why, "remote", remote)
	x.fac.publish("refused", map[string]any{"wall": time.Now().Format(time.RFC3339), "what": what, "why": why, "remote": remote})
}

func (x *Exercise) finish(res *scenarios.Result, err error) {
	x.releaseDue()
	x.mu.Lock()
	x.result, x.runErr = res, err
	x.state = "ended"
	x.ended = time.Now()
	for _, in := range x.sc.Injects {
		if _, ok := x.released[in.ID]; !ok {
			if _, ok := x.skipped[in.ID]; !ok {
				x.skipped[in.ID] = "its condition did not come before the end"
			}
		}
	}
	x.mu.Unlock()
	x.publishClock()
	summary := map[string]any{"t": stamp(x.ctl.Clock().Now(), x.loc())}
	if err != nil {
		summary["stopped"] = err.Error()
	}
	if res != nil {
		var vs []map[string]any
		for _, v := range res.Verdicts {
			vs = append(vs, map[string]any{"rule": v.Rule, "result": v.Result, "anchor": v.Anchor, "ttd": roundDur(v.TTD)})
		}
		summary["verdicts"] = vs
	}
	x.fac.publish("end", summary)
	x.soc.publish("end", map[string]any{"t": stamp(x.ctl.Clock().Now(), x.loc())})
	close(x.done)
}
