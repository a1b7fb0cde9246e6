package run

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/scenarios"
)

// TestRuleCoverage generates the table in docs/dovecot.md that says, for
// each rule of the pack, whether it fired under mailsim's audit trail,
// under Dovecot + Postfix with stock logging and with enhanced logging —
// by running every library scenario on each target — and the table of
// each library scenario's verdicts per target. Every expectation of a
// library scenario must be MET on every target, or BLIND where its
// blind_on names the target's telemetry. Without -update it also fails
// when the docs no longer match what the runs show.
//
// It takes minutes, so it runs only when asked (.ci/run does):
//
//	MAILDRILL_RULE_COVERAGE=1 go test ./scenarios/run -run TestRuleCoverage [-update]
func TestRuleCoverage(t *testing.T) {
	if os.Getenv("MAILDRILL_RULE_COVERAGE") != "1" {
		t.Skip("set MAILDRILL_RULE_COVERAGE=1 (needs Docker; runs every library scenario on three targets, minutes)")
	}
	cache := t.TempDir() // attachments generated once for all runs
	lib, err := scenarios.Library()
	if err != nil {
		t.Fatal(err)
	}
	nlib := len(lib)
	// Plus small scenarios for the rules no library scenario exercises.
	extra, err := filepath.Glob("../testdata/coverage/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range extra {
		sc, err := scenarios.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		lib = append(lib, sc)
	}
	rules, err := rulepack.Rules()
	if err != nil {
		t.Fatal(err)
	}
	targets := []struct{ head, target, profile string }{
		{"mailsim", "embedded", ""},
		{"Dovecot stock", "dovecot", "stock"},
		{"Dovecot enhanced", "dovecot", "enhanced"},
	}
	// fired[target][rule id] = scenario ids
	fired := make([]map[string][]string, len(targets))
	// verdicts[scenario id][target] = "7 met" / "4 met, 3 blind" (library scenarios)
	verdicts := map[string][]string{}
	for i, tg := range targets {
		fired[i] = map[string][]string{}
		for k, sc := range lib {
			res, err := Run(context.Background(), sc, Options{Target: tg.target, DovecotProfile: tg.profile, CorpusCacheDir: cache})
			if err != nil {
				t.Fatalf("%s on %s: %v", sc.ID, tg.head, err)
			}
			t.Logf("%-20s %-17s %5d events %3d alerts in %s", sc.ID, tg.head, res.Events, len(res.Alerts), res.Wall.Round(1e8))
			if k < nlib {
				// Every expectation of a library scenario holds on every
				// target, or is BLIND there (its blind_on names the
				// telemetry).
				met, blind := 0, 0
				for _, v := range res.Verdicts {
					switch v.Result {
					case scenarios.Met:
						met++
					case scenarios.Blind:
						blind++
					default:
						t.Errorf("%s on %s: %s:%d: %s is %s (%s): want met, or blind with blind_on", sc.ID, tg.head, sc.File, v.Line, v.Rule, strings.ToUpper(v.Result), v.Detail)
					}
				}
				cell := fmt.Sprintf("%d met", met)
				if blind > 0 {
					cell += fmt.Sprintf(", %d blind", blind)
				}
				if n := len(res.Verdicts) - met - blind; n > 0 {
					cell += fmt.Sprintf(", %d failed", n)
				}
				verdicts[sc.ID] = append(verdicts[sc.ID], cell)
			}
			seen := map[string]bool{}
			for _, a := range res.Alerts {
				if !seen[a.RuleID] {
					seen[a.RuleID] = true
					fired[i][a.RuleID] = append(fired[i][a.RuleID], sc.ID)
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| rule | level | variant of |")
	for _, tg := range targets {
		fmt.Fprintf(&b, " %s |", tg.head)
	}
	b.WriteString(" fired in, on mailsim |\n|---|---|---|")
	for range targets {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	titleOf := map[string]string{}
	for _, r := range rules {
		if r.ID != "" {
			titleOf[r.ID] = r.Title
		}
	}
	// Rules that only feed correlations (generate: false) raise no alert
	// of their own: not listed.
	feeds := map[string]bool{}
	for _, r := range rules {
		if r.IsCorrelation() && !r.Correlation.Generate {
			for _, name := range r.Correlation.Rules {
				feeds[name] = true
			}
		}
	}
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].Title < rules[j].Title })
	for _, r := range rules {
		if feeds[r.Name] || feeds[r.ID] {
			continue
		}
		var parents []string
		for _, id := range r.DerivedFrom() {
			if ti, ok := titleOf[id]; ok {
				parents = append(parents, ti)
			} else {
				parents = append(parents, id)
			}
		}
		variant := "—"
		if len(parents) > 0 {
			variant = strings.Join(parents, ", ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s |", r.Title, r.Level, variant)
		for i := range targets {
			if n := len(fired[i][r.ID]); n > 0 {
				fmt.Fprintf(&b, " yes (%d) |", n)
			} else {
				b.WriteString(" — |")
			}
		}
		ids := fired[0][r.ID]
		sort.Strings(ids)
		if len(ids) == 0 {
			b.WriteString(" no scenario exercises it |\n")
		} else {
			fmt.Fprintf(&b, " %s |\n", strings.Join(ids, ", "))
		}
	}
	table := strings.TrimSuffix(b.String(), "\n")
	b.Reset()
	b.WriteString("| library scenario |")
	for _, tg := range targets {
		fmt.Fprintf(&b, " %s |", tg.head)
	}
	b.WriteString("\n|---|")
	for range targets {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	ids := make([]string, 0, len(verdicts))
	for id := range verdicts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "| %s | %s |\n", id, strings.Join(verdicts[id], " | "))
	}
	verdictTable := strings.TrimSuffix(b.String(), "\n")
	const doc = "../../docs/dovecot.md"
	src, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "<!-- BEGIN RULE COVERAGE") {
		t.Fatalf("%s has no <!-- BEGIN RULE COVERAGE --> marker", doc)
	}
	if !strings.Contains(string(src), "<!-- BEGIN LIBRARY VERDICTS") {
		t.Fatalf("%s has no <!-- BEGIN LIBRARY VERDICTS --> marker", doc)
	}
	got := replaceBetween(string(src), "<!-- BEGIN RULE COVERAGE", "<!-- END RULE COVERAGE", table)
	got = replaceBetween(got, "<!-- BEGIN LIBRARY VERDICTS", "<!-- END LIBRARY VERDICTS", verdictTable)
	if *update {
		if err := os.WriteFile(doc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != string(src) {
		t.Errorf("%s is out of date; the runs give:\n%s\n\n%s\n(run MAILDRILL_RULE_COVERAGE=1 go test ./scenarios/run -run TestRuleCoverage -update)", doc, table, verdictTable)
	}
}

var update = flag.Bool("update", false, "rewrite generated docs")

// replaceBetween replaces the lines between the begin and end markers of
// doc with body.
func replaceBetween(doc, begin, end, body string) string {
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return doc
	}
	i = strings.Index(doc[i:], "\n") + i + 1
	return doc[:i] + "\n" + body + "\n" + doc[j:]
}
