package main

import (
	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/scenarios"
)

func newListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the scenario library and the step kinds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return scenarios.WriteLibrary(cmd.OutOrStdout())
		},
	}
}
