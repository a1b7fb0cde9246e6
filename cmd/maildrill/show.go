package main

import (
	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/scenarios"
)

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
