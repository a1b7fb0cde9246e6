package main

import (
	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/scenarios"
)

func newListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list [DIR|FILE]...",
		Short: "List the scenario library and the step kinds, or your own scenarios",
		Long: `Without arguments, list shows the built-in library (id, ATT&CK techniques,
title) and the step kinds. With directories (of *.yaml, recursively) or
files, it lists those scenarios with their files; a file that does not
parse is reported with its file:line:col (exit 2) after the others.`,
		Example: `  maildrill list
  maildrill list ./my-scenarios`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return scenarios.WriteLibrary(cmd.OutOrStdout())
			}
			if err := scenarios.WriteScenarios(cmd.OutOrStdout(), args); err != nil {
				return usageError{err}
			}
			return nil
		},
		ValidArgsFunction: completeDirs,
	}
}
