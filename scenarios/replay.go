package scenarios

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/internal/jsonl"
)

// TruthLog is a ground-truth log as a run writes it (Options.Truth): the
// truth records of one or more runs, and their recording headers by run
// id.
type TruthLog struct {
	Records []TruthRecord
	Headers map[string]RecordingHeader
	// Trailers are the runs' trailers by run id: how a run on a wall
	// clock kept to it.
	Trailers map[string]RecordingTrailer
}

// ReadTruthLog reads a ground-truth log, gzip or not. label names the
// file in an error opening it (e.g. the flag that gave it); a bad line is
// reported as path:line.
func ReadTruthLog(path, label string) (*TruthLog, error) {
	in, closeLog, err := jsonl.Open(path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	defer closeLog()
	log := &TruthLog{Headers: map[string]RecordingHeader{}, Trailers: map[string]RecordingTrailer{}}
	lr := jsonl.NewReader(in, path)
	for {
		b, ok := lr.Next()
		if !ok {
			break
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		if h, ok, err := ParseRecordingHeader(b); ok {
			if err != nil {
				return nil, lr.LineError(fmt.Errorf("bad recording header: %w", err))
			}
			if h.RunID == "" {
				return nil, fmt.Errorf("%s:%d: recording header without labels.run_id", path, lr.Line())
			}
			log.Headers[h.RunID] = h
			continue
		}
		if tr, ok, err := ParseRecordingTrailer(b); ok {
			if err != nil {
				return nil, lr.LineError(fmt.Errorf("bad recording trailer: %w", err))
			}
			log.Trailers[tr.RunID] = tr
			continue
		}
		var t TruthRecord
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, lr.LineError(fmt.Errorf("not a truth record: %w", err))
		}
		if t.Actor == "" || t.RunID == "" {
			return nil, fmt.Errorf("%s:%d: not a truth record (no actor or labels.run_id): give --truth the file of run --truth", path, lr.Line())
		}
		log.Records = append(log.Records, t)
	}
	if err := lr.Err(); err != nil {
		return nil, err
	}
	if len(log.Records) == 0 {
		return nil, fmt.Errorf("%s: no truth records", path)
	}
	return log, nil
}

// PickRun chooses the run to judge among those of the log: want when
// given, else the only one, else the one of the scenario's id.
func (l *TruthLog) PickRun(want, scenarioID string) (string, error) {
	seen := map[string]bool{}
	var ids []string
	for _, t := range l.Records {
		if !seen[t.RunID] {
			seen[t.RunID] = true
			ids = append(ids, t.RunID)
		}
	}
	sort.Strings(ids)
	if want != "" {
		if !seen[want] {
			return "", fmt.Errorf("--run-id %q: not in the truth log (runs: %s)", want, strings.Join(ids, ", "))
		}
		return want, nil
	}
	if len(ids) == 1 {
		return ids[0], nil
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(id, "md-"+scenarioID+"-") {
			match = append(match, id)
		}
	}
	if len(match) == 1 {
		return match[0], nil
	}
	return "", fmt.Errorf("the truth log holds %d runs (%s): choose one with --run-id", len(ids), strings.Join(ids, ", "))
}

// Run returns the truth records of one run.
func (l *TruthLog) Run(runID string) []TruthRecord {
	var out []TruthRecord
	for _, t := range l.Records {
		if t.RunID == runID {
			out = append(out, t)
		}
	}
	return out
}

// CheckRecording refuses a recording of another scenario, or of another
// version of sc, unless force (then it warns on warn). A run without a
// header is checked by its run id when the runner derived it, else
// accepted with a warning.
func (l *TruthLog) CheckRecording(sc *Scenario, runID string, force bool, warn io.Writer) error {
	var problem string
	if h, ok := l.Headers[runID]; ok {
		switch {
		case h.ScenarioID != sc.ID:
			problem = fmt.Sprintf("recorded from %s (sha256 %s), judged as %s (sha256 %s)", h.ScenarioID, shortSum(h.ScenarioSHA256), sc.ID, shortSum(sc.SHA256))
		case h.ScenarioSHA256 != sc.SHA256:
			problem = fmt.Sprintf("recorded from another version of %s (sha256 %s), judged as %s (sha256 %s)", h.ScenarioID, shortSum(h.ScenarioSHA256), sc.File, shortSum(sc.SHA256))
		}
	} else if id, ok := ScenarioOfRunID(runID); ok && id != sc.ID {
		problem = fmt.Sprintf("recorded from %s (run %s, no recording header), judged as %s", id, runID, sc.ID)
	} else {
		fmt.Fprintf(warn, "replay: warning: the truth log has no recording header for run %s: cannot check it was recorded from this version of %s\n", runID, sc.ID)
		return nil
	}
	if problem == "" {
		return nil
	}
	if force {
		fmt.Fprintf(warn, "replay: warning: %s (--force)\n", problem)
		return nil
	}
	return fmt.Errorf("%s: give the scenario it was recorded from, or --force to judge it anyway", problem)
}

// shortSum abbreviates a sha256 for messages.
func shortSum(sum string) string {
	if sum == "" {
		return "unknown"
	}
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}

// ReplayEvents reads a run's audit event log (gzip or not), feeds the
// events of runID to eng in file order and returns the recording they
// make: the alerts, the events behind them and their times, the run's
// end (its last event, bounded by sc's duration). label names the file in
// an error opening it; a bad line is reported as path:line.
func ReplayEvents(sc *Scenario, eng *detectors.Engine, path, label, runID string) (Recording, error) {
	var rec Recording
	in, closeLog, err := jsonl.Open(path, nil)
	if err != nil {
		return rec, fmt.Errorf("%s: %w", label, err)
	}
	defer closeLog()
	rec.RunID = runID
	rec.EventTable = NewEventTable(runID)
	lr := jsonl.NewReader(in, path)
	for {
		b, ok := lr.Next()
		if !ok {
			break
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		ev, err := detectors.ParseJSONEvent(b, detectors.JSONOptions{})
		if err != nil {
			return rec, lr.LineError(err)
		}
		if ev.ID() == "" {
			return rec, fmt.Errorf("%s:%d: not an audit event (no event.id): give --events the file of run --events", path, lr.Line())
		}
		if v, ok := ev.Field("labels.run_id"); ok && v != runID {
			continue // another run's event
		}
		rec.Events++
		rec.EventTimes = append(rec.EventTimes, ev.Time())
		if ev.Time().After(rec.End) {
			rec.End = ev.Time()
		}
		ref := EventRef{ID: ev.ID(), Time: ev.Time()}
		str := func(name string) string {
			v, _ := ev.Field(name)
			s, _ := v.(string)
			return s
		}
		ref.Action, ref.Outcome, ref.User, ref.SourceIP = str("event.action"), str("event.outcome"), str("user.name"), str("source.ip")
		rec.EventTable.Add(ref)
		rec.Alerts = append(rec.Alerts, eng.Process(ev)...)
	}
	if err := lr.Err(); err != nil {
		return rec, err
	}
	rec.Alerts = append(rec.Alerts, eng.Flush()...)
	if rec.Events == 0 {
		return rec, fmt.Errorf("%s: no events of run %s", path, runID)
	}
	if end := sc.Env.Start.Add(sc.Env.Duration); rec.End.After(end) {
		rec.End = end
	}
	return rec, nil
}

// Replay judges a recorded run again: the events of runID in the events
// log go through eng, and the truth records of the run say who did what
// (log, read with ReadTruthLog). The result carries the recording's seed
// target and logging profile (from its header; blind_on reads them) and the hash of rules, the rules eng was
// built from.
func Replay(sc *Scenario, log *TruthLog, runID string, eng *detectors.Engine, rulesSHA256, eventsPath, eventsLabel string) (*Result, error) {
	wall := time.Now()
	rec, err := ReplayEvents(sc, eng, eventsPath, eventsLabel, runID)
	if err != nil {
		return nil, err
	}
	rec.Truth = log.Run(runID)
	if h, ok := log.Headers[runID]; ok {
		rec.Header.Seed, rec.Header.Target, rec.Header.DovecotProfile = h.Seed, h.Target, h.DovecotProfile
		if _, ok := log.Trailers[runID]; h.Trailer && !ok {
			return nil, fmt.Errorf("the truth log of run %s ends before its trailer: it is incomplete (cut short, or another copy); record the run again", runID)
		}
	}
	if tr, ok := log.Trailers[runID]; ok {
		rec.Pace = tr.Pace()
		if tr.Events > 0 && rec.Events < tr.Events {
			// A log cut at a line boundary reads well and judges as a
			// run whose rules missed: never judge what is not all there.
			return nil, fmt.Errorf("%s holds %d audit events of run %s, which wrote %d (its truth log's trailer says): the events log is incomplete (cut short, or another copy); record the run again", eventsLabel, rec.Events, runID, tr.Events)
		}
	}
	rec.Header.RulesSHA256 = rulesSHA256
	res := Judge(sc, rec)
	res.Wall = time.Since(wall)
	return res, nil
}

// OpenRecording reads the truth log at path (label names it in errors),
// picks the run to judge (want, else the only one or sc's) and checks that
// it is a recording of sc (CheckRecording: force judges another's, with a
// warning on warn).
func OpenRecording(sc *Scenario, path, label, want string, force bool, warn io.Writer) (*TruthLog, string, error) {
	log, err := ReadTruthLog(path, label)
	if err != nil {
		return nil, "", err
	}
	runID, err := log.PickRun(want, sc.ID)
	if err != nil {
		return nil, "", err
	}
	return log, runID, log.CheckRecording(sc, runID, force, warn)
}
