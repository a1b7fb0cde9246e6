package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/internal/buildinfo"
	"github.com/maildrill/maildrill/internal/outpath"
	"github.com/maildrill/maildrill/mailsim/clock"
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
	// failBehind fails a run that fell behind its clock (a scaled or
	// real one).
	failBehind                   bool
	oneAtATime                   bool
	target, profile, corpusCache string
	cacheChecked                 bool // the default corpus cache was checked (options)
	speed                        float64
	seed                         int64
	deadline                     time.Duration
	syslogTo                     syslogToFlags
	allow                        []string
	remote                       remoteFlags
}

func (f *scenarioFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "", "target: embedded (default, or what the scenario names), docker (mailsim in a container; docs/containers.md), dovecot (Debian's Dovecot + Postfix in a container; docs/dovecot.md) or remote (your own staging server, --remote FILE; docs/remote.md)")
	fl.StringSliceVar(&f.allow, "allow-target", nil, "allow attacks on this outside host: a name, an IP, a CIDR or host:port (repeatable); every endpoint of --remote must be covered")
	f.remote.register(fl)
	fl.StringVar(&f.profile, "profile", "enhanced", "logging profile of the dovecot target: stock (what a default install logs) or enhanced (all Dovecot can export)")
	fl.Float64Var(&f.speed, "speed", 0, "run on a scaled clock: scenario seconds per wall second, 0.001 to 1000000 (default: the scenario's clock, virtual; 1: real time, for outside SIEMs)")
	fl.Int64Var(&f.seed, "seed", 0, "override every scenario's corpus seed")
	fl.DurationVar(&f.deadline, "deadline", 0, "stop each run after this much wall time")
	fl.StringVar(&f.corpusCache, "corpus-cache", corpus.DefaultCacheDir(), "keep generated attachments in DIR between runs ('off' to disable; the default is left out, with a note, when it cannot be written)")
	fl.BoolVar(&f.oneAtATime, "one-at-a-time", false, "on the virtual clock, run every action alone: the same trail and verdicts, slower (by default the embedded target's independent staff actions run side by side)")
	f.syslogTo.register(fl)
	f.judgeFlags.register(cmd)
}

// registerFailBehind adds --fail-behind (run and test: exercise mode's
// runs are judged in its debrief).
func (f *scenarioFlags) registerFailBehind(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.failBehind, "fail-behind", false, "fail (exit 1) when the run fell behind its scaled or real clock: an action started over a minute of scenario time late, so the verdicts were judged on a stretched time")
}

// check validates --target, --profile and --speed.
func (f *scenarioFlags) check() error {
	if f.remote.file != "" && f.target == "" {
		f.target = "remote"
	}
	switch f.target {
	case "", "embedded", "docker", "dovecot":
		if f.remote.file != "" || f.remote.seed || f.remote.perFolder != 0 {
			target := f.target
			if target == "" {
				target = "embedded (the default)"
			}
			return usageError{fmt.Errorf("--remote, --seed-mailboxes and --seed-per-folder are for --target remote, not %s", target)}
		}
	case "remote":
		if f.remote.file == "" {
			return usageError{errors.New("--target remote needs --remote FILE: the staging server's endpoints and test accounts (docs/remote.md)")}
		}
		if f.remote.perFolder < 0 {
			return usageError{errors.New("--seed-per-folder must be positive")}
		}
	default:
		return usageError{fmt.Errorf("--target %q: want embedded, docker, dovecot or remote", f.target)}
	}
	if f.profile != "stock" && f.profile != "enhanced" {
		return usageError{fmt.Errorf("--profile %q: want stock or enhanced", f.profile)}
	}
	if f.deadline < 0 {
		return usageError{fmt.Errorf("--deadline %s: want a positive duration (0: no limit)", f.deadline)}
	}
	if f.corpusCache != "off" && f.corpusCache != "" && f.corpusCache != corpus.DefaultCacheDir() {
		// A cache the user named must work: said before anything starts,
		// naming the flag (it surfaced as the target failing to start).
		if err := writableDir(f.corpusCache); err != nil {
			return usageError{fmt.Errorf("--corpus-cache %s: %w", f.corpusCache, err)}
		}
	}
	if f.speed != 0 { // 0: the flag's default, the scenario's own clock
		if err := clock.CheckFactor(f.speed); err != nil {
			return usageError{fmt.Errorf("--%w", err)}
		}
	}
	return nil
}

