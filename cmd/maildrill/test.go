package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/detectors/alertsrc"
	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/internal/cliout"
	"github.com/maildrill/maildrill/internal/outpath"
	"github.com/maildrill/maildrill/internal/termsafe"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/report"
	scenariorun "github.com/maildrill/maildrill/scenarios/run"
)

// alertFlags bring in alerts from an outside detection system.
type alertFlags struct {
	alertsrc.IntakeConfig
	wait     time.Duration
	noEngine bool
}

func (f *alertFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.Webhook, "alerts-webhook", "", "receive outside alerts POSTed as JSON to http://ADDR/ (host:port)")
	fl.StringVar(&f.Token, "alerts-token", "", "require this bearer token on the alert webhook")
	fl.StringVar(&f.File, "alerts-file", "", "read outside alerts from a JSON-lines FILE (read again on each poll)")
	fl.StringVar(&f.Command, "alerts-command", "", "run this shell command on each poll and read outside alerts from its output ($MAILDRILL_RUN_ID is the run id)")
	fl.StringVar(&f.Mapping, "alerts-map", "", "where outside alerts keep their fields: rule=PATH,rule_id=PATH,time=PATH,time_layout=LAYOUT,level=PATH,run_id=PATH,key.NAME=PATH")
	fl.DurationVar(&f.wait, "alerts-wait", 30*time.Second, "after each run, wait up to this long (wall time) for outside alerts that arrive late (0: ask once, without waiting)")
	fl.BoolVar(&f.noEngine, "no-engine", false, "judge outside alerts only: do not run the built-in rule engine")
}

// open starts the suite's outside alert intake; nil without a source.
func (f *alertFlags) open(stderr io.Writer) (*alertsrc.Intake, error) {
	if f.wait < 0 {
		return nil, fmt.Errorf("--alerts-wait %s: want a duration of 0 or more", f.wait)
	}
	if f.Webhook == "" && f.File == "" && f.Command == "" {
		for _, o := range []struct{ flag, v string }{{"--alerts-map", f.Mapping}, {"--alerts-token", f.Token}} {
			if o.v != "" {
				return nil, fmt.Errorf("%s is for outside alerts: give their source too (--alerts-webhook, --alerts-file or --alerts-command)", o.flag)
			}
		}
	}
	in, err := alertsrc.Open(f.IntakeConfig)
	var ie *alertsrc.IntakeError
	switch {
	case errors.As(err, &ie):
		return nil, fmt.Errorf("--alerts-%s: %w", map[string]string{"Mapping": "map", "Webhook": "webhook"}[ie.Field], ie.Err)
	case in == nil && f.noEngine:
		return nil, errors.New("--no-engine needs an outside alert source (--alerts-webhook, --alerts-file or --alerts-command)")
	case in.URL() != "":
		fmt.Fprintf(stderr, "outside alerts: POST to %s\n", in.URL())
	}
	return in, err
}

type testFlags struct {
	scenarioFlags
	reports reportFlags
	alerts  alertFlags
	jobs    int
	shard   string
	rules   rulesFlags
	record  string
	quiet   bool
}

