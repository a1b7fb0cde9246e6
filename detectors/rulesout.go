package detectors

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/maildrill/maildrill/internal/termsafe"
)

// WriteSampleResults writes the failed samples of res (every sample when
// verbose) and a summary line under label; it returns how many failed.
func WriteSampleResults(w io.Writer, res []SampleResult, label string, verbose bool) int {
	failed := 0
	for _, r := range res {
		kind := "TN"
		if r.Positive {
			kind = "TP"
		}
		switch {
		case !r.OK:
			failed++
			fmt.Fprintf(w, "FAIL %s %s: %s\n", kind, termsafe.String(r.RuleFile), termsafe.Lines(r.Msg))
		case verbose:
			fmt.Fprintf(w, "ok   %s %s (%s)\n", kind, r.RuleFile, r.Sample)
		}
	}
	fmt.Fprintf(w, "%s: %d samples, %d passed, %d failed\n", label, len(res), len(res)-failed, failed)
	return failed
}

// WriteCatalogue writes the catalogue cat as a table, then how the time
// modifiers read times (tm).
func WriteCatalogue(w io.Writer, cat []RuleInfo, tm string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tTYPE\tLEVEL\tATT&CK\tTITLE")
	for _, r := range cat {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", termsafe.String(r.File), termsafe.String(r.Type), termsafe.String(r.Level), termsafe.String(strings.Join(r.Attack, ",")), termsafe.String(r.Title))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "time modifiers: %s\n", tm)
	return err
}

// StoppedError is an evaluation that ctx stopped before the end of its
// events; what was found so far was written.
type StoppedError struct{ Cause error }

func (e *StoppedError) Error() string { return "stopped: " + e.Cause.Error() }
func (e *StoppedError) Unwrap() error { return e.Cause }

// OutputError is a failure to write the alerts.
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

// EvaluateTo evaluates the JSON-lines events of in (named name) with eng
// in event time, writes one JSON object per alert to out and the engine's
// counts to log. When ctx ends it writes the alerts found so far, says on
// log where it stopped (correlations still open are not flushed, as the
// events were not read to their end) and returns a *StoppedError; a write
// failure is an *OutputError; any other error is the input's.
func EvaluateTo(ctx context.Context, eng *Engine, in io.Reader, name string, o JSONOptions, out, log io.Writer) error {
	w := bufio.NewWriter(out)
	defer w.Flush()
	enc := json.NewEncoder(w)
	alerts := 0
	var writeErr error
	line, err := Evaluate(ctx, eng, in, o, name, func(as []Alert) error {
		for _, a := range as {
			if writeErr = enc.Encode(a); writeErr != nil {
				return writeErr
			}
		}
		alerts += len(as)
		return nil
	})
	switch {
	case writeErr != nil:
		return &OutputError{writeErr}
	case ctx.Err() != nil:
		if err := w.Flush(); err != nil {
			return &OutputError{err}
		}
		fmt.Fprintf(log, "stopped at line %d of %s: %d events evaluated, %d alerts written; the rest of the log was not evaluated\n",
			line, name, eng.Stats().Events, alerts)
		return &StoppedError{context.Cause(ctx)}
	case err != nil:
		return err
	}
	if err := w.Flush(); err != nil {
		return &OutputError{err}
	}
	st := eng.Stats()
	fmt.Fprintf(log, "%d events, %d rule matches, %d alerts (%d suppressed, %d late, %d groups evicted)\n",
		st.Events, st.Matches, st.Alerts, st.Suppressed, st.Late, st.Evicted)
	return nil
}
