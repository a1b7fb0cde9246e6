package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/internal/buildinfo"
	"github.com/maildrill/maildrill/mailsim/corpus"
	"github.com/maildrill/maildrill/scenarios/report"
	scenariorun "github.com/maildrill/maildrill/scenarios/run"
)

// reportFlags are the report files a command writes.
type reportFlags struct{ report.Files }

func (f *reportFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.JSON, "json", "", "write the JSON report (schema maildrill.report/v2) to FILE ('-': stdout)")
	fl.StringVar(&f.JUnit, "junit", "", "write a JUnit XML report to FILE: one test case per expectation")
	fl.StringVar(&f.HTML, "html", "", "write a self-contained HTML report (timeline, verdicts, narrative) to FILE")
	fl.StringVar(&f.Navigator, "navigator", "", "write an ATT&CK Navigator layer (format 4.5) to FILE")
}

// tables is where the verdict tables go: stdout, or stderr when a report
// goes to stdout.
func (f *reportFlags) tables(stdout, stderr io.Writer) io.Writer {
	if f.ToStdout() {
		return stderr
	}
	return stdout
}

// write renders the report in every format asked for; a file error names
// its flag.
func (f *reportFlags) write(rep *report.Report, stdout io.Writer) error {
	err := f.Files.Write(rep, stdout)
	var fe *report.FileError
	if errors.As(err, &fe) {
		return fmt.Errorf("--%s: %w", fe.Format, fe.Err)
	}
	return err
}

// buildReport is the report of the runs, with this binary's version.
func buildReport(runs []report.Run) *report.Report {
	return report.BuildWith(runs, report.Options{Generated: time.Now(), Version: version, Commit: buildinfo.CurrentCommit()})
}

// judgeFlags say how a command that judges expectations reports (run,
// test, replay).
type judgeFlags struct{ verbose, failOnNoise bool }

func (f *judgeFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "name the rules that cannot fire (logsource not mapped) and the events behind each unexpected alert")
	cmd.Flags().BoolVar(&f.failOnNoise, "fail-on-noise", false, "fail (exit 1) when any alert is not covered by an expectation, reported per rule")
}

// scenarioFlags say where and how the commands that run scenarios (run,
// test) run them.
type scenarioFlags struct {
	judgeFlags
	target, profile, corpusCache string
	speed                        float64
	seed                         int64
	deadline                     time.Duration
	syslogTo                     syslogToFlags
}

func (f *scenarioFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "", "target: embedded (default, or what the scenario names), docker (mailsim in a container; docs/containers.md) or dovecot (Debian's Dovecot + Postfix in a container; docs/dovecot.md)")
	fl.StringVar(&f.profile, "profile", "enhanced", "logging profile of the dovecot target: stock (what a default install logs) or enhanced (all Dovecot can export)")
	fl.Float64Var(&f.speed, "speed", 0, "run on a scaled clock: scenario seconds per wall second (default: the scenario's clock, virtual; 1: real time, for outside SIEMs)")
	fl.Int64Var(&f.seed, "seed", 0, "override every scenario's corpus seed")
	fl.DurationVar(&f.deadline, "deadline", 0, "stop each run after this much wall time")
	fl.StringVar(&f.corpusCache, "corpus-cache", corpus.DefaultCacheDir(), "keep generated attachments in DIR between runs ('off' to disable)")
	f.syslogTo.register(fl)
	f.judgeFlags.register(cmd)
}

// check validates --target, --profile and --speed.
func (f *scenarioFlags) check() error {
	switch f.target {
	case "", "embedded", "docker", "dovecot":
	default:
		return usageError{fmt.Errorf("--target %q: want embedded, docker or dovecot", f.target)}
	}
	if f.profile != "stock" && f.profile != "enhanced" {
		return usageError{fmt.Errorf("--profile %q: want stock or enhanced", f.profile)}
	}
	if f.speed < 0 {
		return usageError{errors.New("--speed must be positive")}
	}
	return nil
}

// options are the scenario options the flags set.
func (f *scenarioFlags) options() scenariorun.Options {
	o := scenariorun.Options{Target: f.target, DovecotProfile: f.profile, Seed: f.seed, Speed: f.speed, WallDeadline: f.deadline, Version: version}
	if f.corpusCache != "off" {
		o.CorpusCacheDir = f.corpusCache
	}
	return o
}
