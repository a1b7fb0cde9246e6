package scenarios

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/detectors/sigma"
)

// CheckRules compiles the rules as a run would (nil: the built-in pack),
// so that a broken rule is found once, with its file and position, before
// any scenario runs. It returns the rules checked.
func CheckRules(rules []*sigma.Rule) ([]*sigma.Rule, error) {
	return CheckRulesWith(rules, nil)
}

// CheckRulesWith is CheckRules with the engine configured by cfg (its
// placeholders, time zone), as the run will be; nil is the built-in
// pack's configuration.
func CheckRulesWith(rules []*sigma.Rule, cfg *detectors.Config) ([]*sigma.Rule, error) {
	rules, err := RulesOrPack(rules)
	if err != nil {
		return nil, err
	}
	c := rulepack.Config()
	if cfg != nil {
		c = *cfg
	}
	if _, err := detectors.NewEngine(rules, c); err != nil {
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
	rules, err := RulesOrPack(rules)
	if err != nil {
		return err
	}
	var titles []string
	for _, r := range rules {
		if r.Title != "" && !slices.Contains(titles, r.Title) {
			titles = append(titles, r.Title)
		}
	}
	sort.Strings(titles)
	mute := muteRules(rules)
	d := &decoder{file: sc.File}
	for _, e := range sc.Expect {
		at := &ynode{line: e.rulePos[0], col: e.rulePos[1]}
		matched := rules
		if e.Rule != "*" {
			// An expectation on rules that can never alert is vacuous
			// either way: a fire always missed, a must_not_fire always
			// met.
			if matched = resolveRuleName(d, at, e.Rule, "rule", "", rules, titles, mute); matched == nil {
				continue
			}
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
	if sc.Noise != nil {
		for _, rb := range sc.Noise.Rules {
			// A budget on rules that never alert always holds.
			at := &ynode{line: rb.rulePos[0], col: rb.rulePos[1]}
			resolveRuleName(d, at, rb.Rule, "noise rule", "noise: ", rules, titles, mute)
		}
	}
	for _, in := range sc.Injects {
		if name := in.Release.OnAlert + in.Release.NoAlert; name != "" {
			at := &ynode{line: in.rulePos[0], col: in.rulePos[1]}
			resolveRuleName(d, at, name, "inject rule", "inject: ", rules, titles, mute)
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

// muted is why rules never alert: they are base rules of correlations
// that do not generate their alerts (Engine.Silent), or their logsource
// is not mapped to maildrill's events (Engine.Unfireable).
type muted struct {
	silent     map[*sigma.Rule][]*sigma.Rule // base rule → the correlations over it
	unfireable map[*sigma.Rule]bool
}

type muteReason struct{ msg, hint string }

// muteRules compiles rules as CheckRules does (leniently: CheckRules
// reports a broken rule) to learn which of them never alert.
func muteRules(rules []*sigma.Rule) muted {
	m := muted{silent: map[*sigma.Rule][]*sigma.Rule{}, unfireable: map[*sigma.Rule]bool{}}
	cfg := rulepack.Config()
	cfg.Lenient = true
	eng, err := detectors.NewEngine(rules, cfg)
	if err != nil {
		return m
	}
	silent, over := eng.Silent()
	for i, r := range silent {
		m.silent[r] = over[i]
	}
	for _, r := range eng.Unfireable() {
		m.unfireable[r] = true
	}
	return m
}

// why returns the reason none of rules can alert, nil when one can.
func (m muted) why(rules []*sigma.Rule) *muteReason {
	for _, r := range rules {
		if !m.unfireable[r] && m.silent[r] == nil {
			return nil
		}
	}
	r := rules[0]
	name := ruleLabel(r)
	more := ""
	if len(rules) > 1 {
		more = fmt.Sprintf(" (as are the %d other rules the pattern names)", len(rules)-1)
	}
	if m.unfireable[r] {
		if r.Correlation != nil {
			return &muteReason{msg: fmt.Sprintf("rule %q is a correlation over rules whose logsource is not mapped: it cannot fire%s", name, more),
				hint: "maildrill rules list -v names the rules that cannot fire"}
		}
		return &muteReason{msg: fmt.Sprintf("rule %q's logsource %s is not mapped: it cannot fire%s", name, logsourceText(r.Logsource), more),
			hint: "maildrill's events are logsource product: maildrill, service: imap or smtp"}
	}
	cs := m.silent[r]
	var names []string
	for _, c := range cs {
		names = append(names, fmt.Sprintf("%q", ruleLabel(c)))
	}
	return &muteReason{
		msg:  fmt.Sprintf("rule %q is a base rule of correlation %s and never alerts on its own%s", name, strings.Join(names, ", "), more),
		hint: fmt.Sprintf("expect %s; a correlation with generate: true makes its base rules alert too", names[0]),
	}
}

// ruleLabel is how a rule is named in an error: its title, else its name
// or id.
func ruleLabel(r *sigma.Rule) string {
	for _, s := range []string{r.Title, r.Name, r.ID} {
		if s != "" {
			return s
		}
	}
	return r.Ref()
}

// logsourceText writes a logsource as product=windows category=...
func logsourceText(ls sigma.Logsource) string {
	var parts []string
	for _, kv := range [][2]string{{"product", ls.Product}, {"category", ls.Category}, {"service", ls.Service}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, " ")
}

// resolveRuleName finds the loaded rules a rule name (id, name or title
// glob) written at at names, or reports why it names none that can alert
// and returns nil: a bad glob, no match (with the nearest title), or only
// rules that never alert (a glob is refused only when every rule it names
// is mute). label starts the first two messages ("rule", "noise rule"),
// mutePrefix the last.
func resolveRuleName(d *decoder, at *ynode, name, label, mutePrefix string, rules []*sigma.Rule, titles []string, mute muted) []*sigma.Rule {
	if _, err := path.Match(strings.ToLower(name), ""); err != nil {
		d.errf(at, "a title glob uses * ? and [...]; escape [ ] with \\", "%s %q: bad title pattern: %v", label, name, err)
		return nil
	}
	var matched []*sigma.Rule
	for _, r := range rules {
		if ruleNamed(name, r) {
			matched = append(matched, r)
		}
	}
	if len(matched) == 0 {
		d.errf(at, ruleHint(name, titles, len(rules)), "%s %q: no loaded rule has this id, name or title", label, name)
		return nil
	}
	if same := sameTitle(name, matched); len(same) > 1 {
		// Two rules of one title (a rule of --rules titled as a built-in
		// one, meant to replace it): either firing met the expectation,
		// so the one under test could miss unseen.
		var where, ids []string
		for _, r := range same {
			where = append(where, fmt.Sprintf("%s:%d:%d", r.File, r.Pos.Line, r.Pos.Col))
			if r.ID != "" {
				ids = append(ids, r.ID)
			}
		}
		hint := "give each rule a title of its own"
		if len(ids) == len(same) {
			hint = "name one by its id: " + strings.Join(ids, ", ")
		}
		d.errf(at, hint, "%s %q: %d loaded rules have this title (%s); the expectation would be met by whichever fires", label, name, len(same), strings.Join(where, ", "))
		return nil
	}
	if why := mute.why(matched); why != nil {
		d.errf(at, why.hint, "%s%s", mutePrefix, why.msg)
		return nil
	}
	return matched
}

// sameTitle is the rules of matched whose title is name itself (not a
// glob, an id or a name): more than one is an ambiguous expectation.
func sameTitle(name string, matched []*sigma.Rule) []*sigma.Rule {
	if len(matched) < 2 || strings.ContainsAny(name, "*?[") {
		return nil
	}
	var out []*sigma.Rule
	for _, r := range matched {
		if strings.EqualFold(r.Title, name) && r.ID != name && r.Name != name {
			out = append(out, r)
		}
	}
	return out
}
