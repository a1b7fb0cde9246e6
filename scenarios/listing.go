package scenarios

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteLibrary writes the scenario library (id, ATT&CK techniques, title)
// and the step kinds with their summaries, as `maildrill list` shows them.
func WriteLibrary(w io.Writer) error {
	lib, err := Library()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tATT&CK\tTITLE")
	for _, s := range lib {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.ID, strings.Join(s.Attack, ","), s.Title)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nStep kinds:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range StepKinds() {
		fmt.Fprintf(tw, "  %s\t%s\n", k.Name, k.Summary)
	}
	return tw.Flush()
}
