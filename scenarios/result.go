package scenarios

import (
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
