package detectors

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/maildrill/maildrill/detectors/correlation"
	"github.com/maildrill/maildrill/detectors/sigma"
)

// NewEngine compiles rules. Correlations are resolved by rule id or name
// across all the rules given.
func NewEngine(rules []*sigma.Rule, cfg Config) (*Engine, error) {
	if cfg.TimestampField == "" {
		cfg.TimestampField = "@timestamp"
	}
	if cfg.IndexField == "" {
		cfg.IndexField = "event.action"
	}
	if cfg.MaxGroups == 0 {
		cfg.MaxGroups = 100000
	}
	if cfg.MaxAlertEvents == 0 {
		cfg.MaxAlertEvents = 1000
	}
	e := &Engine{cfg: cfg, index: map[string]*bucket{}, due: math.MaxInt64}
	if cfg.Logsources != nil {
		e.ls = *cfg.Logsources
	} else {
		e.ls = MaildrillLogsources()
	}
	opts := sigma.Options{FieldMap: cfg.FieldMap, Placeholders: cfg.Placeholders, Location: cfg.Location, TimestampField: cfg.TimestampField,
		Intern: map[string]string{}}
	cfg.IndexField = opts.InternName(cfg.IndexField)
	e.ixID, cfg.IndexField = sigma.FieldIDOf(cfg.IndexField)
	e.cfg.IndexField = cfg.IndexField
	var errs []error
	byRef := map[string]*ruleNode{}
	for _, r := range rules {
		rn := &ruleNode{rule: r, id: r.Ref()}
		rn.tags = append(rn.tags, r.Tags...)
		for _, t := range r.Tags {
			if strings.HasPrefix(t, "attack.") {
				rn.attack = append(rn.attack, t)
			}
		}
		rn.attack = slices.Clip(rn.attack) // an append to an alert's copies
		if r.ID != "" {
			if prev, dup := byRef[r.ID]; dup {
				errs = append(errs, fmt.Errorf("%s: duplicate rule id %s (also in %s)", loc(r), r.ID, loc(prev.rule)))
				continue
			}
		}
		if r.Detection != nil {
			m, err := sigma.Compile(r, opts)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rn.m = m
			ls, ok := e.logsourceConds(r.Logsource)
			if !ok {
				e.inactive = append(e.inactive, r)
				rn.m = nil
			}
			rn.ls = ls
		}
		if r.ID != "" {
			byRef[r.ID] = rn
		}
		if r.Name != "" {
			if _, dup := byRef[r.Name]; !dup {
				byRef[r.Name] = rn
			}
		}
		e.nodes = append(e.nodes, rn)
	}
	// correlations: resolve references
	referenced := map[*ruleNode]bool{}
	generated := map[*ruleNode]bool{}
	var ok []*ruleNode
	for _, rn := range e.nodes {
		c := rn.rule.Correlation
		if c == nil {
			ok = append(ok, rn)
			continue
		}
		if err := e.linkCorrelation(rn, byRef, opts); err != nil {
			errs = append(errs, err)
			continue
		}
		ok = append(ok, rn)
	}
	e.nodes = ok
	// cycles and depth
	for _, rn := range e.nodes {
		if rn.cdef == nil {
			continue
		}
		if _, err := depth(rn, map[*ruleNode]int{}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", loc(rn.rule), err))
			rn.cdef = nil
		}
	}
	for _, rn := range e.nodes {
		for _, p := range rn.parents {
			if p.c.cdef == nil {
				continue
			}
			referenced[rn] = true
			if p.c.cdef.Generate {
				generated[rn] = true
			}
		}
	}
	twinOf := map[string]*ruleNode{}
	for _, rn := range e.nodes {
		rn.alerting = !referenced[rn] || generated[rn]
		rn.suppress = cfg.Suppress
		for _, k := range []string{rn.rule.ID, rn.rule.Name} {
			if d, ok := cfg.SuppressRules[k]; ok && k != "" {
				rn.suppress = d
			}
		}
		// drop parents that were refused
		ps := rn.parents[:0]
		for _, p := range rn.parents {
			if p.c.cdef != nil {
				ps = append(ps, p)
			}
		}
		rn.parents = ps
		switch {
		case rn.m != nil:
			if k := detectionKey(rn.rule); k != "" {
				if first, dup := twinOf[k]; dup {
					first.twins = append(first.twins, rn)
					e.ndetect++
					continue
				}
				twinOf[k] = rn
			}
			for _, c := range rn.ls {
				i := slices.Index(e.conds, c)
				if i < 0 {
					i = len(e.conds)
					e.conds = append(e.conds, c)
				}
				rn.lsIdx = append(rn.lsIdx, i)
				if i < 64 {
					rn.lsMask |= 1 << i
				} else {
					rn.lsRest = append(rn.lsRest, i)
				}
			}
			rn.pidx = len(e.detect)
			e.detect = append(e.detect, rn)
			e.ndetect++
			rn.m.SetIndexField(cfg.IndexField)
			if vals, ok := rn.m.RequiredValues(cfg.IndexField); ok {
				for _, v := range vals {
					b := e.index[v]
					if b == nil {
						b = &bucket{key: v}
						e.index[v] = b
					}
					b.rules = append(b.rules, rn)
				}
			} else {
				e.unindexed = append(e.unindexed, rn)
			}
		case rn.cdef != nil:
			rn.depth, _ = depth(rn, map[*ruleNode]int{})
			// a correlation over this one reads the completing event's fields
			rn.corr.KeepPayload(len(rn.parents) > 0)
			e.corrs = append(e.corrs, rn)
		}
	}
	linkDerived(byRef, rules)
	if !cfg.NoPrefilter {
		ms := make([]*sigma.Matcher, len(e.detect))
		for i, rn := range e.detect {
			ms[i] = rn.m
		}
		e.pf, e.pfMin = sigma.NewPrefilter(ms), prefilterMin
	}
	sort.SliceStable(e.corrs, func(i, j int) bool { return e.corrs[i].depth < e.corrs[j].depth })
	// every indexed bucket also runs the unindexed rules, in rule order
	for _, b := range e.index {
		b.rules = append(b.rules, e.unindexed...)
		b.items = make([]sigma.Items, len(b.rules))
		b.flat = make([]bool, len(b.rules))
		for i, rn := range b.rules {
			b.items[i], b.flat[i] = rn.m.ItemsFor(b.key)
		}
		b.ents = make([]bucketRule, len(b.rules))
		for i, rn := range b.rules {
			b.ents[i] = bucketRule{rn: rn, lsMask: rn.lsMask, rest: rn.lsRest != nil}
			if b.flat[i] {
				b.ents[i].items = &b.items[i]
				for _, id := range b.items[i].Needs() {
					if id < 64 {
						b.ents[i].needs |= 1 << id
					}
				}
			}
		}
	}
	e.ixt = newIxTable(e.index)
	// one slice per distinct list of group-by fields (feed compares them
	// by identity first)
	var lists []parentRef
	for _, rn := range e.nodes {
		for i := range rn.parents {
			pr := &rn.parents[i]
			found := false
			for _, l := range lists {
				if slices.Equal(l.groupBy, pr.groupBy) && slices.Equal(l.groupIDs, pr.groupIDs) {
					pr.groupBy, pr.groupIDs = l.groupBy, l.groupIDs
					found = true
					break
				}
			}
			if !found {
				lists = append(lists, *pr)
			}
		}
	}
	if len(errs) > 0 {
		e.refused = errs
		if !cfg.Lenient {
			return nil, errors.Join(errs...)
		}
	}
	return e, nil
}