func newTestCmd() *cobra.Command {
	f := &testFlags{}
	cmd := &cobra.Command{
		Use:   "test [DIR|FILE|NAME]...",
		Short: "Run a suite of scenarios in parallel and fail when any expectation fails (for CI)",
		Long: `test runs every scenario given (files, directories of *.yaml, or library
names; none: the whole built-in library), -j at a time, judges every
expectation and writes the reports asked for. Exit 0 when every expectation
of every scenario holds, 1 when one does not or a run fails, 2 on bad input.

Alerts no expectation covers are listed per rule (attacker, staff or
unknown, from the ground truth; -v lists the events behind each). A
scenario's noise: budget bounds them; --fail-on-noise fails every rule
with one.

--shard k/n runs the k-th of n slices of the suite (scenarios sorted by id,
dealt round-robin), so that n CI runners share a large suite and each
scenario runs on exactly one of them.`,
		Example: `  maildrill test scenarios/library --junit junit.xml --html report.html
  maildrill test my-scenarios/ -j 4 --shard 2/3 --json report.json
  maildrill test --rules ./my-rules --record logs/   # then: maildrill replay`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTest(cmd.Context(), f, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f.scenarioFlags.register(cmd)
	f.registerFailBehind(cmd)
	f.reports.register(cmd)
	f.alerts.register(cmd)
	f.rules.register(cmd)
	fl := cmd.Flags()
	fl.IntVarP(&f.jobs, "jobs", "j", 2, "scenarios run at once")
	fl.StringVar(&f.shard, "shard", "", "run only slice k of n of the suite (k/n, 1 ≤ k ≤ n)")
	fl.StringVar(&f.record, "record", "", "write each run's audit events, ground truth and mail log to DIR/ID.events.jsonl, DIR/ID.truth.jsonl and DIR/ID.mail.log (Dovecot/Postfix syslog lines)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the summary and the failures")
	completeScenarioCmd(cmd)
	return cmd
}

func runTest(ctx context.Context, f *testFlags, args []string, stdout, stderr io.Writer) error {
	k, n, err := scenarios.ParseShard(f.shard)
	if err != nil {
		return usageError{fmt.Errorf("--shard %q: %w", f.shard, err)}
	}
	if f.jobs < 1 {
		return usageError{fmt.Errorf("-j %d: run at least one scenario at a time", f.jobs)}
	}
	if err := f.check(); err != nil {
		return err
	}
	if err := checkFiles(append(append(argFiles(args), f.rules.files()...), outpath.File{Flag: "--remote", Path: f.remote.file}, outpath.File{Flag: "--alerts-file", Path: f.alerts.File}),
		f.reports.files()); err != nil {
		return err
	}
	allow, err := scenariorun.AllowList(f.allow)
	if err != nil {
		return usageError{err}
	}
	outside := f.alerts.Webhook != "" || f.alerts.File != "" || f.alerts.Command != ""
	rs, org, err := f.remoteSpec(ctx, stderr, !outside)
	if err != nil {
		return err
	}
	list, err := scenarios.LoadSuite(args)
	if err != nil {
		return usageError{err}
	}
	pack, err := f.rules.load() // a bad rule or pack.yml, once, before any run
	if err != nil {
		return err
	}
	rules := pack.Rules
	if f.record != "" {
		if err := os.MkdirAll(f.record, 0o755); err != nil {
			return usageError{fmt.Errorf("--record: %w", err)}
		}
	}
	if f.alerts.noEngine {
		// No rule: only outside alerts. Their rules are the outside
		// system's, so the expectations cannot be resolved against any
		// loaded rules: they are not (and scenariorun.Run skips it too).
		// The organisation's names still are.
		rules = []*sigma.Rule{}
	} else {
		rulepack.ReportUnfireable(stderr, rules, f.verbose)
	}
	if rules, err = scenarios.ResolveSuiteOn(list, rules, &pack.Config, f.seed, org); err != nil {
		return usageError{err} // a broken rule, once; or a name the rules or the organisation do not have: exit 2 before any run
	}
	out, err := f.alerts.open(stderr)
	if err != nil {
		return usageError{err}
	}
	defer out.Close()
	list = scenarios.Shard(list, k, n)
	if n > 1 {
		fmt.Fprintf(stderr, "shard %d/%d: %d scenario(s)\n", k, n, len(list))
	}
	if len(list) == 0 {
		fmt.Fprintln(stderr, "no scenario in this shard")
	}

	sys, err := f.syslogTo.open(stderr, nil)
	if err != nil {
		return err
	}
	defer sys.finish()
	opts := f.options(stderr)
	opts.Rules, opts.RulesConfig, opts.SyslogTo = rules, &pack.Config, sys.sender()
	opts.AllowTargets, opts.Remote = allow, rs
	if rs != nil && f.jobs > 1 {
		f.jobs = 1 // one staging server, one log stream: scenarios run one after the other
	}
	tableOf := make([]bytes.Buffer, len(list))
	prog := report.NewSuiteProgress(len(list), time.Now())
	status := cliout.StartStatus(stderr, func() string { return prog.Line(time.Now()) })
	suite := scenariorun.Suite{Jobs: f.jobs, Options: opts, RecordDir: f.record, Outside: out, OutsideWait: f.alerts.wait,
		FailOnNoise: f.failOnNoise, FailBehind: f.failBehind, Done: func(i int, r scenariorun.SuiteRun) {
			if r.Result != nil {
				report.WriteTables(&tableOf[i], r.Result, false, f.verbose)
			}
			prog.Done(r.Err != nil || r.Result == nil || r.Result.Failed)
			status.Print(func() { fmt.Fprintln(stderr, report.StatusLine(reportRun(r, f.speed), cliout.ColorOK(stderr))) })
		}}
	outs := suite.Run(ctx, list)
	status.Stop()

	sys.finish()
	tables := f.reports.tables(stdout, stderr)
	var runs []report.Run
	for i, o := range outs {
		runs = append(runs, reportRun(o, f.speed))
		failed := o.Err != nil || o.Result == nil || o.Result.Failed
		if !f.quiet || failed {
			tables.Write(tableOf[i].Bytes())
			if o.Err != nil {
				fmt.Fprintf(tables, "  error: %s\n", termsafe.Lines(o.Err.Error()))
			}
		}
	}
	rep := buildReport(runs)
	rep.SyslogTo = sys.delivery()
	if err := f.reports.write(rep, stdout); err != nil {
		return err
	}
	report.WriteSummary(stderr, rep)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !rep.Passed {
		return failedError{fmt.Sprintf("%d of %d scenario(s) failed", rep.Summary.Scenarios-rep.ScenariosPassed(), rep.Summary.Scenarios)}
	}
	return nil
}

// reportRun is a suite's run as the reports show it.
func reportRun(r scenariorun.SuiteRun, speed float64) report.Run {
	run := report.Run{Scenario: r.Scenario, Result: r.Result, Err: r.Err, Speed: speed}
	if r.Result != nil {
		run.EventTimes = r.Result.EventTimes
	}
	return run
}
