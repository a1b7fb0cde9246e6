package detectors

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// Differential tests of the prefilter: an engine with it (on every
// candidate list, however short) and one without must raise the same alerts
// in the same order on every event.

// pfWords are the pieces of generated rule values and event values: case
// variants, Unicode whose lower case is ASCII (the Kelvin sign), non-ASCII,
// Sigma escapes and wildcards, dashes for windash, numbers and booleans.
var pfWords = []string{"ab", "AB", "aB", "b\\c", "k", "K", "\u212a", "s", "S", "ſ", "st", "İ", "é", "É", "x-y", "x/y", "x–y", "1", "2.0", "true", "-", "cmd", "CMD.exe", "pow"}

func pfWord(r *rand.Rand) string { return pfWords[r.IntN(len(pfWords))] }

func pfValue(r *rand.Rand, words int) string {
	var b strings.Builder
	for range words {
		b.WriteString(pfWord(r))
	}
	return b.String()
}

func yq(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

var pfFields = []string{"f1", "f2", "cmd", "n"}

var pfMods = []string{"", "", "|contains", "|contains", "|startswith", "|endswith", "|contains|all", "|cased", "|contains|cased",
	"|re", "|neq", "|windash", "|contains|windash", "|exists", "|lt", "|gte", "|base64offset|contains", "|startswith|cased", "|fieldref", "|cidr"}

// pfItem writes one `field|mods: values` line of a selection.
func pfItem(r *rand.Rand, b *strings.Builder, used map[string]bool) {
	f := pfFields[r.IntN(len(pfFields))]
	m := pfMods[r.IntN(len(pfMods))]
	for used[f+m] {
		f, m = pfFields[r.IntN(len(pfFields))], pfMods[r.IntN(len(pfMods))]
	}
	used[f+m] = true
	var vals []string
	n := 1 + r.IntN(3)
	switch m {
	case "|exists":
		vals = []string{[]string{"true", "false"}[r.IntN(2)]}
	case "|lt", "|gte":
		vals = []string{fmt.Sprint(r.IntN(5))}
	case "|re":
		w := regexp.QuoteMeta(pfWord(r))
		switch r.IntN(5) {
		case 0:
			vals = []string{yq("(?i)" + w + ".*")}
		case 1:
			vals = []string{yq("^" + w)}
		case 2:
			vals = []string{yq("(?i)(" + w + "|" + regexp.QuoteMeta(pfWord(r)) + ")+x?")}
		case 3:
			vals = []string{yq(w + "{2}|" + regexp.QuoteMeta(pfWord(r)) + "\\w*(" + regexp.QuoteMeta(pfWord(r)) + "){0,2}")}
		default:
			vals = []string{yq("a?(?i:" + w + ")" + regexp.QuoteMeta(pfWord(r)))}
		}
	case "|fieldref":
		vals = []string{pfFields[r.IntN(len(pfFields))]}
	case "|cidr":
		vals = []string{"10.0.0.0/8"}
	case "|contains|all":
		n = 2 + r.IntN(2)
		fallthrough
	default:
		for range n {
			switch r.IntN(10) {
			case 0:
				vals = append(vals, "null")
			case 1:
				vals = append(vals, fmt.Sprint(r.IntN(3))) // a number
			case 2:
				vals = append(vals, yq(pfValue(r, 1)+"*"+pfValue(r, 1))) // wildcard inside
			case 3:
				vals = append(vals, yq(pfValue(r, 1)+"?"))
			case 4:
				vals = append(vals, yq("*"))
			default:
				vals = append(vals, yq(pfValue(r, 1+r.IntN(2))))
			}
		}
		if strings.Contains(m, "base64") || m == "|neq" {
			for i, v := range vals { // no wildcards or null there
				if v == "null" || strings.ContainsAny(v, "*?") {
					vals[i] = yq(pfWord(r))
				}
			}
		}
	}
	fmt.Fprintf(b, "      %s%s: [%s]\n", f, m, strings.Join(vals, ", "))
}

// pfRule generates a detection rule: selections of one to three items
// (maps, or lists of maps), keyword lists, and a condition with and, or,
// not, 1 of, all of.
func pfRule(r *rand.Rand, i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "title: r%d\nid: r%d\nlogsource: {product: t}\ndetection:\n", i, i)
	sels := 1 + r.IntN(3)
	for s := range sels {
		if r.IntN(8) == 0 {
			fmt.Fprintf(&b, "  sel%d:\n", s)
			for range 1 + r.IntN(3) {
				fmt.Fprintf(&b, "    - %s\n", yq(pfValue(r, 1+r.IntN(2))))
			}
			continue
		}
		fmt.Fprintf(&b, "  sel%d:\n", s)
		maps := 1
		if r.IntN(4) == 0 {
			maps = 2
		}
		for mi := range maps {
			var items strings.Builder
			used := map[string]bool{}
			for range 1 + r.IntN(3) {
				pfItem(r, &items, used)
			}
			if maps > 1 {
				lines := strings.Split(strings.TrimRight(items.String(), "\n"), "\n")
				for li, l := range lines {
					if li == 0 {
						l = "    - " + strings.TrimLeft(l, " ")
					} else {
						l = "      " + strings.TrimLeft(l, " ")
					}
					b.WriteString(l + "\n")
				}
				_ = mi
				continue
			}
			for _, l := range strings.Split(strings.TrimRight(items.String(), "\n"), "\n") {
				b.WriteString("    " + strings.TrimLeft(l, " ") + "\n")
			}
		}
	}
	conds := []string{"sel0", "1 of sel*", "all of sel*", "not sel0", "sel0 and not 1 of sel*"}
	if sels > 1 {
		conds = append(conds, "sel0 and sel1", "sel0 or sel1", "sel0 and not sel1", "not (sel0 or sel1)", "(sel0 or sel1) and sel1")
	}
	fmt.Fprintf(&b, "  condition: %s\n", conds[r.IntN(len(conds))])
	return b.String()
}

