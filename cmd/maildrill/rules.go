package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/lint"
	"github.com/maildrill/maildrill/internal/jsonl"
)

// newRulesCmd is `maildrill rules`: test, lint and evaluate Sigma rules.
func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Test, lint and evaluate Sigma detection rules",
		Long: `Work with Sigma rules: the built-in pack (embedded in the binary) or a
directory of your own. Rules are Sigma v2 detection and correlation rules;
samples beside them (tests/<rule>.tp.jsonl, tests/<rule>.tn.jsonl) say what
must and must not fire.`,
	}
	cmd.AddCommand(newRulesTestCmd(), newRulesLintCmd(), newRulesEvalCmd(), newRulesListCmd())
	return cmd
}

// rulesSource is the embedded pack, or a directory on disk.
func rulesSource(args []string) (fs.FS, string, error) {
	if len(args) == 0 {
		return detectors.Pack(), "built-in pack", nil
	}
	st, err := os.Stat(args[0])
	if err != nil {
		return nil, "", usageError{fmt.Errorf("rules directory: %w", err)}
	}
	if !st.IsDir() {
		return nil, "", usageError{fmt.Errorf("%s is not a directory", args[0])}
	}
	return os.DirFS(args[0]), args[0], nil
}

// anyLogsourceHint follows the count of rules that cannot fire in the
// commands that have --any-logsource.
const anyLogsourceHint = "--any-logsource runs them on every event"

type engineFlags struct {
	tsField      string
	tz           string
	lateness     time.Duration
	placeholders []string
	anyLogsource bool
	suppress     time.Duration
}

func (f *engineFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.tsField, "timestamp-field", "@timestamp", "event field holding the event time (RFC 3339 or epoch seconds)")
	cmd.Flags().StringVar(&f.tz, "tz", "", "time zone of time modifiers (|hour ...), overriding the pack's pack.yml; 'event' reads times as written (default: the pack's pack.yml, else as written)")
	cmd.Flags().DurationVar(&f.lateness, "lateness", 0, "accept events this much out of order for correlations")
	cmd.Flags().StringArrayVar(&f.placeholders, "placeholder", nil, "placeholder values, name=v1,v2 (default: the pack's office_networks, internal_domains)")
	cmd.Flags().BoolVar(&f.anyLogsource, "any-logsource", false, "run rules whose logsource is not mapped on every event")
	cmd.Flags().DurationVar(&f.suppress, "suppress", 0, "suppress repeated alerts of a rule and group key within this event-time window")
}

// config is the engine configuration for the rules of pack (nil: a single
// rule file, which has no pack settings): the settings of pack's pack.yml,
// overridden by the flags. tm describes how time modifiers read times, for
// `rules list` and `rules lint`.
func (f *engineFlags) config(pack fs.FS, label string) (cfg detectors.Config, tm string, err error) {
	cfg, found, err := detectors.ConfigFS(pack, ".")
	if err != nil {
		return cfg, "", usageError{fmt.Errorf("%s: %w", label, err)}
	}
	source := ""
	if found {
		source = detectors.PackFile
	}
	return f.apply(cfg, source)
}

// apply overrides the pack's configuration cfg (set by source: PackFile,
// or "" for the defaults) with the flags.
func (f *engineFlags) apply(cfg detectors.Config, source string) (detectors.Config, string, error) {
	cfg.TimestampField = f.tsField
	cfg.Lateness = f.lateness
	cfg.Suppress = f.suppress
	switch strings.ToLower(f.tz) {
	case "": // the pack's setting
	case "event", "as-written":
		cfg.Location, source = nil, "--tz"
	default:
		loc, err := time.LoadLocation(f.tz)
		if err != nil {
			return cfg, "", usageError{fmt.Errorf("--tz %q: %w", f.tz, err)}
		}
		cfg.Location, source = loc, "--tz"
	}
	tm := detectors.TimeModifiersText(cfg.Location, source)
	for _, p := range f.placeholders {
		name, vals, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return cfg, "", usageError{fmt.Errorf("--placeholder %q: want name=value1,value2", p)}
		}
		cfg.Placeholders[strings.Trim(name, "%")] = strings.Split(vals, ",")
	}
	if f.anyLogsource {
		ls := detectors.MaildrillLogsources()
		ls.MatchUnmapped = true
		cfg.Logsources = &ls
	}
	return cfg, tm, nil
}

