package sigma

import (
	"strings"
)

// A Prefilter is compiled from a whole rule set. For one event it gives the
// rules that may match: every rule that needs one of a set of literals
// (field equality values, substrings of contains/startswith/endswith and
// wildcard values, keywords) and has none of them in the event is left
// out; every other rule is kept. It is an over-approximation: the rules it
// keeps are then evaluated exactly (Matcher.Match), so it never changes a
// result, only how many rules are tried.
//
// Per field it holds an index of equality values and one Aho–Corasick
// automaton over all the rules' substrings of that field; each field value
// is case-folded once and scanned once, whatever the number of rules.
// Rules that can match without any of their literals (a `not`, `|re`,
// `|cidr`, numeric comparisons, `null`, `|exists`, `|fieldref`, numbers,
// `*`) are always kept.
//
// A Prefilter holds per-event scratch space: it is not safe for
// concurrent use.
type Prefilter struct {
	n      int
	base   []uint64 // the rules always kept
	bits   []uint64
	fields []*pfField
	kw     *pfField // keyword searches: every string value of the event
	stamp  []uint32 // per pattern: the event it was last reported for
	gen    uint32
	buf    []byte
	always int
}

type pfField struct {
	name  string
	eq    map[string][]int32 // folded value → rules
	subs  []string           // folded substrings
	rules [][]int32          // per substring: rules
	first int                // global id of subs[0] (for stamps)
	ac    *acAutomaton
}

// atom: the event has field (or, kw, any string value) equal to (eq) or
// containing lit, case-folded.
type atom struct {
	field string
	kw    bool
	eq    bool
	lit   string
}

// NewPrefilter compiles the prefilter of ms; rule i of Candidates is ms[i].
func NewPrefilter(ms []*Matcher) *Prefilter {
	p := &Prefilter{n: len(ms)}
	words := (len(ms) + 63) / 64
	p.base = make([]uint64, words)
	p.bits = make([]uint64, words)
	byName := map[string]*pfField{}
	get := func(a atom) *pfField {
		if a.kw {
			if p.kw == nil {
				p.kw = &pfField{eq: map[string][]int32{}}
			}
			return p.kw
		}
		f := byName[a.field]
		if f == nil {
			f = &pfField{name: a.field, eq: map[string][]int32{}}
			byName[a.field] = f
			p.fields = append(p.fields, f)
		}
		return f
	}
	subIdx := map[*pfField]map[string]int{}
	for i, m := range ms {
		atoms, ok := m.atoms()
		if !ok || m == nil {
			p.base[i/64] |= 1 << (i % 64)
			p.always++
			continue
		}
		for _, a := range atoms {
			f := get(a)
			if a.eq {
				l := f.eq[a.lit]
				if len(l) == 0 || l[len(l)-1] != int32(i) {
					f.eq[a.lit] = append(l, int32(i))
				}
				continue
			}
			ix := subIdx[f]
			if ix == nil {
				ix = map[string]int{}
				subIdx[f] = ix
			}
			k, ok := ix[a.lit]
			if !ok {
				k = len(f.subs)
				ix[a.lit] = k
				f.subs = append(f.subs, a.lit)
				f.rules = append(f.rules, nil)
			}
			if l := f.rules[k]; len(l) == 0 || l[len(l)-1] != int32(i) {
				f.rules[k] = append(l, int32(i))
			}
		}
	}
	all := p.fields
	if p.kw != nil {
		all = append(all[:len(all):len(all)], p.kw)
	}
	total := 0
	for _, f := range all {
		f.first = total
		total += len(f.subs)
		if len(f.subs) > 0 {
			f.ac = newAC(f.subs)
		}
	}
	p.stamp = make([]uint32, total)
	return p
}

// Always is the number of rules the prefilter keeps for every event.
func (p *Prefilter) Always() int { return p.always }

// Size estimates the bytes the prefilter holds.
func (p *Prefilter) Size() int {
	b := 16*len(p.base) + 4*len(p.stamp)
	all := p.fields
	if p.kw != nil {
		all = append(all[:len(all):len(all)], p.kw)
	}
	for _, f := range all {
		for k, l := range f.eq {
			b += len(k) + 16 + 24 + 4*cap(l) + 16
		}
		for k, s := range f.subs {
			b += len(s) + 16 + 24 + 4*cap(f.rules[k])
		}
		if f.ac != nil {
			b += f.ac.size()
		}
	}
	return b
}

// Candidates returns the rules that may match ev as a bit set (bit i: rule
// i). The slice is reused by the next call.
func (p *Prefilter) Candidates(ev Event) []uint64 {
	copy(p.bits, p.base)
	p.gen++
	if p.gen == 0 { // wrapped: forget every stamp
		clear(p.stamp)
		p.gen = 1
	}
	for _, f := range p.fields {
		v, ok := ev.Field(f.name)
		if !ok || v == nil {
			continue
		}
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				p.value(f, e)
			}
		case []string:
			for _, e := range x {
				p.value(f, e)
			}
		default:
			p.value(f, v)
		}
	}
	if p.kw != nil {
		if fr, ok := ev.(FieldRanger); ok {
			fr.RangeFields(func(_ string, v any) bool {
				p.walk(v)
				return true
			})
		}
	}
	return p.bits
}

// walk visits the values a keyword search looks at (as matchKeywords does).
func (p *Prefilter) walk(v any) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			p.walk(e)
		}
		return
	case map[string]any:
		for _, e := range x {
			p.walk(e)
		}
		return
	}
	p.value(p.kw, v)
}

func (p *Prefilter) set(rules []int32) {
	for _, r := range rules {
		p.bits[r/64] |= 1 << (r % 64)
	}
}

