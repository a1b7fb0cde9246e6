package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/internal/syslogsend"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/remote"
	"github.com/maildrill/maildrill/mailsim/target"
	"github.com/maildrill/maildrill/scenarios"
)

// Options tune a run.
type Options struct {
	// Target overrides the scenario's target (embedded).
	Target string
	// Seed, when non-zero, overrides the corpus seed.
	Seed int64
	// Speed, when non-zero, runs the clock scaled by Speed instead of the
	// scenario's clock mode.
	Speed float64
	// OneAtATime runs every action alone on the virtual clock. By default
	// the embedded target's independent staff actions run side by side
	// (side.go), to the same trail and truth.
	OneAtATime bool
	// RunID marks the run (labels.run_id, and the attackers' client
	// identity). Default: derived from the scenario id and seed.
	RunID string
	// AllowTargets are outside hosts the user allows attacks on
	// (--allow-target: host, IP, CIDR or host:port).
	AllowTargets *remote.Allow
	// Remote is the remote target's file and warm-up (Target "remote";
	// its Allow is AllowTargets).
	Remote *target.RemoteSpec
	// Rules are the detection rules; nil runs the built-in pack.
	Rules []*sigma.Rule
	// RulesConfig configures the engine (placeholders, the time modifiers'
	// zone); nil is the built-in pack's (rulepack.Config). A rules
	// directory brings its own (rulepack.ConfigFS reads its pack.yml).
	RulesConfig *detectors.Config
	// Events and Truth, when set, receive the audit events and the ground
	// truth as JSON lines.
	Events io.Writer
	Truth  io.Writer
	// Syslog, when set, receives the audit trail as Dovecot and Postfix
	// mail-log lines, streamed during the run (for SIEM ingestion).
	Syslog io.Writer
	// SyslogTo, when set, receives the same lines as RFC 5424 messages
	// for a network syslog receiver (APP-NAME dovecot, postfix/smtpd ...);
	// it never makes the run wait, and it is shared by every run of a
	// command and closed by its owner.
	SyslogTo *syslogsend.Sender
	// Progress receives timeline notes as the run goes; nil is quiet.
	Progress func(Note)
	// WallDeadline bounds the run in wall time (0: none).
	WallDeadline time.Duration
	Logger       *slog.Logger
	// CertDir is where the target's CA is written (default: temporary).
	CertDir string
	// CorpusCacheDir keeps generated attachments between runs. "": the
	// embedded target keeps them for this run only, in a temporary
	// directory (each document is rendered once, and memory holds only
	// those in use).
	CorpusCacheDir string
	// DovecotProfile is the logging profile of the dovecot target: stock
	// or enhanced (default).
	DovecotProfile string
	// Version is the maildrill version, for the recording header of the
	// truth log.
	Version string
	// Control, when set, steers the run (exercise mode): its clock
	// replaces the scenario's, and it can pause, resume, change speed,
	// skip ahead and end the run.
	Control *Control
	// OnEvent, OnAlert and OnTruth, when set, see every audit event, alert
	// and ground-truth record as it happens (from the goroutine that
	// records it; they must not block).
	OnEvent func(audit.Event)
	OnAlert func(detectors.Alert)
	OnTruth func(scenarios.TruthRecord)
}

// Note is a timeline entry for live display.
type Note struct {
	Time  time.Time
	Actor string
	Kind  string // step, alert, info, progress, pace (the run is falling behind its clock)
	Text  string
	Bytes int64
	Count int
	Total int
	// Step is the id of the step a "step" note starts ("" when it has
	// none).
	Step string
}

