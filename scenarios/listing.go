package scenarios

import (
	"errors"
	"fmt"
	"io"
	"os"
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

// WriteScenarios lists the scenario files and directories of *.yaml in
// paths (id, ATT&CK techniques, title, file), as `maildrill list DIR`
// shows them. Every file is read; those that do not parse are left out of
// the table and returned, joined, each with its file:line:col.
func WriteScenarios(w io.Writer, paths []string) error {
	files, err := ExpandDirs(paths)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tATT&CK\tTITLE\tFILE")
	var errs []error
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("%s: no such file or directory", f))
			continue
		}
		sc, err := ParseFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", sc.ID, strings.Join(sc.Attack, ","), sc.Title, f)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return errors.Join(errs...)
}
