package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/internal/cliout"
	"github.com/maildrill/maildrill/internal/outpath"
	"github.com/maildrill/maildrill/internal/termsafe"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/report"
	scenariorun "github.com/maildrill/maildrill/scenarios/run"
)

type runFlags struct {
	scenarioFlags
	rules                 rulesFlags
	reports               reportFlags
	events, truth, syslog string
	quiet                 bool
	cpuProfile            string // hidden: --cpuprofile FILE
}

func newRunCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run SCENARIO...",
		Short: "Replay scenarios against a mail system and judge the detection rules",
		Long: `run replays each scenario (a file, or a library name such as ministry-overnight)
against its target — by default an embedded mail system on loopback with a
virtual clock — runs the detection rules over the audit trail, and judges
every expectation. Exit 0 when all hold, 1 when some do not, 2 on bad input.`,
		Example: `  maildrill run ministry-overnight
  maildrill run ./my-scenario.yaml --events audit.jsonl --truth truth.jsonl
  maildrill run password-spray --speed 60
  maildrill run ministry-overnight --rules ./our-rules --placeholder office_networks=10.0.0.0/8
  maildrill run ministry-overnight --syslog-to tcp://127.0.0.1:5514   # feed a SIEM
  maildrill run ministry-overnight --remote staging.yaml --allow-target 192.0.2.0/24 --seed-mailboxes`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScenarios(cmd.Context(), f, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f.scenarioFlags.register(cmd)
	f.registerFailBehind(cmd)
	f.reports.register(cmd)
	f.rules.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.events, "events", "", "write the audit events as JSON lines to FILE")
	fl.StringVar(&f.truth, "truth", "", "write the ground truth as JSON lines to FILE")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the verdicts")
	fl.StringVar(&f.syslog, "syslog", "", "write the audit trail as Dovecot/Postfix mail-log lines to FILE, streamed during the run")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole command (runtime/pprof) to FILE")
	_ = fl.MarkHidden("cpuprofile")
	completeScenarioCmd(cmd)
	return cmd
}

func runScenarios(ctx context.Context, f *runFlags, args []string, stdout, stderr io.Writer) error {
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			return usageError{fmt.Errorf("--cpuprofile: %w", err)}
		}
		defer stop()
	}
	allow, err := scenariorun.AllowList(f.allow)
	if err != nil {
		return usageError{err}
	}
	if err := f.check(); err != nil {
		return err
	}
	if err := checkFiles(append(append(argFiles(args), f.rules.files()...), outpath.File{Flag: "--remote", Path: f.remote.file}),
		f.reports.files(), []outpath.File{{Flag: "--events", Path: f.events}, {Flag: "--truth", Path: f.truth}, {Flag: "--syslog", Path: f.syslog}, {Flag: "--cpuprofile", Path: f.cpuProfile}}); err != nil {
		return err
	}
	rs, org, err := f.remoteSpec(ctx, stderr, false)
	if err != nil {
		return err
	}
	list, err := scenarios.LoadAll(args)
	if err != nil {
		return usageError{err}
	}
	pack, err := f.rules.load() // a bad rule or pack.yml, once, before any run
	if err != nil {
		return err
	}
	rules, err := scenarios.ResolveSuiteOn(list, pack.Rules, &pack.Config, f.seed, org)
	if err != nil {
		return usageError{err}
	}
	rulepack.ReportUnfireable(stderr, rules, f.verbose)
	outs, err := scenariorun.OpenOutputs(f.events, f.truth, f.syslog, stdout)
	var oe *scenariorun.OutputError
	if errors.As(err, &oe) {
		return usageError{fmt.Errorf("--%s: %w", oe.Name, oe.Err)}
	}
	defer outs.Close()
	sys, err := f.syslogTo.open(stderr, nil)
	if err != nil {
		return err
	}
	defer sys.finish()
	tty := cliout.IsTerminal(stderr)
	failed := false
	var results []report.Run
	for _, sc := range list {
		opts := f.options(stderr)
		opts.AllowTargets, opts.Rules, opts.RulesConfig, opts.Remote = allow, rules, &pack.Config, rs
		opts.SyslogTo = sys.sender()
		outs.Set(&opts)
		tl := report.NewTimeline(stderr, sc, tty, cliout.ColorOK(stderr), f.quiet)
		fmt.Fprintf(stderr, "▶ %s — %s\n", sc.ID, termsafe.String(sc.Title))
		note, stopStatus := runStatus(stderr, sc, tl, f.speed, f.quiet)
		opts.Progress = note
		res, err := scenariorun.Run(ctx, sc, opts)
		stopStatus()
		tl.Done()
		if res != nil {
			if f.failOnNoise {
				scenarios.FailOnNoise(res)
			}
			if f.failBehind {
				scenarios.FailBehind(res)
			}
			results = append(results, report.Run{Scenario: sc, Result: res, Err: err, EventTimes: res.EventTimes, Speed: f.speed})
			w := f.reports.tables(stdout, stderr)
			if err != nil {
				fmt.Fprintf(w, "\n%s did not finish (%s): the table judges only what ran before the stop\n", sc.ID, termsafe.Lines(err.Error()))
			}
			report.WriteTables(w, res, cliout.ColorOK(w), f.verbose)
			if res.Failed {
				failed = true
			}
		}
		if err != nil {
			var se *scenariorun.StepError
			var re scenarios.Errors
			if errors.As(err, &se) || errors.As(err, &re) {
				return usageError{err}
			}
			return err
		}
	}
	rep := buildReport(results)
	rep.SyslogTo = sys.delivery()
	if err := f.reports.write(rep, stdout); err != nil {
		return err
	}
	if failed {
		return failedError{"some expectations did not hold"}
	}
	return nil
}