func newRulesTestCmd() *cobra.Command {
	var ef engineFlags
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run every rule's true-positive and true-negative samples",
		Long: `Replays DIR/tests/<rule>.tp.jsonl (each alerting rule of <rule>.yml must
fire) and DIR/tests/<rule>.tn.jsonl (none may fire) for every rule file.
Without DIR, tests the built-in pack.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fsys, label, err := rulesSource(args)
			if err != nil {
				return err
			}
			cfg, _, err := ef.config(fsys, label)
			if err != nil {
				return err
			}
			res, err := detectors.RunSamples(fsys, ".", cfg)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", label, err)}
			}
			if pack, err := detectors.LoadRulePackFS(fsys); err == nil {
				cfg.Lenient = true
				if eng, err := detectors.NewEngine(pack.Rules, cfg); err == nil {
					dir := ""
					if len(args) > 0 {
						dir = args[0]
					}
					detectors.ReportUnfireable(cmd.ErrOrStderr(), eng, verbose, anyLogsourceHint, dir)
				}
			}
			out := cmd.OutOrStdout()
			failed := 0
			for _, r := range res {
				kind := "TN"
				if r.Positive {
					kind = "TP"
				}
				switch {
				case !r.OK:
					failed++
					fmt.Fprintf(out, "FAIL %s %s: %s\n", kind, r.RuleFile, r.Msg)
				case verbose:
					fmt.Fprintf(out, "ok   %s %s (%s)\n", kind, r.RuleFile, r.Sample)
				}
			}
			fmt.Fprintf(out, "%s: %d samples, %d passed, %d failed\n", label, len(res), len(res)-failed, failed)
			if failed > 0 {
				return failedError{fmt.Sprintf("%d rule samples failed", failed)}
			}
			return nil
		},
	}
	ef.register(cmd)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing samples and the rules that cannot fire too")
	return cmd
}

func newRulesLintCmd() *cobra.Command {
	var ef engineFlags
	cmd := &cobra.Command{
		Use:   "lint [DIR]",
		Short: "Check rules against the Sigma JSON schemas and the engine",
		Long: `Validates every rule document against the Sigma v2 JSON schemas (detection
or correlation) and compiles it with maildrill's engine, reporting schema
violations and unsupported constructs as file:line:col: problem.
Without DIR, lints the built-in pack.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fsys, label, err := rulesSource(args)
			if err != nil {
				return err
			}
			cfg, tm, err := ef.config(fsys, label)
			if err != nil {
				return err
			}
			probs, files, err := lint.FS(fsys, ".", cfg)
			if err != nil {
				return usageError{err}
			}
			out := cmd.OutOrStdout()
			prefix := ""
			if len(args) > 0 {
				prefix = strings.TrimSuffix(args[0], "/") + "/"
			}
			for _, p := range probs {
				fmt.Fprintf(out, "%s%s\n", prefix, p)
			}
			fmt.Fprintf(out, "time modifiers: %s\n", tm)
			fmt.Fprintf(out, "%s: %d files, %d problems\n", label, files, len(probs))
			if len(probs) > 0 {
				return failedError{fmt.Sprintf("%d lint problems", len(probs))}
			}
			return nil
		},
	}
	ef.register(cmd)
	return cmd
}

func newRulesEvalCmd() *cobra.Command {
	var ef engineFlags
	var rulesPath string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "eval [--rules DIR|FILE] EVENTS.jsonl|-",
		Short: "Evaluate rules over a JSON-lines event log and print alerts",
		Long: `Reads events (one JSON object per line, flat "a.b" or nested {"a":{"b":..}}
fields; '-' reads stdin; gzip is read as is), evaluates the rules in event time and prints one
JSON object per alert: rule.id, rule.title, rule.level, @timestamp, group,
event.ids, ... Without --rules, evaluates the built-in pack.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pack, err := detectors.LoadRulePack(rulesPath)
			if err != nil {
				return usageError{err}
			}
			cfg, _, err := ef.apply(pack.Config, pack.Settings)
			if err != nil {
				return err
			}
			eng, err := detectors.NewEngine(pack.Rules, cfg)
			if err != nil {
				return usageError{err}
			}
			detectors.ReportUnfireable(cmd.ErrOrStderr(), eng, verbose, anyLogsourceHint, "")
			name := args[0]
			in, closeLog, err := jsonl.Open(name, cmd.InOrStdin())
			if err != nil {
				return usageError{err}
			}
			defer closeLog()
			ctx := cmd.Context()
			if name == "-" {
				name = "stdin"
				// A pipe may go quiet for good: its reads must end on Ctrl-C.
				// A file's reads never block, and the loop below checks ctx.
				in = jsonl.Interruptible(ctx, in)
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			enc := json.NewEncoder(w)
			alerts := 0
			var writeErr error
			line, err := detectors.Evaluate(ctx, eng, in, detectors.JSONOptions{TimestampField: ef.tsField}, name, func(as []detectors.Alert) error {
				for _, a := range as {
					if writeErr = enc.Encode(a); writeErr != nil {
						return writeErr
					}
				}
				alerts += len(as)
				return nil
			})
			switch {
			case writeErr != nil:
				return writeErr
			case ctx.Err() != nil:
				// Stopped (Ctrl-C, SIGTERM, --deadline): what was found so far
				// is written; correlations still open are not flushed, as the
				// log was not read to its end.
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "stopped at line %d of %s: %d events evaluated, %d alerts written; the rest of the log was not evaluated\n",
					line, name, eng.Stats().Events, alerts)
				return fmt.Errorf("rules eval stopped: %w", context.Cause(ctx))
			case err != nil:
				return usageError{err}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			st := eng.Stats()
			fmt.Fprintf(cmd.ErrOrStderr(), "%d events, %d rule matches, %d alerts (%d suppressed, %d late, %d groups evicted)\n",
				st.Events, st.Matches, st.Alerts, st.Suppressed, st.Late, st.Evicted)
			return nil
		},
	}
	ef.register(cmd)
	cmd.Flags().StringVar(&rulesPath, "rules", "", "rules directory or file (default: the built-in pack)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "name the rules that cannot fire (logsource not mapped)")
	return cmd
}

func newRulesListCmd() *cobra.Command {
	var ef engineFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [DIR]",
		Short: "List the alerting rules (the catalogue, read from the rule files)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fsys, label, err := rulesSource(args)
			if err != nil {
				return err
			}
			pack, err := detectors.LoadRulePackFS(fsys)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", label, err)}
			}
			cfg, tm, err := ef.apply(pack.Config, pack.Settings)
			if err != nil {
				return err
			}
			cat, err := detectors.Catalogue(pack.Rules, cfg)
			if err != nil {
				return usageError{err}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				fmt.Fprintf(cmd.ErrOrStderr(), "time modifiers: %s\n", tm)
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(cat)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "FILE\tTYPE\tLEVEL\tATT&CK\tTITLE")
			for _, r := range cat {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.File, r.Type, r.Level, strings.Join(r.Attack, ","), r.Title)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "time modifiers: %s\n", tm)
			return err
		},
	}
	ef.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