type runner struct {
	sc     *scenarios.Scenario
	opts   Options
	runID  string
	clk    clock.Clock
	sched  *scheduler
	target target.Target
	engine *detectors.Engine
	log    *slog.Logger

	mu        sync.Mutex
	truth     []scenarios.TruthRecord
	spans     map[string]scenarios.Span
	alerts    []detectors.Alert
	nEvents   int
	times     []time.Time
	side      *sideBySide                         // nil: actions one at a time (or on a wall clock, as they come)
	heldTruth audit.Staged[scenarios.TruthRecord] // side by side: truth records waiting for their turn
	taken     []scenarios.TruthRecord             // commitTruth's scratch (under the scheduler's lock)
	sessions  map[string]chan struct{}            // source ip:port → closed when the session's end event arrives
	ended     map[string]bool
	events    *scenarios.EventTable
	writeErr  error
	evEnc     *json.Encoder
	trEnc     *json.Encoder

	blobs blobs // files staff members keep for later

	// pace is how actors keep to a wall clock: scaled, real or steered by
	// an operator (nil on the virtual clock); under mu.
	pace *scenarios.Pace
}

// Run executes a scenario: starts its target, replays every actor, runs
// the rules over the audit trail and judges the expectations.
func Run(ctx context.Context, sc *scenarios.Scenario, opts Options) (*scenarios.Result, error) {
	env := sc.Env
	if opts.Seed != 0 {
		env.Seed = opts.Seed
	}
	if opts.Target != "" {
		env.Target = opts.Target
	}
	runID := opts.RunID
	if runID == "" {
		runID = newRunID(sc.ID, env.Seed, env.Target)
	}
	var clk clock.Clock
	switch {
	case opts.Control != nil:
		clk = opts.Control.clk
	case opts.Speed > 0:
		sc, err := clock.NewScaled(env.Start, opts.Speed)
		if err != nil {
			return nil, err
		}
		clk = sc
	case env.Clock == "scaled":
		sc, err := clock.NewScaled(env.Start, env.Speed)
		if err != nil {
			return nil, err
		}
		clk = sc
	case env.Clock == "real":
		c, _ := clock.NewScaled(env.Start, 1)
		clk = c
	default:
		clk = clock.NewVirtual(env.Start)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &runner{sc: sc, opts: opts, runID: runID, clk: clk, sched: newScheduler(clk), log: log,
		spans: map[string]scenarios.Span{}, sessions: map[string]chan struct{}{}, ended: map[string]bool{},
		events: scenarios.NewEventTable(runID)}
	switch c := clk.(type) {
	case *clock.Scaled:
		r.pace = &scenarios.Pace{Speed: c.Factor()}
	case *clock.Controlled:
		r.pace = &scenarios.Pace{Speed: c.Factor()}
	}
	if opts.Events != nil {
		r.evEnc = json.NewEncoder(opts.Events)
		r.evEnc.SetEscapeHTML(false)
	}
	if opts.Truth != nil {
		r.trEnc = json.NewEncoder(opts.Truth)
		r.trEnc.SetEscapeHTML(false)
	}

	// Rules, and the expectations resolved against them before anything
	// runs. An empty, non-nil Rules is a run whose alerts come from
	// outside (test --no-engine): its expectations name the outside
	// system's rules and cannot be resolved here.
	rules, err := scenarios.RulesOrPack(opts.Rules)
	if err != nil {
		return nil, err
	}
	eng, err := newEngine(rules, opts.RulesConfig)
	if err != nil {
		return nil, err
	}
	if len(rules) > 0 {
		if err := scenarios.Resolve(sc, rules); err != nil {
			return nil, err
		}
	}
	// The accounts, folders, file types and recipients the steps name,
	// against the organisation this seed generates (every target serves
	// it).
	if env.Target == "remote" {
		if opts.Remote == nil || opts.Remote.File == nil {
			return nil, errors.New("the remote target needs a remote file (--remote FILE)")
		}
		if err := scenarios.ResolveRemote(sc, target.RemoteOrg(opts.Remote.File)); err != nil {
			return nil, err
		}
	} else if err := scenarios.ResolveOrg(sc, env.Seed); err != nil {
		return nil, err
	}
	r.engine = eng
	hdr := scenarios.RecordingHeader{Format: scenarios.RecordingFormat, RunID: runID, ScenarioID: sc.ID, ScenarioSHA256: sc.SHA256,
		ScenarioFile: sc.File, Seed: env.Seed, Target: env.Target, Version: opts.Version,
		RulesSHA256: scenarios.RulesSHA256(rules), Rules: len(rules), Trailer: true}
	if env.Target == "dovecot" {
		hdr.DovecotProfile = opts.DovecotProfile
	}
	if env.Target == "remote" && opts.Remote != nil && opts.Remote.File != nil && opts.Remote.File.Logs != nil {
		// The logging the remote file declares: what blind_on is judged by.
		hdr.DovecotProfile = opts.Remote.File.Logs.Profile
	}
	if r.trEnc != nil {
		// The recording header, first line of the run's truth.
		if err := r.trEnc.Encode(hdr); err != nil {
			return nil, fmt.Errorf("writing the truth log: %w", err)
		}
	}

	// Target.
	switch env.Target {
	case "embedded", "docker", "dovecot", "remote":
	default:
		return nil, fmt.Errorf("unknown target %q: use embedded, docker, dovecot or remote", env.Target)
	}
	if (env.Target == "dovecot" || env.Target == "remote") && env.Throttle.Enabled() {
		return nil, fmt.Errorf("%s: environment.auth_throttling is mailsim's (embedded and docker targets); on the %s target the server's own throttling applies", sc.ID, env.Target)
	}
	certDir := opts.CertDir
	if certDir == "" {
		d, err := os.MkdirTemp("", "maildrill-run-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		certDir = d
	}
	corpusDir := opts.CorpusCacheDir
	if corpusDir == "" && env.Target == "embedded" {
		d, err := os.MkdirTemp("", "maildrill-corpus-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		corpusDir = d
	}
	wall0 := time.Now()
	info := func(s string) { r.note(Note{Time: clk.Now(), Kind: "info", Text: s}) }
	spec := target.Spec{Kind: env.Target, Seed: env.Seed, Users: env.Users, Messages: env.Messages,
		AllowPlaintext: env.AllowPlaintext, Throttle: env.Throttle, Clock: clk, Start: env.Start, RunID: runID,
		CertDir: certDir, CorpusCacheDir: corpusDir, Note: info, Clients: concurrentClients(sc, clk), Actors: actorCount(sc)}
	lookahead, side := sideBySideFits(sc, env, clk, opts)
	if side {
		spec.Clients = sideBySideMax()
	}
	if env.Target == "dovecot" {
		spec.DovecotProfile = opts.DovecotProfile
	}
	if env.Target == "remote" {
		rs := *opts.Remote
		rs.Allow = opts.AllowTargets
		spec.Remote = &rs
	}
	tgt, err := target.Start(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("starting the %s target: %w", env.Target, err)
	}
	r.target = tgt
	if side {
		r.side = newSideBySide(r, tgt.Events(), lookahead)
		tgt.Events().SetStager(r.side)
		r.sched.par = r.side
	}
	sub := tgt.Events().Subscribe()
	pumpDone := make(chan error, 1)
	go func() { pumpDone <- r.pump(sub) }()

	if opts.WallDeadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.WallDeadline)
		defer cancel()
	}
	if opts.Control != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		opts.Control.attach(r.sched, cancel)
	}
	actErr := r.runActors(ctx, env)
	if r.side != nil {
		r.log.Debug("side by side", "actions", r.side.stats())
	}
	r.blobs.close()

	// Stop the servers (sessions end, their events are published), then
	// drain the trail into the rules.
	closeErr := tgt.Close()
	pumpErr := <-pumpDone
	r.mu.Lock()
	flushed := r.engine.Flush()
	r.alerts = append(r.alerts, flushed...)
	r.mu.Unlock()
	if opts.OnAlert != nil {
		for _, a := range flushed {
			opts.OnAlert(a)
		}
	}

	if r.trEnc != nil {
		// The trailer, last line of the run's truth: how many events the
		// run wrote and how it kept to its clock, for replay to judge as
		// this run does, and to tell a cut events log.
		r.mu.Lock()
		if r.writeErr == nil {
			r.writeErr = r.trEnc.Encode(scenarios.NewRecordingTrailer(runID, r.pace, r.nEvents))
		}
		r.mu.Unlock()
	}
	res := scenarios.Judge(sc, scenarios.Recording{RunID: runID, Header: hdr, Truth: r.truth, Spans: r.spans, Alerts: r.alerts,
		Events: r.nEvents, EventTimes: r.times, EventTable: r.events,
		End: clk.Now(), Wall: time.Since(wall0), Pace: r.pace})
	if actErr != nil {
		if errors.Is(actErr, context.Canceled) || errors.Is(actErr, context.DeadlineExceeded) {
			return res, fmt.Errorf("run stopped: %w", actErr)
		}
		// The stop came first and the actor's error is its consequence: a
		// dial whose deadline was the run's says "i/o timeout", not
		// context.DeadlineExceeded, and may return before the context's
		// own timer has marked it done.
		stop := ctx.Err()
		if dl, ok := ctx.Deadline(); stop == nil && ok && !time.Now().Before(dl) {
			stop = context.DeadlineExceeded
		}
		if stop != nil {
			return res, fmt.Errorf("run stopped: %w (%v)", stop, actErr)
		}
		return res, actErr
	}
	return res, errors.Join(closeErr, pumpErr, r.writeErr)
}