// detectionKey identifies rules that match exactly the same events: same
// logsource, same detection section.
func detectionKey(r *sigma.Rule) string {
	if r.Root == nil {
		return ""
	}
	b, err := json.Marshal([]any{r.Logsource, r.Root.Get("detection").Interface()})
	if err != nil {
		return ""
	}
	return string(b)
}

func loc(r *sigma.Rule) string {
	return fmt.Sprintf("%s:%d:%d", r.File, r.Pos.Line, r.Pos.Col)
}

func depth(rn *ruleNode, seen map[*ruleNode]int) (int, error) {
	if rn.cdef == nil {
		return 0, nil
	}
	if d, ok := seen[rn]; ok {
		if d < 0 {
			return 0, fmt.Errorf("correlation %q is part of a reference cycle", rn.rule.Title)
		}
		return d, nil
	}
	seen[rn] = -1
	max := 0
	for _, child := range rn.children() {
		d, err := depth(child, seen)
		if err != nil {
			return 0, err
		}
		if d+1 > max {
			max = d + 1
		}
	}
	seen[rn] = max
	return max, nil
}

func (rn *ruleNode) children() []*ruleNode {
	return rn.kids
}

func (e *Engine) linkCorrelation(rn *ruleNode, byRef map[string]*ruleNode, opts sigma.Options) error {
	c := rn.rule.Correlation
	r := rn.rule
	positions := map[*ruleNode][]int{}
	var order []*ruleNode
	for i, ref := range c.Rules {
		child, ok := byRef[ref]
		if !ok {
			pos := r.Pos
			if i < len(c.RulesPos) {
				pos = c.RulesPos[i]
			}
			return &sigma.Error{File: r.File, Pos: pos, Msg: fmt.Sprintf("correlation %q refers to unknown rule %q: no rule has this id or name", r.Title, ref)}
		}
		if child == rn {
			return &sigma.Error{File: r.File, Pos: c.Pos, Msg: "a correlation cannot refer to itself"}
		}
		if _, seen := positions[child]; !seen {
			order = append(order, child)
		}
		positions[child] = append(positions[child], i)
	}
	rn.cdef = c
	rn.groupBy = c.GroupBy
	for _, g := range c.GroupBy {
		rn.mapped = append(rn.mapped, opts.MapField(g))
	}
	rn.corr = correlation.New(correlation.Def{
		Type: c.Type, NumRules: len(c.Rules), Timespan: c.Timespan, Cond: c.Cond, HasCond: c.HasCond,
		MaxGroups: e.cfg.MaxGroups, MaxIDs: e.cfg.MaxAlertEvents,
	})
	resolve := func(child *ruleNode, name string) string {
		if al, ok := c.Aliases[name]; ok {
			for _, k := range []string{child.rule.Name, child.rule.ID} {
				if f, ok := al[k]; ok && k != "" {
					return opts.MapField(f)
				}
			}
		}
		return opts.MapField(name)
	}
	for _, child := range order {
		p := parentRef{c: rn, positions: positions[child]}
		for _, g := range c.GroupBy {
			id, name := sigma.FieldIDOf(resolve(child, g))
			p.groupBy, p.groupIDs = append(p.groupBy, name), append(p.groupIDs, id)
		}
		for _, f := range c.Cond.Field {
			id, name := sigma.FieldIDOf(resolve(child, f))
			p.valField, p.valIDs = append(p.valField, name), append(p.valIDs, id)
		}
		child.parents = append(child.parents, p)
		rn.kids = append(rn.kids, child)
	}
	return nil
}

