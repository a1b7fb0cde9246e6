package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/scenarios"
)

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