// pump reads the audit trail in order: it feeds the rules, writes the
// event log and releases actors waiting for their sessions to end.
func (r *runner) pump(sub *audit.Subscription) error {
	for {
		evs, err := sub.NextBatch(context.Background(), 512)
		if err != nil {
			if errors.Is(err, audit.ErrClosed) {
				return nil
			}
			return err
		}
		for _, e := range evs {
			alerts := r.engine.Process(scenarios.AuditEvent(e))
			r.mu.Lock()
			r.nEvents++
			if !e.Timestamp.IsZero() {
				r.times = append(r.times, e.Timestamp)
			}
			r.events.Add(scenarios.EventRef{ID: e.ID, Time: e.Timestamp, Action: e.Action, Outcome: e.Outcome, User: e.UserName, SourceIP: e.SourceIP})
			if r.evEnc != nil && r.writeErr == nil {
				r.writeErr = r.evEnc.Encode(audit.Wire(e))
			}
			if r.opts.Syslog != nil || r.opts.SyslogTo != nil {
				r.writeSyslog(e)
			}
			r.alerts = append(r.alerts, alerts...)
			if r.side == nil {
				r.sessionEndLocked(e)
			}
			r.mu.Unlock()
			if r.opts.OnEvent != nil {
				r.opts.OnEvent(*e)
			}
			if r.opts.OnAlert != nil {
				for _, a := range alerts {
					r.opts.OnAlert(a)
				}
			}
			for _, a := range alerts {
				r.note(Note{Time: a.Time, Kind: "alert", Text: fmt.Sprintf("[%s] %s", a.Level, a.Title)})
			}
		}
	}
}