// pfEvent generates an event: strings (with upper case, Unicode, invalid
// UTF-8), numbers, booleans, lists, null, missing fields.
func pfEvent(t testing.TB, r *rand.Rand, i int) Event {
	f := fields{}
	for _, name := range append(pfFields, "other") {
		switch r.IntN(9) {
		case 0: // missing
		case 1:
			f[name] = nil
		case 2:
			f[name] = float64(r.IntN(4))
		case 3:
			f[name] = r.IntN(2) == 0
		case 4:
			f[name] = []any{pfValue(r, 1+r.IntN(3)), pfValue(r, 1+r.IntN(3)), float64(r.IntN(3))}
		case 5:
			f[name] = pfValue(r, r.IntN(2)) + "\xff" + pfValue(r, 1)
		case 6:
			f[name] = "10.1.2." + fmt.Sprint(r.IntN(3))
		default:
			f[name] = pfValue(r, 1+r.IntN(4))
		}
	}
	return mk(t, time.Duration(i)*time.Millisecond, fmt.Sprint("e", i), f)
}

// diffEngines runs evs through a prefiltered engine and a plain one and
// fails on the first difference. It returns the alerts raised and the
// rules the prefilter skipped (over all events).
func diffEngines(t *testing.T, rules []*sigma.Rule, cfg Config, evs []Event) (alerts, skipped int) {
	t.Helper()
	cfg.NoPrefilter = false
	pre, err := NewEngine(rules, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pre.pfMin = 0
	cfg.NoPrefilter = true
	plain, err := NewEngine(rules, cfg)
	if err != nil {
		t.Fatal(err)
	}
	det := len(pre.detect)
	for _, ev := range evs {
		if pre.pf != nil {
			kept := 0
			for _, w := range pre.pf.Candidates(ev) {
				for ; w != 0; w &= w - 1 {
					kept++
				}
			}
			skipped += det - kept
		}
		a, b := pre.Process(ev), plain.Process(ev)
		if !sameAlerts(a, b) {
			t.Fatalf("event %s: prefiltered alerts %v, plain %v", ev.ID(), alertIDs(a), alertIDs(b))
		}
		alerts += len(a)
	}
	if !sameAlerts(pre.Flush(), plain.Flush()) {
		t.Fatal("alerts at Flush differ")
	}
	return alerts, skipped
}

// TestPrefilterDifferential: generated rule sets over generated events.
func TestPrefilterDifferential(t *testing.T) {
	ls := LogsourceMap{MatchUnmapped: true}
	total, totalSkipped, refused := 0, 0, 0
	for seed := uint64(1); seed <= 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		var src strings.Builder
		for i := range 60 {
			if i > 0 {
				src.WriteString("---\n")
			}
			src.WriteString(pfRule(r, i))
		}
		rules, errs := ParseRules(fmt.Sprintf("gen%d.yml", seed), []byte(src.String()))
		if len(errs) > 0 {
			t.Fatalf("seed %d: generated rules do not parse: %v\n%s", seed, errs, src.String())
		}
		evs := make([]Event, 300)
		for i := range evs {
			evs[i] = pfEvent(t, r, i)
		}
		eng, err := NewEngine(rules, Config{Logsources: &ls, Lenient: true})
		if err != nil {
			t.Fatal(err)
		}
		refused += len(eng.Refused())
		alerts, skipped := func() (int, int) {
			// every other seed with one-level tables: the automata walk
			// their tries beyond the first byte
			if seed%2 == 0 {
				defer sigma.SetAutomatonTableLimit(sigma.SetAutomatonTableLimit(0))
			}
			return diffEngines(t, rules, Config{Logsources: &ls, Lenient: true}, evs)
		}()
		total += alerts
		totalSkipped += skipped
	}
	t.Logf("%d alerts, %d rule evaluations skipped, %d generated rules refused at compile", total, totalSkipped, refused)
	// not vacuous: rules fire, and the prefilter skips rules
	if total < 1000 || totalSkipped < 10000 {
		t.Fatalf("the generated cases are too weak: %d alerts, %d skipped", total, totalSkipped)
	}
}

// TestPrefilterPack: the pack over the recorded flagship runs.
func TestPrefilterPack(t *testing.T) {
	rules, err := testPackRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"embedded", "dovecot-stock", "dovecot-enhanced"} {
		evs := readRecorded(t, filepath.Join("..", "testdata", "runs", "ministry-overnight", target, "events.jsonl.gz"))
		alerts, skipped := diffEngines(t, rules, testPackConfig(), evs)
		t.Logf("%s: %d events, %d alerts, %d rule evaluations skipped", target, len(evs), alerts, skipped)
		if alerts == 0 || skipped == 0 {
			t.Fatalf("%s: %d alerts, %d skipped: the comparison shows nothing", target, alerts, skipped)
		}
	}
}
