package rulepack

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/sigma"
)

var update = flag.Bool("update", false, "rewrite the generated parts of README.md")

const (
	ruleTableBegin = "<!-- BEGIN RULE PACK"
	ruleTableEnd   = "<!-- END RULE PACK"
)

// ruleTableMarkdown is the README's table of the built-in pack, one row per
// alerting rule in file order, read from the rules themselves.
func ruleTableMarkdown() (string, error) {
	rules, err := Rules()
	if err != nil {
		return "", err
	}
	cat, err := detectors.Catalogue(rules, Config())
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| file | rule | type | fires on | level | ATT&CK |\n|---|---|---|---|---|---|\n")
	for _, r := range cat {
		typ, cond := "detection", "one event: "+firstSentence(r.Description)
		if r.Correlation != nil {
			typ, cond = r.Correlation.Type, correlationText(r.Correlation)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", r.File, mdCell(r.Title), typ, mdCell(cond), r.Level, strings.Join(r.Attack, ", "))
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// correlationText says in a few words when a correlation fires.
func correlationText(c *sigma.Correlation) string {
	var ops []string
	for _, o := range c.Cond.Ops {
		sym := map[string]string{"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "=", "neq": "≠"}[o.Op]
		ops = append(ops, sym+" "+strconv.FormatFloat(o.Value, 'f', -1, 64))
	}
	thr := strings.Join(ops, " and ")
	field := strings.Join(c.Cond.Field, ", ")
	var s string
	switch c.Type {
	case "event_count":
		s = thr + " events"
	case "value_count":
		s = thr + " distinct " + field
	case "value_sum":
		s = "sum of " + field + " " + thr
	case "value_avg":
		s = "average of " + field + " " + thr
	case "value_percentile":
		s = "percentile of " + field + " " + thr
	case "temporal":
		s = fmt.Sprintf("all of %d rules", len(c.Rules))
	case "temporal_ordered":
		s = fmt.Sprintf("%d rules in order", len(c.Rules))
	default:
		s = c.Type + " " + thr
	}
	if len(c.GroupBy) > 0 {
		s += " by " + strings.Join(c.GroupBy, ", ")
	}
	return s + " within " + shortDuration(c.Timespan)
}

// shortDuration writes 5m, 1h, 90s, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		return "0s"
	}
	return s
}

// firstSentence is the text of s up to its first full stop, on one line.
func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// The README's rule table is generated from the pack's rules; a stale one
// fails here. go test ./detectors/rulepack -run TestReadmeRuleTable -update rewrites it.
func TestReadmeRuleTable(t *testing.T) {
	src, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table, err := ruleTableMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	i, j := strings.Index(doc, ruleTableBegin), strings.Index(doc, ruleTableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md: no %q … %q markers around the rule table", ruleTableBegin+" -->", ruleTableEnd+" -->")
	}
	i += strings.Index(doc[i:], "\n") + 1
	got := doc[:i] + table + "\n" + doc[j:]
	if *update {
		if err := os.WriteFile("../README.md", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != doc {
		t.Errorf("README.md: the rule table is stale: go test ./detectors/rulepack -run TestReadmeRuleTable -update")
	}
}