// sessionEndLocked notes the end of a session when e says it, and returns
// the session's source key (laneKey) when it did (under r.mu).
func (r *runner) sessionEndLocked(e *audit.Event) (key string, ended bool) {
	if e.Action == audit.IMAPLogout || e.Action == audit.SMTPDisconnect || (e.Action == audit.IMAPConnect || e.Action == audit.SMTPConnect) && e.Outcome == audit.Failure {
		key = laneKey(e.SourceIP, e.SourcePort)
		r.ended[key] = true
		if ch, ok := r.sessions[key]; ok {
			close(ch)
			delete(r.sessions, key)
		}
		return key, true
	}
	return "", false
}

// noteSessionEnd is sessionEndLocked for the mail system's goroutines
// (side by side: the events of an action are held until its turn, so its
// sessions' ends are noted as they are published).
func (r *runner) noteSessionEnd(e *audit.Event) (key string, ended bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessionEndLocked(e)
}

// holdTruth holds a truth record of the action of actor order due at at,
// until commitTruth.
func (r *runner) holdTruth(t scenarios.TruthRecord, at time.Time, order int) {
	t.RunID = r.runID
	r.mu.Lock()
	r.heldTruth.Add(at, order, t)
	r.mu.Unlock()
}

// commitTruth records, in scenario order, the held truth records of the
// actions up to (at, order) inclusive, all of them when all (under the
// scheduler's lock).
func (r *runner) commitTruth(at time.Time, order int, all bool) {
	r.mu.Lock()
	now := r.taken[:0]
	r.heldTruth.Take(at, order, all, func(t *scenarios.TruthRecord) { now = append(now, *t) })
	r.mu.Unlock()
	for _, t := range now {
		r.record(t)
	}
	clear(now)
	r.taken = now[:0]
}

