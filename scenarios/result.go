package scenarios

import (
	"fmt"
	"time"

	"github.com/maildrill/maildrill/detectors"
)

// Result is what a run produced.
type Result struct {
	Scenario *Scenario
	RunID    string
	Start    time.Time
	End      time.Time
	Wall     time.Duration
	Truth    []TruthRecord
	Spans    map[string]Span
	Alerts   []detectors.Alert
	Events   int
	Verdicts []Verdict
	Actions  int
	Failed   bool
	// Seed, Target and RulesSHA256 (see the recording header) say what
	// the run was, to reproduce it.
	Seed        int64
	Target      string
	RulesSHA256 string
	// EventTimes are the audit events' times, in order (the report's
	// events per minute).
	EventTimes []time.Time
	// Pace is how the run kept to a wall clock (nil on the virtual
	// clock, and for a recording replayed).
	Pace *Pace

	header      RecordingHeader
	events      *EventTable
	attackerIPs map[string]bool
	staffIPs    map[string]bool
}

// sources sorts the source addresses of the ground truth: an attacker's
// or insider's, or a staff member's.
func (res *Result) sources() {
	res.attackerIPs, res.staffIPs = map[string]bool{}, map[string]bool{}
	for _, t := range res.Truth {
		if t.SourceIP == "" {
			continue
		}
		if t.Role == "staff" {
			res.staffIPs[t.SourceIP] = true
		} else {
			res.attackerIPs[t.SourceIP] = true
		}
	}
}

// Span is when a step ran.
type Span struct {
	Actor string    `json:"actor"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// TruthRecord is one action an actor performed: the ground truth against
// which detections are judged.
type TruthRecord struct {
	Time     time.Time `json:"@timestamp"`
	RunID    string    `json:"labels.run_id"`
	Actor    string    `json:"actor"`
	Role     string    `json:"actor.kind"`
	Step     string    `json:"step,omitempty"`
	StepKind string    `json:"step.kind,omitempty"`
	Action   string    `json:"action"`
	Outcome  string    `json:"outcome"`
	User     string    `json:"user.name,omitempty"`
	Mailbox  string    `json:"mailbox,omitempty"`
	SourceIP string    `json:"source.ip,omitempty"`
	Count    int       `json:"count,omitempty"`
	Bytes    int64     `json:"bytes,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// TargetProfile is the logging profile of the run's dovecot target, as
// recorded ("" on other targets and in recordings without one).
func (res *Result) TargetProfile() string { return res.header.DovecotProfile }

// LateTolerance is how long after its time an action on a wall clock may
// start before the run counts it late. A minute is shorter than the
// windows detection rules count over, and longer than the timer slack of
// a busy machine at --speed 3000.
const LateTolerance = time.Minute

// Pace is how well a run on a wall clock (a scaled or a real one) kept to
// its schedule. An actor that falls behind acts back to back to catch up,
// so the scenario's actions happen later and closer together than it
// scripts, and detection windows are judged on that time.
type Pace struct {
	// Speed is the clock's: scenario seconds per wall second (1: real
	// time).
	Speed float64
	// Timed counts the actions that waited for their time on the wall
	// clock; Late those of them that started more than LateTolerance
	// after it.
	Timed int
	Late  int
	// MaxLag is the longest delay, in scenario time; MaxLagActor and
	// MaxLagDue say whose action it was and when it was due.
	MaxLag      time.Duration
	MaxLagActor string
	MaxLagDue   time.Time
}

// Behind says whether the run fell behind: some action started late.
func (p *Pace) Behind() bool { return p != nil && p.Late > 0 }

// Remedy says what keeps a run to its clock: a lower speed, or at real
// time (an outside SIEM's pace) a less loaded machine or a faster target.
func (p *Pace) Remedy() string {
	if p != nil && p.Speed == 1 {
		return "at real time only a less loaded machine or a faster target keeps to it"
	}
	return "a lower --speed keeps to it"
}

// Note counts an action of actor due at due that started at now, and says
// whether it is the run's first late one.
func (p *Pace) Note(actor string, due, now time.Time) (firstLate bool) {
	p.Timed++
	lag := now.Sub(due)
	if lag > p.MaxLag {
		p.MaxLag, p.MaxLagActor, p.MaxLagDue = lag, actor, due
	}
	if lag <= LateTolerance {
		return false
	}
	p.Late++
	return p.Late == 1
}

// KindPace is the kind of the verdict FailBehind adds; FellBehind is its
// result.
const (
	KindPace   = "pace"
	FellBehind = "behind"
)

// FailBehind fails a run that fell behind its clock (--fail-behind): it
// adds a failed verdict of kind "pace" saying how far, once, and reports
// whether it did. A run that kept up, or has no pace, is left as it is.
func FailBehind(res *Result) bool {
	p := res.Pace
	if !p.Behind() {
		return false
	}
	for _, v := range res.Verdicts {
		if v.Kind == KindPace {
			return false
		}
	}
	res.Verdicts = append(res.Verdicts, Verdict{Rule: "*", Kind: KindPace, Result: FellBehind,
		WindowStart: res.Start, WindowEnd: res.End,
		Detail: fmt.Sprintf("--fail-behind: %d of %d timed actions started more than %s late, the latest %s late (%s)",
			p.Late, p.Timed, LateTolerance, p.MaxLag.Round(time.Second), p.MaxLagActor)})
	res.Failed = true
	return true
}
