package scenarios

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/sigma"
)

// CheckRules compiles the rules as a run would (nil: the built-in pack),
// so that a broken rule is found once, with its file and position, before
// any scenario runs. It returns the rules checked.
func CheckRules(rules []*sigma.Rule) ([]*sigma.Rule, error) {
	if rules == nil {
		var err error
		if rules, err = detectors.PackRules(); err != nil {
			return nil, fmt.Errorf("loading the built-in rule pack: %w", err)
		}
	}
	if _, err := detectors.NewEngine(rules, detectors.PackConfig()); err != nil {
		return nil, err
	}
	return rules, nil
}

// Resolve checks the scenario's expectations against the rules that will
// judge them (nil: the built-in pack): every rule an expectation names
// must be a loaded rule's id, name or title (a title glob must match one),
// and every group: key must be a field the rule's alerts carry, the
// group-by fields of a correlation rule (a detection rule's alerts carry
// no group; see Alert.Group and groupMatches). Otherwise an expectation
// would be judged against a rule that does not exist: a misspelt
// must_not_fire would always be met, a misspelt fire always missed.
//
// On failure the error is Errors, each with the file:line:col of the rule
// name or group key and the nearest known one as a hint.
//
// Judging outside alerts only (no built-in engine) cannot resolve: the
// rules are then the outside system's; callers skip Resolve there.
func Resolve(sc *Scenario, rules []*sigma.Rule) error {
	if rules == nil {
		var err error
		if rules, err = detectors.PackRules(); err != nil {
			return fmt.Errorf("loading the built-in rule pack: %w", err)
		}
	}
	var titles []string
	for _, r := range rules {
		if r.Title != "" && !slices.Contains(titles, r.Title) {
			titles = append(titles, r.Title)
		}
	}
	sort.Strings(titles)
	d := &decoder{file: sc.File}
	for _, e := range sc.Expect {
		at := &ynode{line: e.rulePos[0], col: e.rulePos[1]}
		var matched []*sigma.Rule
		if e.Rule != "*" {
			if _, err := path.Match(strings.ToLower(e.Rule), ""); err != nil {
				d.errf(at, "a title glob uses * ? and [...]; escape [ ] with \\", "rule %q: bad title pattern: %v", e.Rule, err)
				continue
			}
			for _, r := range rules {
				if ruleNamed(e.Rule, r) {
					matched = append(matched, r)
				}
			}
			if len(matched) == 0 {
				d.errf(at, ruleHint(e.Rule, titles, len(rules)), "rule %q: no loaded rule has this id, name or title", e.Rule)
				continue
			}
		} else {
			matched = rules
		}
		if len(e.Group) == 0 {
			continue
		}
		var fields []string
		for _, r := range matched {
			if r.Correlation == nil {
				continue
			}
			for _, g := range r.Correlation.GroupBy {
				if !slices.Contains(fields, g) {
					fields = append(fields, g)
				}
			}
		}
		keys := make([]string, 0, len(e.Group))
		for k := range e.Group {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if slices.Contains(fields, k) {
				continue
			}
			kp := e.groupPos[k]
			kn := &ynode{line: kp[0], col: kp[1]}
			if len(fields) == 0 {
				d.errf(kn, "group: applies to correlation rules, by their group-by fields; a detection rule's alerts carry no group",
					"group key %q: rule %q groups by nothing", k, e.Rule)
				continue
			}
			d.errf(kn, suggest(k, fields), "group key %q: rule %q does not group by this field", k, e.Rule)
		}
	}
	if len(d.errs) > 0 {
		return d.sorted()
	}
	return nil
}

// ruleNamed is ruleMatches for a loaded rule rather than an alert: the
// alert's rule id is the rule's Ref.
func ruleNamed(pattern string, r *sigma.Rule) bool {
	return ruleMatches(pattern, detectors.Alert{RuleID: r.Ref(), RuleName: r.Name, Title: r.Title}) ||
		(r.ID != "" && pattern == r.ID) || (r.Name != "" && pattern == r.Name)
}

func ruleHint(got string, titles []string, n int) string {
	if h := suggest(got, titles); strings.HasPrefix(h, "did you mean") {
		return h
	}
	// the nearest title, however far: a whole list of titles is no hint
	best, bestD := "", 1<<30
	for _, t := range titles {
		if d := levenshtein(strings.ToLower(got), strings.ToLower(t)); d < bestD {
			best, bestD = t, d
		}
	}
	if best == "" {
		return fmt.Sprintf("%d rules loaded, none with a title", n)
	}
	return fmt.Sprintf("nearest title: %q; maildrill rules list shows the %d rules loaded", best, n)
}