// sessionEnd returns a channel closed when the session from src ends.
func (r *runner) sessionEnd(src string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	if r.ended[src] {
		delete(r.ended, src)
		close(ch)
		return ch
	}
	r.sessions[src] = ch
	return ch
}

func (r *runner) forgetEnded(src string) {
	r.mu.Lock()
	delete(r.ended, src)
	r.mu.Unlock()
}

// notePace counts an action of actor due at due that is starting now on a
// wall clock, and says so the first time one starts late: the run is
// falling behind its clock.
func (r *runner) notePace(actor string, due time.Time) {
	if r.pace == nil {
		return
	}
	now := r.clk.Now()
	var remedy string
	r.mu.Lock()
	if c, ok := r.clk.(*clock.Controlled); ok {
		// A skip makes what was due before it happen at once, on
		// purpose: it is late from the skip's time on only. The speed
		// is the operator's latest.
		if j := c.LastJump(); j.After(due) {
			due = j
		}
		r.pace.Speed = c.Factor()
	}
	first := r.pace.Note(actor, due, now)
	if first {
		remedy = r.pace.Remedy()
	}
	r.mu.Unlock()
	if first {
		r.note(Note{Time: now, Kind: "pace", Text: fmt.Sprintf(
			"falling behind the clock: %s's action due at %s starts %s late; the scenario's timing is stretched (%s)",
			actor, due.In(r.sc.Env.Location).Format("15:04:05"), now.Sub(due).Round(time.Second), remedy)})
	}
}

func (r *runner) note(n Note) {
	if r.opts.Progress != nil {
		r.opts.Progress(n)
	}
}

func (r *runner) record(t scenarios.TruthRecord) {
	t.RunID = r.runID
	r.mu.Lock()
	defer r.mu.Unlock()
	r.truth = append(r.truth, t)
	if r.opts.OnTruth != nil {
		r.opts.OnTruth(t)
	}
	if r.trEnc != nil && r.writeErr == nil {
		r.writeErr = r.trEnc.Encode(t)
	}
}

func (r *runner) span(step, actor string, start, end time.Time) {
	if step == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.spans[step]
	if !ok || start.Before(s.Start) {
		s.Start = start
	}
	if end.After(s.End) {
		s.End = end
	}
	s.Actor = actor
	r.spans[step] = s
}

// runActors replays every actor until they finish, the scenario's
// duration ends, or ctx is cancelled.
func (r *runner) runActors(parent context.Context, env scenarios.Environment) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var runs []*actorRun
	order := 0
	for _, a := range r.sc.Actors {
		if a.Kind == "staff" {
			for _, m := range r.staffMembers(a, env) {
				runs = append(runs, r.newActorRun(a, m, order))
				order++
			}
			continue
		}
		if r.opts.Control != nil {
			r.opts.Control.scripted(order)
		}
		runs = append(runs, r.newActorRun(a, nil, order))
		order++
	}
	var wg sync.WaitGroup
	errs := make([]error, len(runs))
	for range runs {
		r.sched.join()
	}
	for i, ar := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.sched.leave(ar.order)
			errs[i] = ar.run(ctx)
			if errs[i] != nil && ctx.Err() == nil && !errors.Is(errs[i], errStopped) {
				cancel()
			}
		}()
	}
	stop := context.AfterFunc(ctx, r.sched.close)
	defer stop()
	wg.Wait()
	// Stopped from outside (Ctrl-C, --deadline): an unfinished run, never
	// judged as a complete one, and the actors' errors (a read on a
	// connection closed by the stop, say) are the stop's consequences.
	if err := parent.Err(); err != nil {
		return err
	}
	var out []error
	for _, e := range errs {
		if e != nil && !errors.Is(e, errStopped) && !errors.Is(e, context.Canceled) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		for _, e := range errs {
			if e != nil && errors.Is(e, context.Canceled) {
				out = append(out, e)
				break
			}
		}
	}
	return joinActorErrors(out)
}

