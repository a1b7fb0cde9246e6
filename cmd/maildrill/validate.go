package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/mailsim/remote"
	"github.com/maildrill/maildrill/mailsim/target"
	"github.com/maildrill/maildrill/scenarios"
)

func newValidateCmd() *cobra.Command {
	var rf rulesFlags
	var seed int64
	var remoteFile string
	cmd := &cobra.Command{
		Use:   "validate [--rules DIR|FILE]... [--no-pack] [--seed N] FILE...",
		Short: "Check scenario files: every problem with file:line:col and a hint",
		Long: `validate checks scenario files (or library names, or directories of *.yaml):
the language; every expectation resolved against the rules that will
judge it — the built-in pack and every --rules (--no-pack: only those) — by rule id, name or title, its
group: keys against the rule's group-by fields, and refused when the rule
can never alert (a correlation's base rule, an unmapped logsource); and
every account, role, folder, file type and recipient the steps name
against the organisation the scenario's seed (or --seed) generates — or,
with --remote FILE, against that file's test accounts (a step that needs a
role, account, delegated or shared mailbox the file lacks fails). Every
problem is printed with file:line:col and a hint. Exit 0 when all are
valid, 2 otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := scenarios.ExpandDirs(args)
			if err != nil {
				return usageError{err}
			}
			pack, err := rf.load()
			if err != nil {
				return err
			}
			rules, err := scenarios.CheckRulesWith(pack.Rules, &pack.Config)
			if err != nil {
				return usageError{err}
			}
			var org *target.Org
			if remoteFile != "" {
				// Only the file: validate sends nothing (no resolution
				// either: the names are run-time business).
				f, err := remote.Load(remoteFile)
				if err != nil {
					return usageError{fmt.Errorf("--remote: %w", err)}
				}
				org = target.RemoteOrg(f)
			}
			if err := scenarios.CheckFilesOn(cmd.OutOrStdout(), args, rules, seed, org); err != nil {
				return usageError{err}
			}
			return nil
		},
	}
	rf.register(cmd)
	cmd.ValidArgsFunction = completeScenarios
	cmd.Flags().StringVar(&remoteFile, "remote", "", "resolve accounts, roles, delegated and shared mailboxes and folders against the test accounts of this remote file (docs/remote.md) instead of the generated organisation")
	cmd.Flags().Int64Var(&seed, "seed", 0, "resolve accounts, folders and file types against the organisation of this corpus seed, as run --seed and test --seed do (default: each scenario's own)")
	return cmd
}
