package detectors

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// ReportUnfireable tells on w how many of the engine's rules cannot fire
// because their logsource is not mapped to maildrill's events (a Windows
// rule given with --rules, say): such rules are loaded and never run, and
// a run that uses them would otherwise report 0 alerts without a word.
// Correlations over such rules that cannot fire either are counted too.
// verbose names each of them; hint says how to run them anyway ("" for
// none); dir is prefixed to the rule files' paths when they are relative
// to it. Nothing is written when every rule can fire.
func ReportUnfireable(w io.Writer, eng *Engine, verbose bool, hint, dir string) {
	inactive := eng.Unfireable()
	if len(inactive) == 0 {
		return
	}
	det, corr := eng.Rules() // the correlations, and the detection rules that run
	total := det + corr + len(eng.Inactive())
	var kinds []string
	seen := map[string]bool{}
	for _, r := range inactive {
		if d := describeRule(r); r.Correlation == nil && !seen[d] {
			seen[d] = true
			kinds = append(kinds, d)
		}
	}
	const maxKinds = 3
	more := ""
	if len(kinds) > maxKinds {
		more = fmt.Sprintf("; %d more", len(kinds)-maxKinds)
		kinds = kinds[:maxKinds]
	}
	if n := len(inactive) - len(eng.Inactive()); n == 1 {
		more += "; 1 correlation over them"
	} else if n > 1 {
		more += fmt.Sprintf("; %d correlations over them", n)
	}
	noun := "rules"
	if total == 1 {
		noun = "rule"
	}
	verb, them := "cannot fire: their logsource is", "them"
	if len(inactive) == 1 {
		verb, them = "cannot fire: its logsource is", "it"
	}
	fmt.Fprintf(w, "%d of %d %s %s not mapped (%s%s)", len(inactive), total, noun, verb, strings.Join(kinds, "; "), more)
	if hint != "" {
		fmt.Fprintf(w, "; %s", strings.ReplaceAll(hint, "them", them))
	}
	if !verbose {
		fmt.Fprintf(w, "; -v names %s\n", them)
		return
	}
	fmt.Fprintln(w, ":")
	for _, r := range inactive {
		fmt.Fprintf(w, "  %s:%d: %s (%s)\n", path.Join(dir, r.File), r.Pos.Line, r.Title, describeRule(r))
	}
}

// describeRule says why a rule of Engine.Unfireable cannot fire.
func describeRule(r *sigma.Rule) string {
	if r.Correlation != nil {
		return "a correlation over rules that cannot fire"
	}
	return describeLogsource(r.Logsource)
}

// describeLogsource writes a logsource as Sigma does: "product: windows,
// category: process_creation".
func describeLogsource(ls sigma.Logsource) string {
	var parts []string
	for _, kv := range [][2]string{{"product", ls.Product}, {"category", ls.Category}, {"service", ls.Service}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+kv[1])
		}
	}
	if len(parts) == 0 {
		return "no logsource"
	}
	return strings.Join(parts, ", ")
}