// shownActorErrors is how many actors' errors a failed run reports in
// full; the rest are counted.
const shownActorErrors = 3

// joinActorErrors joins the errors of the actors that failed, in actor
// order: the first shownActorErrors in full, then how many more there
// were (a server that refuses a large organisation's staff fails
// hundreds of them at once, mostly with the same words).
func joinActorErrors(errs []error) error {
	if len(errs) <= shownActorErrors {
		return errors.Join(errs...)
	}
	return errors.Join(append(slices.Clip(errs[:shownActorErrors]),
		fmt.Errorf("and %d more actors stopped with errors", len(errs)-shownActorErrors))...)
}

// concurrentClients is how many actors may be talking to the target at
// once: one on the virtual clock (actors take turns), every actor
// otherwise.
func concurrentClients(sc *scenarios.Scenario, clk clock.Clock) int {
	if _, ok := clk.(*clock.Virtual); ok {
		return 1
	}
	return actorCount(sc)
}

// sideBySideFits says whether the run takes independent actions side by
// side, and how far a window may look ahead: on the virtual clock,
// against the embedded target (whose mail system holds and orders the
// events of actions taken at once), without authentication throttling
// (whose counters every login moves), and with staff (whose actions are
// the independent ones) whose waits are not jittered away to nothing.
func sideBySideFits(sc *scenarios.Scenario, env scenarios.Environment, clk clock.Clock, opts Options) (time.Duration, bool) {
	if _, ok := clk.(*clock.Virtual); !ok || opts.OneAtATime || env.Target != "embedded" || env.Throttle.Enabled() {
		return 0, false
	}
	fits, jitter := false, 0.0
	for _, a := range sc.Actors {
		if a.Kind == "staff" && a.Staff != nil {
			fits = fits || a.Staff.Count > 1
			jitter = max(jitter, a.Pacing.Jitter)
		}
	}
	// A jittered wait is d × (1 ± jitter): the shortest wait before an
	// exclusive action shrinks alike (a millisecond spared for rounding).
	look := time.Duration(float64(sideBySideGap)*(1-jitter)) - time.Millisecond
	if !fits || look <= 0 {
		return 0, false
	}
	return look, true
}

// actorCount is how many actors the scenario runs, each staff member
// counted: each holds at most one session of a kind at a time, and on
// any clock they may all hold one at once (a virtual-clock actor keeps
// its session open while it waits for its next action).
func actorCount(sc *scenarios.Scenario) int {
	n := 0
	for _, a := range sc.Actors {
		if a.Kind == "staff" && a.Staff != nil {
			n += a.Staff.Count
			continue
		}
		n++
	}
	return max(n, 1)
}

func newEngine(rules []*sigma.Rule, cfg *detectors.Config) (*detectors.Engine, error) {
	rules, err := scenarios.RulesOrPack(rules)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		c := rulepack.Config()
		cfg = &c
	}
	return detectors.NewEngine(rules, *cfg)
}

// newRunID names a run: md-SCENARIO-HASH, HASH from the scenario and the
// seed, so that two runs of one scenario on their own mail systems give
// the same trail. A run on the remote target shares its server with any
// other run there (two CI jobs, a run and a cleanup): its id ends with 8
// random hex digits, or one run's cleanup would remove the messages the
// other seeded (both marked X-Maildrill-Run with one id).
func newRunID(scenarioID string, seed int64, target string) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", scenarioID, seed)
	id := fmt.Sprintf("md-%s-%08x", scenarioID, h.Sum32())
	if target == "remote" {
		var b [4]byte
		rand.Read(b[:])
		id += "-r" + hex.EncodeToString(b[:])
	}
	return id
}
