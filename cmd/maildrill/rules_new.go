package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/detectors/rulepack"
)

func newRulesNewCmd() *cobra.Command {
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Write a Sigma rule scaffold DIR/NAME.yml and its samples DIR/tests/NAME.tp.jsonl, .tn.jsonl",
		Long: `rules new writes a detection rule (with a fresh id) and its true-positive
and true-negative samples, which rules lint and rules test accept as
written; edit them from there and judge scenarios with them through
--rules DIR (beside the built-in pack). Existing files are left alone
unless --force.`,
		Example: `  maildrill rules new imap_scripted_login --dir my-rules
  maildrill rules lint my-rules && maildrill rules test my-rules
  maildrill run ministry-overnight --rules my-rules`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			rule, tp, tn, err := rulepack.Scaffold(name)
			if err != nil {
				return usageError{err}
			}
			files := []struct {
				path string
				data []byte
			}{
				{filepath.Join(dir, name+".yml"), rule},
				{filepath.Join(dir, "tests", name+".tp.jsonl"), tp},
				{filepath.Join(dir, "tests", name+".tn.jsonl"), tn},
			}
			if !force {
				for _, f := range files { // all or nothing
					if _, err := os.Stat(f.path); err == nil {
						return usageError{fmt.Errorf("%s exists: nothing written (--force to replace it)", f.path)}
					}
				}
			}
			for _, f := range files {
				if err := writeNew(f.path, f.data, force); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f.path)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "check them: maildrill rules lint %s && maildrill rules test %s\n", dir, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "write the rule in DIR (its samples in DIR/tests)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}
