package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/scenarios"
)

func newShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME|FILE",
		Short: "Print a scenario (narrative, steps, expectations) as YAML: a library name or your own file",
		Long: `show prints a library scenario's YAML, or your own scenario file as written
once it parses (a file that does not is reported with its file:line:col,
exit 2; maildrill validate checks its names against the rules and the
organisation too).`,
		Example: `  maildrill show ministry-overnight
  maildrill show ./my-scenario.yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeScenarios,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if st, err := os.Stat(name); err == nil && !st.IsDir() {
				if _, err := scenarios.ParseFile(name); err != nil {
					return usageError{err}
				}
				src, err := os.ReadFile(name)
				if err != nil {
					return usageError{err}
				}
				_, err = cmd.OutOrStdout().Write(src)
				return err
			}
			src, err := scenarios.LibrarySource(name)
			if err != nil {
				_, lerr := scenarios.Load(name)
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
