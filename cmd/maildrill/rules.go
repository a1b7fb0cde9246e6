package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/lint"
	"github.com/maildrill/maildrill/detectors/rulepack"
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
	cmd.AddCommand(newRulesTestCmd(), newRulesLintCmd(), newRulesEvalCmd(), newRulesListCmd(), newRulesNewCmd())
	return cmd
}

// anyLogsourceHint follows the count of rules that cannot fire in the
// commands that have --any-logsource.
const anyLogsourceHint = "--any-logsource runs them on every event"

// engineFlags override a pack's engine configuration.
type engineFlags struct{ rulepack.Overrides }

func (f *engineFlags) register(cmd *cobra.Command) {
	f.TZSource = "--tz"
	cmd.Flags().StringVar(&f.TimestampField, "timestamp-field", "@timestamp", "event field holding the event time (RFC 3339 or epoch seconds)")
	cmd.Flags().StringVar(&f.TZ, "tz", "", "time zone of time modifiers (|hour ...), overriding the pack's pack.yml; 'event' reads times as written (default: the pack's pack.yml, else as written)")
	cmd.Flags().DurationVar(&f.Lateness, "lateness", 0, "accept events this much out of order for correlations")
	cmd.Flags().StringArrayVar(&f.Placeholders, "placeholder", nil, "placeholder values, name=v1,v2 (default: the pack's office_networks, internal_domains)")
	cmd.Flags().BoolVar(&f.AnyLogsource, "any-logsource", false, "run rules whose logsource is not mapped on every event")
	cmd.Flags().DurationVar(&f.Suppress, "suppress", 0, "suppress repeated alerts of a rule and group key within this event-time window")
}

// source is the pack a rules subcommand works on (args: [DIR]; none: the
// built-in pack), its label and its configuration overridden by the flags.
// tm describes how time modifiers read times.
func (f *engineFlags) source(args []string) (fsys fs.FS, label string, cfg detectors.Config, tm string, err error) {
	fsys, label, err = rulepack.Dir(dir(args))
	if err != nil {
		return nil, "", cfg, "", usageError{err}
	}
	cfg, source, err := rulepack.ConfigSource(fsys)
	if err != nil {
		return nil, "", cfg, "", usageError{fmt.Errorf("%s: %w", label, err)}
	}
	cfg, tm, err = f.apply(cfg, source)
	return fsys, label, cfg, tm, err
}

// dir is the DIR argument of a rules subcommand ("": none).
func dir(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// apply overrides the pack's configuration cfg (set by source: PackFile,
// or "" for the defaults) with the flags.
func (f *engineFlags) apply(cfg detectors.Config, source string) (detectors.Config, string, error) {
	cfg, tm, err := f.Apply(cfg, source)
	var oe *rulepack.OverrideError
	if errors.As(err, &oe) {
		flag := map[string]string{"TZ": "--tz", "Placeholders": "--placeholder", "Lateness": "--lateness", "Suppress": "--suppress"}[oe.Field]
		return cfg, "", usageError{fmt.Errorf("%s %q: %w", flag, oe.Value, oe.Err)}
	}
	return cfg, tm, err
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
			fsys, label, cfg, _, err := ef.source(args)
			if err != nil {
				return err
			}
			res, err := detectors.RunSamples(fsys, ".", cfg)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", label, err)}
			}
			rulepack.ReportUnfireableFS(cmd.ErrOrStderr(), fsys, cfg, verbose, anyLogsourceHint, dir(args))
			failed := detectors.WriteSampleResults(cmd.OutOrStdout(), res, label, verbose)
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
			fsys, label, cfg, tm, err := ef.source(args)
			if err != nil {
				return err
			}
			probs, files, err := lint.FS(fsys, ".", cfg)
			if err != nil {
				return usageError{err}
			}
			lint.Write(cmd.OutOrStdout(), probs, files, dir(args), label, tm)
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
	var rf rulesFlags
	var verbose bool
	cmd := &cobra.Command{
		Use:   "eval [--rules DIR|FILE]... [--no-pack] EVENTS.jsonl|-",
		Short: "Evaluate rules over a JSON-lines event log and print alerts",
		Long: `Reads events (one JSON object per line, flat "a.b" or nested {"a":{"b":..}}
fields; '-' reads stdin; gzip is read as is), evaluates the rules in event time and prints one
JSON object per alert: rule.id, rule.title, rule.level, @timestamp, group,
event.ids, ... Evaluates the built-in pack and every --rules (--no-pack:
only those).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pack, err := rf.load()
			if err != nil {
				return err
			}
			cfg, _, err := ef.apply(pack.Config, pack.Settings)
			if err != nil {
				return err
			}
			if err := rulepack.CheckPlaceholders(pack.Rules, ef.Placeholders); err != nil {
				return usageError{fmt.Errorf("--placeholder: %w", err)}
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
			err = detectors.EvaluateTo(ctx, eng, in, name, detectors.JSONOptions{TimestampField: ef.TimestampField}, cmd.OutOrStdout(), cmd.ErrOrStderr())
			var stopped *detectors.StoppedError
			var oe *detectors.OutputError
			switch {
			case errors.As(err, &oe):
				return oe.Err
			case errors.As(err, &stopped):
				return fmt.Errorf("rules eval stopped: %w", stopped.Cause)
			case err != nil:
				return usageError{err}
			}
			return nil
		},
	}
	ef.register(cmd)
	rf.registerRules(cmd)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "name the rules that cannot fire (logsource not mapped)")
	return cmd
}

func newRulesListCmd() *cobra.Command {
	var ef engineFlags
	var jsonOut string
	cmd := &cobra.Command{
		Use:   "list [DIR]",
		Short: "List the alerting rules (the catalogue, read from the rule files)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fsys, label, cfg, tm, err := ef.source(args)
			if err != nil {
				return err
			}
			pack, err := rulepack.LoadFS(fsys)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", label, err)}
			}
			cat, err := detectors.Catalogue(pack.Rules, cfg)
			if err != nil {
				return usageError{err}
			}
			out := cmd.OutOrStdout()
			if jsonOut != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "time modifiers: %s\n", tm)
				if jsonOut != "-" {
					fh, err := os.Create(jsonOut)
					if err != nil {
						return usageError{fmt.Errorf("--json: %w", err)}
					}
					defer fh.Close()
					out = fh
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(cat)
			}
			return detectors.WriteCatalogue(out, cat, tm)
		},
	}
	ef.register(cmd)
	// --json as run, test and replay have it (a FILE, '-': stdout); alone,
	// as it always was here, stdout.
	cmd.Flags().StringVar(&jsonOut, "json", "", "write the catalogue as JSON to FILE (--json=FILE; '-' or --json alone: stdout)")
	cmd.Flags().Lookup("json").NoOptDefVal = "-"
	return cmd
}