func (e *Engine) logsourceConds(ls sigma.Logsource) ([]fieldEq, bool) {
	var out []fieldEq
	add := func(m map[string]Conds, v string) bool {
		if v == "" {
			return true
		}
		c, ok := m[v]
		if !ok {
			for k, cc := range m {
				if strings.EqualFold(k, v) {
					c, ok = cc, true
				}
			}
		}
		if !ok {
			return e.ls.MatchUnmapped
		}
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			id, name := sigma.FieldIDOf(k)
			out = append(out, fieldEq{field: name, value: c[k], id: id})
		}
		return true
	}
	if !add(e.ls.Product, ls.Product) || !add(e.ls.Category, ls.Category) || !add(e.ls.Service, ls.Service) {
		return nil, false
	}
	return out, true
}

// Refused lists the rules that failed to compile (Lenient mode).
func (e *Engine) Refused() []error { return e.refused }

// Inactive lists the rules whose logsource is not mapped: loaded, never run.
func (e *Engine) Inactive() []*sigma.Rule { return e.inactive }

// Silent lists the rules that never alert on their own: the rules
// correlations refer to when none of those correlations says generate:
// true (the Sigma default). Over gives, for each, the correlations that
// refer to it, in rule order.
func (e *Engine) Silent() (rules []*sigma.Rule, over [][]*sigma.Rule) {
	for _, rn := range e.nodes {
		if rn.alerting || len(rn.parents) == 0 {
			continue
		}
		var cs []*sigma.Rule
		for _, p := range rn.parents {
			if !slices.Contains(cs, p.c.rule) {
				cs = append(cs, p.c.rule)
			}
		}
		rules = append(rules, rn.rule)
		over = append(over, cs)
	}
	return rules, over
}

// Unfireable lists the rules that can never fire because logsources are
// not mapped: the rules of Inactive, then the correlations that need
// such a rule — temporal ones when any rule they refer to cannot fire,
// counting ones (event_count, value_count ...) when none of theirs can.
func (e *Engine) Unfireable() []*sigma.Rule {
	out := slices.Clone(e.inactive)
	dead := map[*ruleNode]bool{}
	var isDead func(rn *ruleNode) bool
	isDead = func(rn *ruleNode) bool {
		if d, ok := dead[rn]; ok {
			return d
		}
		dead[rn] = false // a cycle (refused) does not make a rule dead
		var d bool
		switch {
		case rn.cdef != nil:
			all := rn.cdef.Type == "temporal" || rn.cdef.Type == "temporal_ordered"
			d = !all
			for _, k := range rn.kids {
				if all && isDead(k) {
					d = true
					break
				}
				if !all && !isDead(k) {
					d = false
					break
				}
			}
		case rn.rule.Detection != nil:
			d = rn.m == nil
		}
		dead[rn] = d
		return d
	}
	for _, c := range e.corrs {
		if isDead(c) {
			out = append(out, c.rule)
		}
	}
	return out
}

// linkDerived gives each rule node the rules it declares itself derived
// from, named by id, and by name and title when they are loaded too.
func linkDerived(byRef map[string]*ruleNode, rules []*sigma.Rule) {
	byID := map[string]*sigma.Rule{}
	for _, r := range rules {
		if r.ID != "" {
			byID[r.ID] = r
		}
	}
	seen := map[*ruleNode]bool{}
	for _, rn := range byRef {
		if seen[rn] {
			continue
		}
		seen[rn] = true
		for _, id := range rn.rule.DerivedFrom() {
			ref := RuleRef{ID: id}
			if p := byID[id]; p != nil {
				ref.Name, ref.Title = p.Name, p.Title
			}
			rn.derived = append(rn.derived, ref)
		}
	}
}
