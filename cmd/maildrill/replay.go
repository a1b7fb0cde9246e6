package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/report"
)

func init() { extraCommands = append(extraCommands, newReplayCmd) }

type replayFlags struct {
	reports       reportFlags
	events, truth string
	rules         string
	runID         string
	verbose       bool
	force         bool
	failOnNoise   bool
}

func newReplayCmd() *cobra.Command {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay --events EVENTS.jsonl --truth TRUTH.jsonl SCENARIO",
		Short: "Re-judge a recorded run: evaluate the rules over its event log, without re-running the attack",
		Long: `replay is the fast loop after a rule edit. It reads the audit events and
the ground truth a run recorded (run --events --truth, or test --record),
evaluates the rules over the events in event time (--rules, default the
built-in pack), rebuilds each step's span from the truth records, and judges
the scenario's expectations as the live run did. Exit 0 when all hold, 1
when some do not, 2 on bad input.

The truth log's header names the scenario (id and sha256 of its file) the
run was recorded from: replay refuses (exit 2) a recording of another
scenario, or of another version of this one, unless --force. A recording
without a header (older ones) is checked by its run id
(md-SCENARIO-HASH) where it can be, else judged with a warning.`,
		Example: `  maildrill run ministry-overnight --events ev.jsonl --truth tr.jsonl
  maildrill replay --events ev.jsonl --truth tr.jsonl --rules ./my-rules ministry-overnight`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(f, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f.reports.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.events, "events", "", "the run's audit events, JSON lines, gzip or not (required)")
	fl.StringVar(&f.truth, "truth", "", "the run's ground truth, JSON lines, gzip or not (required)")
	fl.StringVar(&f.rules, "rules", "", "rules directory or file (default: the built-in pack)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "name the rules that cannot fire (logsource not mapped) and the events behind each unexpected alert")
	fl.BoolVar(&f.failOnNoise, "fail-on-noise", false, "fail (exit 1) when any alert is not covered by an expectation, reported per rule")
	fl.BoolVar(&f.force, "force", false, "judge a recording of another scenario, or of another version of it")
	fl.StringVar(&f.runID, "run-id", "", "the run to judge when the logs hold several (default: the only one, or the scenario's)")
	return cmd
}

func runReplay(f *replayFlags, name string, stdout, stderr io.Writer) error {
	if f.events == "" || f.truth == "" {
		return usageError{errors.New("replay needs both --events and --truth (record them with: maildrill run SCENARIO --events FILE --truth FILE)")}
	}
	sc, err := scenarios.Load(name)
	if err != nil {
		return usageError{err}
	}
	truth, headers, err := readTruth(f.truth)
	if err != nil {
		return usageError{err}
	}
	runID, err := pickRun(truth, f.runID, sc.ID)
	if err != nil {
		return usageError{err}
	}
	if err := checkRecording(sc, runID, headers, f.force, stderr); err != nil {
		return usageError{err}
	}
	var mine []scenarios.TruthRecord
	for _, t := range truth {
		if t.RunID == runID {
			mine = append(mine, t)
		}
	}
	rules, err := loadRules(f.rules)
	if err != nil {
		return usageError{err}
	}
	if rules == nil {
		if rules, err = detectors.PackRules(); err != nil {
			return err
		}
	}
	cfg := detectors.PackConfig()
	if rc, err := rulesConfig(f.rules); err != nil {
		return usageError{err}
	} else if rc != nil {
		cfg = *rc
	}
	eng, err := detectors.NewEngine(rules, cfg)
	if err != nil {
		return usageError{fmt.Errorf("--rules: %w", err)}
	}
	reportInactiveRules(stderr, rules, f.verbose)
	// The names of the organisation are resolved against the one the
	// recording was made with: its header's seed (without a header, the
	// scenario's own). A run refuses a name its organisation lacks, so a
	// recording of this scenario passes; a recording judged with --force
	// against another version may not.
	seed := int64(0)
	if h, ok := headers[runID]; ok {
		seed = h.Seed
	}
	if err := resolveScenario(sc, rules, seed); err != nil {
		return usageError{err}
	}
	wall := time.Now()
	rec, times, err := replayEvents(eng, f.events, runID)
	if err != nil {
		return usageError{err}
	}
	rec.RunID, rec.Truth = runID, mine
	res := scenarios.Judge(sc, rec)
	res.Wall = time.Since(wall)
	res.RulesSHA256 = scenarios.RulesSHA256(rules)
	if f.failOnNoise {
		scenarios.FailOnNoise(res)
	}
	if h, ok := headers[runID]; ok {
		res.Seed, res.Target = h.Seed, h.Target
	}
	tables := stdout
	if f.reports.toStdout() {
		tables = stderr
	}
	printVerdicts(tables, res)
	printNoise(tables, res, f.verbose)
	rep := buildReport([]report.Run{{Scenario: sc, Result: res, EventTimes: times}})
	if err := f.reports.write(rep, stdout); err != nil {
		return err
	}
	if res.Failed {
		return failedError{"some expectations did not hold"}
	}
	return nil
}

// checkRecording refuses a recording of another scenario, or of another
// version of sc, unless force (then it warns). A run without a header is
// checked by its run id when the runner derived it, else accepted with a
// warning.
func checkRecording(sc *scenarios.Scenario, runID string, headers map[string]scenarios.RecordingHeader, force bool, stderr io.Writer) error {
	var problem string
	if h, ok := headers[runID]; ok {
		switch {
		case h.ScenarioID != sc.ID:
			problem = fmt.Sprintf("recorded from %s (sha256 %s), judged as %s (sha256 %s)", h.ScenarioID, short(h.ScenarioSHA256), sc.ID, short(sc.SHA256))
		case h.ScenarioSHA256 != sc.SHA256:
			problem = fmt.Sprintf("recorded from another version of %s (sha256 %s), judged as %s (sha256 %s)", h.ScenarioID, short(h.ScenarioSHA256), sc.File, short(sc.SHA256))
		}
	} else if id, ok := scenarios.ScenarioOfRunID(runID); ok && id != sc.ID {
		problem = fmt.Sprintf("recorded from %s (run %s, no recording header), judged as %s", id, runID, sc.ID)
	} else {
		fmt.Fprintf(stderr, "replay: warning: the truth log has no recording header for run %s: cannot check it was recorded from this version of %s\n", runID, sc.ID)
		return nil
	}
	if problem == "" {
		return nil
	}
	if force {
		fmt.Fprintf(stderr, "replay: warning: %s (--force)\n", problem)
		return nil
	}
	return fmt.Errorf("%s: give the scenario it was recorded from, or --force to judge it anyway", problem)
}

// short abbreviates a sha256 for messages.
func short(sum string) string {
	if sum == "" {
		return "unknown"
	}
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}

// readTruth reads a ground-truth log: its records, and its recording
// headers by run id.
func readTruth(path string) ([]scenarios.TruthRecord, map[string]scenarios.RecordingHeader, error) {
	in, closeLog, err := openLog(path, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("--truth: %w", err)
	}
	defer closeLog()
	var out []scenarios.TruthRecord
	headers := map[string]scenarios.RecordingHeader{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if h, ok, err := scenarios.ParseRecordingHeader(b); ok {
			if err != nil {
				return nil, nil, lineError(sc, path, line, fmt.Errorf("bad recording header: %w", err))
			}
			if h.RunID == "" {
				return nil, nil, fmt.Errorf("%s:%d: recording header without labels.run_id", path, line)
			}
			headers[h.RunID] = h
			continue
		}
		var t scenarios.TruthRecord
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, nil, lineError(sc, path, line, fmt.Errorf("not a truth record: %w", err))
		}
		if t.Actor == "" || t.RunID == "" {
			return nil, nil, fmt.Errorf("%s:%d: not a truth record (no actor or labels.run_id): give --truth the file of run --truth", path, line)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s:%d: %w", path, line, err)
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("%s: no truth records", path)
	}
	return out, headers, nil
}

// pickRun chooses the run to judge among those of the truth log.
func pickRun(truth []scenarios.TruthRecord, want, scenarioID string) (string, error) {
	seen := map[string]bool{}
	var ids []string
	for _, t := range truth {
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

// replayEvents feeds the run's events to the engine in file order and
// returns the alerts, each event's source address, and the event times.
func replayEvents(eng *detectors.Engine, path, runID string) (scenarios.Recording, []time.Time, error) {
	var rec scenarios.Recording
	in, closeLog, err := openLog(path, nil)
	if err != nil {
		return rec, nil, fmt.Errorf("--events: %w", err)
	}
	defer closeLog()
	rec.EventSources = map[string]string{}
	rec.EventRefs = map[string]scenarios.EventRef{}
	var times []time.Time
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		ev, err := detectors.ParseJSONEvent(b, detectors.JSONOptions{})
		if err != nil {
			return rec, nil, lineError(sc, path, line, err)
		}
		if ev.ID() == "" {
			return rec, nil, fmt.Errorf("%s:%d: not an audit event (no event.id): give --events the file of run --events", path, line)
		}
		if v, ok := ev.Field("labels.run_id"); ok && v != runID {
			continue // another run's event
		}
		rec.Events++
		times = append(times, ev.Time())
		if ev.Time().After(rec.End) {
			rec.End = ev.Time()
		}
		ref := scenarios.EventRef{ID: ev.ID(), Time: ev.Time()}
		str := func(name string) string {
			v, _ := ev.Field(name)
			s, _ := v.(string)
			return s
		}
		ref.Action, ref.Outcome, ref.User, ref.SourceIP = str("event.action"), str("event.outcome"), str("user.name"), str("source.ip")
		if ref.SourceIP != "" {
			rec.EventSources[ev.ID()] = ref.SourceIP
		}
		rec.EventRefs[ev.ID()] = ref
		rec.Alerts = append(rec.Alerts, eng.Process(ev)...)
	}
	if err := sc.Err(); err != nil {
		return rec, nil, fmt.Errorf("%s:%d: %w", path, line, err)
	}
	rec.Alerts = append(rec.Alerts, eng.Flush()...)
	if rec.Events == 0 {
		return rec, nil, fmt.Errorf("%s: no events of run %s", path, runID)
	}
	return rec, times, nil
}