// options are the scenario options the flags set. The default corpus
// cache, in the user's cache directory, is left out with a note on stderr
// (once) when it cannot be written: a home that is read-only or not the
// user's, as in some CI containers. It only saves rendering time; a
// --corpus-cache DIR given that cannot be written is an error.
func (f *scenarioFlags) options(stderr io.Writer) scenariorun.Options {
	o := scenariorun.Options{Target: f.target, DovecotProfile: f.profile, Seed: f.seed, Speed: f.speed, WallDeadline: f.deadline, Version: version,
		OneAtATime: f.oneAtATime}
	if f.corpusCache == "off" {
		return o
	}
	if f.corpusCache == corpus.DefaultCacheDir() && !f.cacheChecked {
		f.cacheChecked = true
		if err := writableDir(f.corpusCache); err != nil {
			fmt.Fprintf(stderr, "corpus cache off: %v (--corpus-cache DIR keeps generated attachments elsewhere)\n", err)
			f.corpusCache = "off"
			return o
		}
	}
	o.CorpusCacheDir = f.corpusCache
	return o
}

// writableDir makes dir if needed and checks that a file can be made in it.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p, err := os.CreateTemp(dir, ".write-check-")
	if err != nil {
		return err
	}
	p.Close()
	return os.Remove(p.Name())
}

// rulesFlags choose the rules that judge: the built-in pack plus every
// --rules, or only them with --no-pack, with the pack configuration and
// placeholders (run, test, replay, validate, detect, rules eval).
type rulesFlags struct{ rulepack.Layers }

func (f *rulesFlags) register(cmd *cobra.Command) {
	f.registerRules(cmd)
	cmd.Flags().StringArrayVar(&f.Placeholders, "placeholder", nil, "set a placeholder of the rules, NAME=VALUE1,VALUE2 (repeatable; a NAME no rule uses is refused), over the packs' pack.yml (default: office_networks=10.20.0.0/16, internal_domains=interieur.test)")
}

// registerRules registers all but --placeholder (rules eval has its own).
func (f *rulesFlags) registerRules(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.Paths, "rules", nil, "add the Sigma rules in this directory (recursively, with its pack.yml) or file to the built-in pack (repeatable)")
	fl.BoolVar(&f.NoPack, "no-pack", false, "leave the built-in pack out: only the --rules given judge")
	fl.StringVar(&f.ConfigFile, "rules-config", "", "rule pack configuration FILE in the pack.yml format (time_modifiers.timezone, placeholders), over the packs' own")
}

// load loads the rules; a refusal names its flag (exit 2).
func (f *rulesFlags) load() (*rulepack.Pack, error) {
	p, err := rulepack.LoadLayers(f.Layers)
	var le *rulepack.LayerError
	if errors.As(err, &le) {
		flag := map[string]string{"Paths": "--rules", "NoPack": "--no-pack", "ConfigFile": "--rules-config", "Placeholders": "--placeholder"}[le.Field]
		return nil, usageError{fmt.Errorf("%s %w", flag, le)}
	}
	if err != nil {
		return nil, usageError{err}
	}
	return p, nil
}

// deprecatedAlias registers old as a hidden, deprecated spelling of cmd's
// flag canonical (the same value): the command lines written before the
// flag names were unified keep working, with a notice on stderr.
func deprecatedAlias(cmd *cobra.Command, old, canonical string) {
	fl := cmd.Flags()
	f := fl.Lookup(canonical)
	fl.Var(f.Value, old, f.Usage)
	if f.NoOptDefVal != "" {
		fl.Lookup(old).NoOptDefVal = f.NoOptDefVal
	}
	_ = fl.MarkDeprecated(old, "use --"+canonical)
}

// files are the report files the flags name, as outputs.
func (f *reportFlags) files() []outpath.File {
	return []outpath.File{{Flag: "--json", Path: f.JSON}, {Flag: "--junit", Path: f.JUnit}, {Flag: "--html", Path: f.HTML}, {Flag: "--navigator", Path: f.Navigator}}
}

// files are the rule files and directories the flags name, as inputs.
func (f *rulesFlags) files() []outpath.File {
	out := []outpath.File{{Flag: "--rules-config", Path: f.ConfigFile}}
	for _, p := range f.Paths {
		out = append(out, outpath.File{Flag: "--rules", Path: p})
	}
	return out
}

// argFiles are the scenario arguments that are files (library names are
// not), as inputs.
func argFiles(args []string) []outpath.File {
	var out []outpath.File
	for _, a := range args {
		if fi, err := os.Stat(a); err == nil && !fi.IsDir() {
			out = append(out, outpath.File{Flag: "the scenario", Path: a})
		}
	}
	return out
}

// checkFiles refuses (exit 2) an output that is one of the inputs or
// another output (outpath.Check).
func checkFiles(inputs []outpath.File, outputs ...[]outpath.File) error {
	var outs []outpath.File
	for _, o := range outputs {
		outs = append(outs, o...)
	}
	if err := outpath.Check(inputs, outs); err != nil {
		return usageError{err}
	}
	return nil
}

// httpURL says whether s is an http or https URL with a host.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
