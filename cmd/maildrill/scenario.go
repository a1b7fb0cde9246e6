package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/report"
)

func init() {
	extraCommands = append(extraCommands, newRunCmd, newValidateCmd, newListCmd, newShowCmd)
}

type runFlags struct {
	target, events, truth string
	profile               string
	reports               reportFlags
	speed                 float64
	seed                  int64
	allow                 []string
	quiet                 bool
	verbose               bool
	deadline              time.Duration
	corpusCache           string
	syslog                string
	failOnNoise           bool
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
  maildrill run password-spray --speed 60`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScenarios(cmd.Context(), f, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "", "target: embedded (default, or what the scenario names), docker (mailsim in a container; docs/containers.md) or dovecot (Debian's Dovecot + Postfix in a container; docs/dovecot.md)")
	fl.StringVar(&f.profile, "profile", "enhanced", "logging profile of the dovecot target: stock (what a default install logs) or enhanced (all Dovecot can export)")
	fl.StringVar(&f.events, "events", "", "write the audit events as JSON lines to FILE")
	fl.StringVar(&f.truth, "truth", "", "write the ground truth as JSON lines to FILE")
	f.reports.register(cmd)
	fl.Float64Var(&f.speed, "speed", 0, "run on a scaled clock: scenario seconds per wall second (default: the scenario's clock, virtual)")
	fl.Int64Var(&f.seed, "seed", 0, "override the corpus seed")
	fl.StringSliceVar(&f.allow, "allow-target", nil, "allow attacks on this outside host:port (repeatable)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the verdicts")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "name the rules that cannot fire (logsource not mapped) and the events behind each unexpected alert")
	fl.BoolVar(&f.failOnNoise, "fail-on-noise", false, "fail (exit 1) when any alert is not covered by an expectation, reported per rule")
	fl.DurationVar(&f.deadline, "deadline", 0, "stop the run after this much wall time")
	fl.StringVar(&f.syslog, "syslog", "", "write the audit trail as Dovecot/Postfix mail-log lines to FILE, streamed during the run")
	fl.StringVar(&f.corpusCache, "corpus-cache", defaultCorpusCache(), "keep generated attachments in DIR between runs ('off' to disable)")
	return cmd
}

func runScenarios(ctx context.Context, f *runFlags, args []string, stdout, stderr io.Writer) error {
	allow, err := scenarios.AllowList(f.allow)
	if err != nil {
		return usageError{err}
	}
	if f.speed < 0 {
		return usageError{fmt.Errorf("--speed must be positive")}
	}
	if err := checkTarget(f.target, f.profile); err != nil {
		return err
	}
	var list []*scenarios.Scenario
	var bad []error
	args, err = expandDirs(args)
	if err != nil {
		return usageError{err}
	}
	for _, a := range args {
		sc, err := scenarios.Load(a)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		list = append(list, sc)
	}
	if len(bad) > 0 {
		return usageError{errors.Join(bad...)}
	}
	rules, err := resolveSuite(list, nil, f.seed)
	if err != nil {
		return err
	}
	reportInactiveRules(stderr, rules, f.verbose) // run uses the built-in pack
	openOut := func(path string) (io.WriteCloser, error) {
		if path == "" {
			return nil, nil
		}
		if path == "-" {
			return nopCloser{stdout}, nil
		}
		return os.Create(path)
	}
	evW, err := openOut(f.events)
	if err != nil {
		return usageError{fmt.Errorf("--events: %w", err)}
	}
	trW, err := openOut(f.truth)
	if err != nil {
		return usageError{fmt.Errorf("--truth: %w", err)}
	}
	slW, err := openOut(f.syslog)
	if err != nil {
		return usageError{fmt.Errorf("--syslog: %w", err)}
	}
	if slW != nil {
		defer slW.Close()
	}
	defer func() {
		if evW != nil {
			evW.Close()
		}
		if trW != nil {
			trW.Close()
		}
	}()
	tty := isTerminal(stderr)
	failed := false
	var results []report.Run
	for _, sc := range list {
		opts := scenarios.Options{Target: f.target, Seed: f.seed, Speed: f.speed, AllowTargets: allow, WallDeadline: f.deadline,
			DovecotProfile: f.profile, Rules: rules, Version: version}
		if slW != nil {
			opts.Syslog = slW
		}
		if f.corpusCache != "off" {
			opts.CorpusCacheDir = f.corpusCache
		}
		times := &eventTimes{} // for the HTML report's events per minute
		opts.Events = times
		if evW != nil {
			opts.Events = io.MultiWriter(evW, times)
		}
		if trW != nil {
			opts.Truth = trW
		}
		tl := newTimeline(stderr, sc, tty, f.quiet)
		opts.Progress = tl.note
		fmt.Fprintf(stderr, "▶ %s — %s\n", sc.ID, sc.Title)
		res, err := scenarios.Run(ctx, sc, opts)
		tl.done()
		if res != nil && f.failOnNoise {
			scenarios.FailOnNoise(res)
		}
		if res != nil {
			results = append(results, report.Run{Scenario: sc, Result: res, Err: err, EventTimes: times.times, Speed: f.speed})
			w := stdout
			if f.reports.toStdout() {
				w = stderr
			}
			if err != nil {
				fmt.Fprintf(w, "\n%s did not finish (%v): the table judges only what ran before the stop\n", sc.ID, err)
			}
			printVerdicts(w, res)
			printNoise(w, res, f.verbose)
			if res.Failed {
				failed = true
			}
		}
		if err != nil {
			var se *scenarios.StepError
			var re scenarios.Errors
			if errors.As(err, &se) || errors.As(err, &re) {
				return usageError{err}
			}
			return err
		}
	}
	if err := f.reports.write(buildReport(results), stdout); err != nil {
		return err
	}
	if failed {
		return failedError{"some expectations did not hold"}
	}
	return nil
}

// defaultCorpusCache is the user's cache directory for generated
// attachments ("" when the platform has none).
func defaultCorpusCache() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "maildrill", "corpus")
}

// expandDirs replaces directories by the scenario files (*.yaml, *.yml)
// found under them, recursively, skipping testdata and hidden directories.
func expandDirs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil || !st.IsDir() {
			out = append(out, a)
			continue
		}
		var files []string
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != a && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := filepath.Ext(p); ext == ".yaml" || ext == ".yml" {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no scenario files (*.yaml) under this directory", a)
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd()) && os.Getenv("TERM") != "dumb"
}

func colorOK(w io.Writer) bool { return isTerminal(w) && os.Getenv("NO_COLOR") == "" }

// timeline prints the run as it goes: steps, alerts, download progress.
type timeline struct {
	mu     sync.Mutex
	w      io.Writer
	sc     *scenarios.Scenario
	tty    bool
	quiet  bool
	status bool // a progress line is on screen
}

func newTimeline(w io.Writer, sc *scenarios.Scenario, tty, quiet bool) *timeline {
	return &timeline{w: w, sc: sc, tty: tty, quiet: quiet}
}

func (t *timeline) note(n scenarios.Note) {
	if t.quiet {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := n.Time.In(t.sc.Env.Location).Format("Mon 15:04:05")
	if n.Kind == "progress" {
		if !t.tty {
			return // plain output: only the step lines
		}
		bar := progressBar(n.Count, n.Total, 20)
		fmt.Fprintf(t.w, "\r  %s  %-12s %s %s %d/%d  %s\x1b[K", ts, n.Actor, n.Text, bar, n.Count, n.Total, humanBytes(n.Bytes))
		t.status = true
		return
	}
	if n.Actor != "" && strings.Contains(n.Actor, "/") && n.Kind == "step" {
		return // staff steps would drown the timeline
	}
	if t.status {
		fmt.Fprint(t.w, "\r\x1b[K")
		t.status = false
	}
	switch n.Kind {
	case "alert":
		if t.tty && colorOK(t.w) {
			fmt.Fprintf(t.w, "  %s  \x1b[1;31m⚑ ALERT\x1b[0m %s\n", ts, n.Text)
		} else {
			fmt.Fprintf(t.w, "  %s  ALERT %s\n", ts, n.Text)
		}
	default:
		fmt.Fprintf(t.w, "  %s  %-12s %s\n", ts, n.Actor, n.Text)
	}
}

func (t *timeline) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status {
		fmt.Fprint(t.w, "\r\x1b[K")
	}
}

func progressBar(n, total, width int) string {
	if total <= 0 {
		return ""
	}
	f := n * width / total
	return "[" + strings.Repeat("█", f) + strings.Repeat("·", width-f) + "]"
}

func humanBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func printVerdicts(w io.Writer, res *scenarios.Result) {
	color := colorOK(w)
	fmt.Fprintf(w, "\n%s: %d actions, %d audit events, %d alerts; %s of scenario time in %s\n",
		res.Scenario.ID, res.Actions, res.Events, len(res.Alerts), res.End.Sub(res.Start).Round(time.Minute), res.Wall.Round(time.Millisecond))
	if len(res.Verdicts) == 0 {
		fmt.Fprintln(w, "  (no expectations)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "RESULT"
	if color {
		head = "\x1b[1;39m" + head + "\x1b[0m" // same escape length as the results, so columns align
	}
	fmt.Fprintf(tw, "  %s\tRULE\tWINDOW\tTIME TO DETECT\tALERTS\tDETAIL\n", head)
	for _, v := range res.Verdicts {
		r := strings.ToUpper(v.Result)
		if color {
			if v.OK() {
				r = "\x1b[0;32m" + r + "\x1b[0m"
			} else {
				r = "\x1b[1;31m" + r + "\x1b[0m"
			}
		}
		win := "after " + orDash(v.Anchor)
		ttd := "-"
		switch {
		case v.Kind == scenarios.KindNoise:
			win = "noise (unexpected alerts)"
		case v.Kind == "must_not_fire":
			from, to := report.Span(v.WindowStart, v.WindowEnd, res.Scenario.Env.Location, "15:04")
			win = "silent " + from + "–" + to
		case v.FirstAlert != nil:
			ttd = v.TTD.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\n", r, v.Rule, win, ttd, v.Alerts, v.Detail)
	}
	tw.Flush()
}

// printNoise prints the alerts no expectation covers, per rule, with who
// caused them; verbose lists each alert's events.
func printNoise(w io.Writer, res *scenarios.Result, verbose bool) {
	noise := scenarios.Noise(res.Scenario, res)
	if len(noise) == 0 {
		fmt.Fprintln(w, "  unexpected alerts: none")
		return
	}
	total := 0
	for _, n := range noise {
		total += n.Alerts
	}
	fmt.Fprintf(w, "  unexpected alerts (no expectation covers them): %d\n", total)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  RULE\tALERTS\tATTACKER\tSTAFF\tUNKNOWN")
	for _, n := range noise {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\n", n.Title, n.Alerts, n.Attacker, n.Staff, n.Unknown)
	}
	tw.Flush()
	if !verbose {
		return
	}
	for _, n := range noise {
		fmt.Fprintf(w, "  %s:\n", n.Title)
		for _, it := range n.Items {
			t := it.Time
			if loc := res.Scenario.Env.Location; loc != nil {
				t = t.In(loc)
			}
			fmt.Fprintf(w, "    %s %s (%s): events %s\n", t.Format(time.RFC3339), it.Attribution, it.Reason, strings.Join(it.EventIDs, " "))
		}
	}
}

// buildReport is the report of the runs, with this binary's version.
func buildReport(runs []report.Run) *report.Report {
	info, ok := debug.ReadBuildInfo()
	return report.BuildWith(runs, report.Options{Generated: time.Now(), Version: version, Commit: buildCommit(info, ok)})
}

func orDash(s string) string {
	if s == "" {
		return "start"
	}
	return s
}

func newValidateCmd() *cobra.Command {
	var rulesPath string
	var seed int64
	cmd := &cobra.Command{
		Use:   "validate [--rules DIR|FILE] [--seed N] FILE...",
		Short: "Check scenario files: every problem with file:line:col and a hint",
		Long: `validate checks scenario files (or library names, or directories of *.yaml):
the language; every expectation resolved against the rules that will
judge it — the built-in pack, or --rules — by rule id, name or title, its
group: keys against the rule's group-by fields, and refused when the rule
can never alert (a correlation's base rule, an unmapped logsource); and
every account, role, folder, file type and recipient the steps name
against the organisation the scenario's seed (or --seed) generates. Every
problem is printed with file:line:col and a hint. Exit 0 when all are
valid, 2 otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			args, err := expandDirs(args)
			if err != nil {
				return usageError{err}
			}
			rules, err := loadRules(rulesPath)
			if err != nil {
				return usageError{err}
			}
			if rules, err = scenarios.CheckRules(rules); err != nil {
				return usageError{err}
			}
			for _, a := range args {
				sc, err := scenarios.Load(a)
				if err == nil {
					err = resolveScenario(sc, rules, seed)
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s, %d actors, %d expectations)\n", a, sc.ID, len(sc.Actors), len(sc.Expect))
			}
			if len(errs) > 0 {
				return usageError{errors.Join(errs...)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rulesPath, "rules", "", "resolve the expectations against this rules directory or file (default: the built-in pack)")
	cmd.Flags().Int64Var(&seed, "seed", 0, "resolve accounts, folders and file types against the organisation of this corpus seed, as run --seed and test --seed do (default: each scenario's own)")
	return cmd
}

func newListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the scenario library and the step kinds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lib, err := scenarios.Library()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCENARIO\tATT&CK\tTITLE")
			for _, s := range lib {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.ID, strings.Join(s.Attack, ","), s.Title)
			}
			tw.Flush()
			fmt.Fprintln(w, "\nStep kinds:")
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			for _, k := range scenarios.StepKinds() {
				fmt.Fprintf(tw, "  %s\t%s\n", k.Name, k.Summary)
			}
			return tw.Flush()
		},
	}
}

func newShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print a library scenario (narrative, steps, expectations) as YAML",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := scenarios.LibrarySource(args[0])
			if err != nil {
				_, lerr := scenarios.Load(args[0])
				if lerr != nil {
					return usageError{lerr}
				}
				return usageError{err}
			}
			_, err = cmd.OutOrStdout().Write(src)
			return err
		},
	}
}

// checkTarget validates --target and --profile.
func checkTarget(target, profile string) error {
	switch target {
	case "", "embedded", "docker", "dovecot":
	default:
		return usageError{fmt.Errorf("--target %q: want embedded, docker or dovecot", target)}
	}
	if profile != "stock" && profile != "enhanced" {
		return usageError{fmt.Errorf("--profile %q: want stock or enhanced", profile)}
	}
	return nil
}