// value folds one scalar value and looks it up.
func (p *Prefilter) value(f *pfField, v any) {
	s, ok := v.(string)
	if !ok {
		if s, ok = toString(v); !ok {
			return
		}
	}
	if !isASCII(s) {
		s = strings.ToLower(s)
	} else {
		for i := 0; i < len(s); i++ {
			if c := s[i]; 'A' <= c && c <= 'Z' {
				b := append(p.buf[:0], s...)
				for j := i; j < len(b); j++ {
					b[j] = lowerASCII(b[j])
				}
				p.buf = b
				lookup(p, f, b)
				return
			}
		}
	}
	lookup(p, f, s)
}

func lookup[T ~string | ~[]byte](p *Prefilter, f *pfField, s T) {
	if l, ok := f.eq[string(s)]; ok {
		p.set(l)
	}
	if f.ac == nil {
		return
	}
	scanAC(f.ac, s, func(k int32) {
		g := f.first + int(k)
		if p.stamp[g] != p.gen {
			p.stamp[g] = p.gen
			p.set(f.rules[k])
		}
	})
}

// ---- what a rule needs

// atoms returns literals at least one of which an event must have for the
// rule to match; false when the rule can match without any.
func (m *Matcher) atoms() ([]atom, bool) {
	if m == nil {
		return nil, false
	}
	var out []atom
	for _, c := range m.conds {
		a, ok := need(c)
		if !ok {
			return nil, false
		}
		out = append(out, a...)
	}
	return out, true
}

func need(n cnode) ([]atom, bool) {
	switch x := n.(type) {
	case *searchM:
		if x.keywords != nil {
			return x.keywords.atoms("", true)
		}
		var out []atom
		for _, mp := range x.maps {
			var best []atom
			found := false
			for _, it := range mp {
				if a, ok := it.atoms(it.field, false); ok && (!found || better(a, best)) {
					best, found = a, true
				}
			}
			if !found {
				return nil, false
			}
			out = append(out, best...)
		}
		return out, true
	case andN:
		l, lok := need(x.l)
		r, rok := need(x.r)
		switch {
		case lok && rok:
			if better(r, l) {
				return r, true
			}
			return l, true
		case lok:
			return l, true
		case rok:
			return r, true
		}
		return nil, false
	case orN:
		l, lok := need(x.l)
		r, rok := need(x.r)
		if !lok || !rok {
			return nil, false
		}
		return append(l[:len(l):len(l)], r...), true
	case ofN:
		if x.n < 0 { // all of: any one of them is needed
			var best []atom
			found := false
			for _, s := range x.subs {
				if a, ok := need(s); ok && (!found || better(a, best)) {
					best, found = a, true
				}
			}
			return best, found
		}
		var out []atom
		for _, s := range x.subs {
			a, ok := need(s)
			if !ok {
				return nil, false
			}
			out = append(out, a...)
		}
		return out, true
	}
	return nil, false // not, and anything else
}

// better prefers the more selective need: equality values, then longer
// shortest substrings, then fewer literals.
func better(a, b []atom) bool {
	sa, sb := score(a), score(b)
	if sa != sb {
		return sa > sb
	}
	return len(a) < len(b)
}

func score(as []atom) int {
	s := 1 << 20
	for _, a := range as {
		v := len(a.lit)
		if a.eq {
			v = 1000 + len(a.lit)
		}
		s = min(s, v)
	}
	return s
}

// atoms of one item on field (kw: a keyword search, any string value).
func (it *itemM) atoms(field string, kw bool) ([]atom, bool) {
	if it.mode != modeValues || it.neq || it.null || len(it.groups) == 0 {
		return nil, false
	}
	if it.all { // every group must match: one is enough to require
		var best []atom
		found := false
		for _, g := range it.groups {
			if a, ok := groupAtoms(g, field, kw); ok && (!found || better(a, best)) {
				best, found = a, true
			}
		}
		return best, found
	}
	var out []atom
	for _, g := range it.groups {
		a, ok := groupAtoms(g, field, kw)
		if !ok {
			return nil, false
		}
		out = append(out, a...)
	}
	return out, true
}

func groupAtoms(g []valM, field string, kw bool) ([]atom, bool) {
	var out []atom
	for _, vm := range g {
		switch x := vm.(type) {
		case *strM:
			if x.hasNum {
				return nil, false
			}
			a, ok := patternAtom(x.p, field, kw)
			if !ok {
				return nil, false
			}
			out = append(out, a)
		case *multiContainsM:
			for _, l := range x.lits {
				out = append(out, atom{field: field, kw: kw, lit: l})
			}
		default:
			return nil, false
		}
	}
	return out, len(out) > 0
}

// patternAtom: a literal any value matching p has, case-folded as
// Prefilter.value folds values.
func patternAtom(p *pattern, field string, kw bool) (atom, bool) {
	a := atom{field: field, kw: kw}
	switch p.kind {
	case pExact:
		a.eq, a.lit = !kw, p.lit
	case pPrefix, pSuffix, pContains:
		a.lit = p.lit
	case pGlob:
		for _, t := range p.toks {
			if t.kind == tLit && len(t.s) > len(a.lit) {
				a.lit = t.s
			}
		}
	default:
		return a, false
	}
	if a.lit == "" && !a.eq {
		return a, false
	}
	if p.cased {
		// a case-sensitive literal: its folded form is in the folded value
		// when it is ASCII
		if !isASCII(a.lit) {
			return a, false
		}
		a.lit = strings.ToLower(a.lit)
	}
	return a, true
}
