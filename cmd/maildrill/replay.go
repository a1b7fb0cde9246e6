package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/internal/cliout"
	"github.com/maildrill/maildrill/internal/outpath"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/report"
)

type replayFlags struct {
	reports       reportFlags
	events, truth string
	rules         rulesFlags
	runID         string
	judgeFlags
	force      bool
	failBehind bool
}

func newReplayCmd() *cobra.Command {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay --events EVENTS.jsonl --truth TRUTH.jsonl SCENARIO",
		Short: "Re-judge a recorded run: evaluate the rules over its event log, without re-running the attack",
		Long: `replay is the fast loop after a rule edit. It reads the audit events and
the ground truth a run recorded (run --events --truth, or test --record),
evaluates the rules over the events in event time (the built-in pack
and every --rules; --no-pack: only those), rebuilds each step's span from the truth records, and judges
the scenario's expectations as the live run did. Exit 0 when all hold, 1
when some do not, 2 on bad input.

The truth log's header names the scenario (id and sha256 of its file) the
run was recorded from: replay refuses (exit 2) a recording of another
scenario, or of another version of this one, unless --force. A recording
without a header (older ones) is checked by its run id
(md-SCENARIO-HASH) where it can be, else judged with a warning.

A run ends its truth records with a trailer counting its audit events
(an events log holding fewer is refused: it was cut short) and, on a
scaled or real clock, saying how it kept to its clock: a replay of a run
that fell behind warns as the run did, and --fail-behind fails it.`,
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
	f.rules.register(cmd)
	f.judgeFlags.register(cmd)
	fl.BoolVar(&f.force, "force", false, "judge a recording of another scenario, or of another version of it")
	fl.BoolVar(&f.failBehind, "fail-behind", false, "fail (exit 1) when the recorded run fell behind its scaled or real clock, as run --fail-behind does (its truth log's trailer says)")
	fl.StringVar(&f.runID, "run-id", "", "the run to judge when the logs hold several (default: the only one, or the scenario's)")
	cmd.ValidArgsFunction = completeOneScenario
	return cmd
}

func runReplay(f *replayFlags, name string, stdout, stderr io.Writer) error {
	if f.events == "" || f.truth == "" {
		return usageError{errors.New("replay needs both --events and --truth (record them with: maildrill run SCENARIO --events FILE --truth FILE)")}
	}
	if err := checkFiles(append(append(argFiles([]string{name}), f.rules.files()...), outpath.File{Flag: "--events", Path: f.events}, outpath.File{Flag: "--truth", Path: f.truth}),
		f.reports.files()); err != nil {
		return err
	}
	sc, err := scenarios.Load(name)
	if err != nil {
		return usageError{err}
	}
	log, runID, err := scenarios.OpenRecording(sc, f.truth, "--truth", f.runID, f.force, stderr)
	if err != nil {
		return usageError{err}
	}
	pack, err := f.rules.load()
	if err != nil {
		return err
	}
	eng, err := detectors.NewEngine(pack.Rules, pack.Config)
	if err != nil {
		return usageError{fmt.Errorf("--rules: %w", err)}
	}
	rulepack.ReportUnfireable(stderr, pack.Rules, f.verbose)
	// The names of the organisation are resolved against the one the
	// recording was made with: its header's seed (without a header, the
	// scenario's own). A run refuses a name its organisation lacks, so a
	// recording of this scenario passes; a recording judged with --force
	// against another version may not.
	if err := scenarios.ResolveAll(sc, pack.Rules, log.Headers[runID].Seed); err != nil {
		return usageError{err}
	}
	res, err := scenarios.Replay(sc, log, runID, eng, scenarios.RulesSHA256(pack.Rules), f.events, "--events")
	if err != nil {
		return usageError{err}
	}
	if f.failOnNoise {
		scenarios.FailOnNoise(res)
	}
	if f.failBehind {
		scenarios.FailBehind(res)
	}
	tables := f.reports.tables(stdout, stderr)
	report.WriteTables(tables, res, cliout.ColorOK(tables), f.verbose)
	if err := f.reports.write(buildReport([]report.Run{{Scenario: sc, Result: res, EventTimes: res.EventTimes}}), stdout); err != nil {
		return err
	}
	if res.Failed {
		return failedError{"some expectations did not hold"}
	}
	return nil
}
