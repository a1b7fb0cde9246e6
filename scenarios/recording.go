package scenarios

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/detectors/sigma"
)

// RecordingFormat is the version of the recording header.
const RecordingFormat = 1

// RecordingHeader says what a recording is. The runner writes it as the
// first line of the truth log (one per run when several runs share the
// file, each before its run's records), so the events log stays a plain
// audit-event log.
type RecordingHeader struct {
	Format int    `json:"maildrill.recording"`
	RunID  string `json:"labels.run_id"`
	// ScenarioID and ScenarioSHA256 (sha256 of the scenario file's bytes,
	// as read: Scenario.SHA256) name the scenario and its version.
	ScenarioID     string `json:"scenario.id"`
	ScenarioSHA256 string `json:"scenario.sha256"`
	ScenarioFile   string `json:"scenario.file,omitempty"`
	Seed           int64  `json:"seed"`
	Target         string `json:"target"`
	DovecotProfile string `json:"target.profile,omitempty"`
	// Version is the maildrill version that recorded (Options.Version).
	Version string `json:"maildrill.version,omitempty"`
	// RulesSHA256 is RulesSHA256 of the rules the run evaluated ("" when
	// it ran none: alerts from outside).
	RulesSHA256 string `json:"rules.sha256,omitempty"`
	Rules       int    `json:"rules.count"`
	// Trailer says a trailer ends the run's records (RecordingTrailer):
	// a truth log with this header and no trailer was cut short.
	Trailer bool `json:"trailer,omitempty"`
}

// headerPrefix starts every header line (the runner writes Format first).
var headerPrefix = []byte(`{"maildrill.recording":`)

// RecordingTrailer ends the truth records of a run: what is known only at
// its end. On a scaled or real clock, how the run kept to its clock; on
// every clock, how many audit events the run wrote, so that a replay can
// tell a cut events log from a run that raised no alert. Runs on the
// virtual clock wrote none before 2026-12-07, nor did any run before
// 2026-12-06.
type RecordingTrailer struct {
	Format int    `json:"maildrill.recording.end"`
	RunID  string `json:"labels.run_id"`
	// Speed is the clock's (scenario seconds per wall second; an
	// exercise's: the operator's latest); 0 for the virtual clock.
	Speed float64 `json:"speed"`
	// Events is the number of audit events of the run (0: not recorded,
	// a trailer of before 2026-12-07).
	Events int `json:"audit_events,omitempty"`
	// Timed, Late, MaxLag, MaxLagActor and MaxLagDue are Pace's.
	Timed       int        `json:"timed_actions,omitempty"`
	Late        int        `json:"late_actions,omitempty"`
	MaxLagMS    int64      `json:"max_lag_ms,omitempty"`
	MaxLagActor string     `json:"max_lag_actor,omitempty"`
	MaxLagDue   *time.Time `json:"max_lag_due,omitempty"`
}

// trailerPrefix starts every trailer line.
var trailerPrefix = []byte(`{"maildrill.recording.end":`)

// NewRecordingTrailer is the trailer of run runID that wrote events
// audit events and kept to its clock as p says (nil: the virtual clock).
func NewRecordingTrailer(runID string, p *Pace, events int) RecordingTrailer {
	t := RecordingTrailer{Format: RecordingFormat, RunID: runID, Events: events}
	if p == nil {
		return t
	}
	t.Speed, t.Timed, t.Late, t.MaxLagMS, t.MaxLagActor = p.Speed, p.Timed, p.Late, p.MaxLag.Milliseconds(), p.MaxLagActor
	if !p.MaxLagDue.IsZero() {
		due := p.MaxLagDue
		t.MaxLagDue = &due
	}
	return t
}

// Pace is the run's pace the trailer records; nil for the virtual clock.
func (t RecordingTrailer) Pace() *Pace {
	if t.Speed == 0 {
		return nil
	}
	p := &Pace{Speed: t.Speed, Timed: t.Timed, Late: t.Late, MaxLag: time.Duration(t.MaxLagMS) * time.Millisecond, MaxLagActor: t.MaxLagActor}
	if t.MaxLagDue != nil {
		p.MaxLagDue = *t.MaxLagDue
	}
	return p
}

// ParseRecordingTrailer parses a truth-log line that is a recording
// trailer; ok is false for any other line.
func ParseRecordingTrailer(line []byte) (t RecordingTrailer, ok bool, err error) {
	line = bytes.TrimSpace(line)
	if !bytes.HasPrefix(line, trailerPrefix) {
		return t, false, nil
	}
	if err := json.Unmarshal(line, &t); err != nil {
		return t, true, err
	}
	switch {
	case t.RunID == "":
		return t, true, errors.New("no labels.run_id")
	case t.Speed < 0 || math.IsNaN(t.Speed):
		return t, true, fmt.Errorf("speed %g: not a positive number (or 0, the virtual clock)", t.Speed)
	case t.Speed == 0 && (t.Timed != 0 || t.Late != 0 || t.MaxLagMS != 0):
		return t, true, errors.New("a virtual clock (speed 0) with timed actions")
	case t.Events < 0:
		return t, true, fmt.Errorf("audit_events %d: negative", t.Events)
	case t.Timed < 0 || t.Late < 0 || t.Late > t.Timed:
		return t, true, fmt.Errorf("late_actions %d of timed_actions %d", t.Late, t.Timed)
	case t.MaxLagMS < 0:
		return t, true, fmt.Errorf("max_lag_ms %d: negative", t.MaxLagMS)
	}
	return t, true, nil
}

// ParseRecordingHeader parses a truth-log line that is a recording
// header; ok is false for any other line (a truth record).
func ParseRecordingHeader(line []byte) (h RecordingHeader, ok bool, err error) {
	line = bytes.TrimSpace(line)
	if !bytes.HasPrefix(line, headerPrefix) {
		return h, false, nil
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return h, true, err
	}
	return h, true, nil
}

// RulesSHA256 is the sha256, in hex, over the bytes of the files the
// rules were loaded from, in lexical order of their names, each preceded
// by its name and length. A file is read from disk, else from the
// built-in pack; one that cannot be read counts by its name alone. No
// rules: "".
func RulesSHA256(rules []*sigma.Rule) string {
	if len(rules) == 0 {
		return ""
	}
	seen := map[string]bool{}
	var files []string
	for _, r := range rules {
		if !seen[r.File] {
			seen[r.File] = true
			files = append(files, r.File)
		}
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil && fs.ValidPath(f) {
			data, err = fs.ReadFile(rulepack.FS(), f)
		}
		if err != nil {
			data = nil
		}
		h.Write([]byte(f))
		h.Write([]byte{0})
		var n [8]byte
		for i, l := 0, uint64(len(data)); i < 8; i++ {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ScenarioOfRunID is the scenario id in a run id the runner derived
// (md-<scenario id>-<8 hex digits>); ok is false for another run id.
func ScenarioOfRunID(runID string) (id string, ok bool) {
	rest, found := strings.CutPrefix(runID, "md-")
	if !found || len(rest) < 10 || rest[len(rest)-9] != '-' {
		return "", false
	}
	for _, c := range rest[len(rest)-8:] {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return "", false
		}
	}
	return rest[:len(rest)-9], true
}
