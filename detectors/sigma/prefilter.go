package sigma

import (
	"encoding/binary"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
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
	kw     *pfField   // keyword searches: every string value of the event
	kwIn   []*pfField // fields whose substrings include the keywords'
	// kwNoNum: no keyword can be in a number or a boolean written as
	// toString writes them (digits, + - . and the letters of NaN, Inf,
	// true, false): the keywords all begin with another non-letter byte
	kwNoNum bool
	stamp   []uint32 // per substring: the event it was last reported for
	gen     uint32
	buf     []byte
	fold    []byte                 // the folded non-ASCII value being scanned
	found   []int32                // the substrings an anchorSet found in a value
	walkFn  func(string, any) bool // p.walk for RangeFields, made once
	always  int
	// the values of fields read for the last event (vals[i]: fields[i]),
	// answered by ev
	vals []any
	has  []bool
	ev   fieldsEvent
	// byID[id]: 1 + the index in fields of the field numbered id (0: none
	// of them), for FieldByID
	byID []uint16
	// a rule is kept when every one of its clauses has a literal in the
	// event; clause k of rule r is numbered r<<clauseBits|k in the lists
	// of the literals
	rs []pfRule
}

// pfRule: the clauses of a rule (a bit each: all), and those hit in event
// gen.
type pfRule struct {
	gen      uint32
	hit, all uint32
}

// clauseBits: the bits of a clause's number within its rule.
const clauseBits = 5

type pfField struct {
	name  string
	id    FieldID            // FieldIDOf(name)
	idx   int                // its index in Prefilter.fields
	eq    map[string][]int32 // folded value → clauses
	eqMin int                // lengths of the shortest and longest keys of eq
	eqMax int
	subs  []string // folded substrings
	cl    []int32  // per substring k: clauses cl[clAt[k]:clAt[k+1]]
	clAt  []int32
	first int // global id of subs[0] (for stamps)
	// the generation (Prefilter.gen) of the last event whose value of the
	// field was one string, ASCII and scanned whole, or without any of
	// subs: its stamps then say which of subs it contains, for the
	// matchers (see foundLits)
	whole uint32
	ac    *acAutomaton
	an    *anchorSet // instead of ac when there are many substrings
}

// anchorMin is the number of substrings from which a field's are found by
// an anchorSet rather than one Aho–Corasick automaton.
var anchorMin = 64

// atom: the event has field (or, kw, any string value) equal to (eq) or
// containing lit, case-folded.
type atom struct {
	field string
	kw    bool
	eq    bool
	lit   string
}

// NewPrefilter compiles the prefilter of ms; rule i of Candidates is ms[i].
// It also hooks the contains matchers of ms to the new prefilter, so that
// they answer from its scan (see foundLits): build it before the matchers
// are used, and at most one per set of matchers in use at a time (a second
// one takes the hooks over; the first stays correct but loses the
// shortcut).
func NewPrefilter(ms []*Matcher) *Prefilter {
	p := &Prefilter{n: len(ms)}
	words := (len(ms) + 63) / 64
	p.base = make([]uint64, words)
	p.bits = make([]uint64, words)
	p.rs = make([]pfRule, len(ms))
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
	subCl := map[*pfField][][]int32{} // per field, per substring: clauses
	// sub returns the index of lit among f's substrings, adding it
	sub := func(f *pfField, lit string) int {
		ix := subIdx[f]
		if ix == nil {
			ix = map[string]int{}
			subIdx[f] = ix
		}
		k, ok := ix[lit]
		if !ok {
			k = len(f.subs)
			ix[lit] = k
			f.subs = append(f.subs, lit)
			subCl[f] = append(subCl[f], nil)
		}
		return k
	}
	for i, m := range ms {
		cs := m.clauses()
		// a clause on named fields is cheaper to check than a keyword
		// clause (which scans every value): drop keyword clauses when
		// there are others (needing less is still sound)
		var named []clause
		for _, c := range cs {
			if !c.keyword() {
				named = append(named, c)
			}
		}
		if len(named) > 0 {
			cs = named
		}
		if mc := min(maxClauses, 1<<clauseBits); len(cs) > mc {
			// the most selective clauses are enough (needing fewer is
			// still sound); each clause more is counted on every event
			// that hits it
			cs = append([]clause(nil), cs...)
			sort.SliceStable(cs, func(x, y int) bool { return better(cs[x], cs[y]) })
			cs = cs[:mc]
		}
		if len(cs) == 0 {
			p.base[i/64] |= 1 << (i % 64)
			p.always++
			continue
		}
		p.rs[i].all = 1<<len(cs) - 1
		for k, c := range cs {
			id := int32(i)<<clauseBits | int32(k)
			for _, a := range c {
				f := get(a)
				if a.eq {
					l := f.eq[a.lit]
					if len(l) == 0 || l[len(l)-1] != id {
						f.eq[a.lit] = append(l, id)
					}
					continue
				}
				k := sub(f, a.lit)
				if l := subCl[f][k]; len(l) == 0 || l[len(l)-1] != id {
					subCl[f][k] = append(l, id)
				}
			}
		}
	}
	// the contains matchers of named fields whose literals are all among
	// the field's substrings are answered from the stamps of the values
	// scanned
	for _, m := range ms {
		m.eachContains(func(field string, lits []string) *foundLits {
			f := byName[field]
			if f == nil { // a field no clause reads: not read for them
				return nil
			}
			fl := &foundLits{p: p, f: f}
			for _, l := range lits {
				k, ok := subIdx[f][l]
				if !ok {
					return nil
				}
				fl.ks = append(fl.ks, int32(k))
			}
			return fl
		})
	}
	// the keywords are also substrings of the fields with many substrings
	// (long values: command lines, paths), for the same clauses: the
	// keyword walk skips the values of those fields (see walk)
	if p.kw != nil {
		for _, f := range p.fields {
			if len(f.subs) < anchorMin {
				continue
			}
			for kk, l := range p.kw.subs {
				k := sub(f, l)
				subCl[f][k] = append(subCl[f][k], subCl[p.kw][kk]...)
			}
			p.kwIn = append(p.kwIn, f)
		}
	}
	// each field's clause lists in one array
	for f, lists := range subCl {
		f.clAt = make([]int32, 0, len(lists)+1)
		for _, l := range lists {
			f.clAt = append(f.clAt, int32(len(f.cl)))
			f.cl = append(f.cl, l...)
		}
		f.clAt = append(f.clAt, int32(len(f.cl)))
	}
	// the fields with the most literals first: the rules read them most,
	// and Event finds a field by going through the list
	slices.SortStableFunc(p.fields, func(a, b *pfField) int {
		return len(b.subs) + len(b.eq) - len(a.subs) - len(a.eq)
	})
	all := p.fields
	if p.kw != nil {
		all = append(all[:len(all):len(all)], p.kw)
	}
	total := 0
	for _, f := range all {
		f.eqMin, f.eqMax = 1<<30, -1
		for k := range f.eq {
			f.eqMin, f.eqMax = min(f.eqMin, len(k)), max(f.eqMax, len(k))
		}
		f.first = total
		total += len(f.subs)
		if len(f.subs) >= anchorMin {
			f.an = newAnchorSet(f.subs)
		} else if len(f.subs) > 0 {
			f.ac = newAC(f.subs)
		}
	}
	// a clause of a rule that needs only it keeps the rule when hit: its
	// entries become ^rule (see hit)
	// first in each list
	direct := func(l []int32) {
		for i, c := range l {
			if r := c >> clauseBits; p.rs[r].all == 1 {
				l[i] = ^r
			}
		}
		slices.Sort(l)
	}
	for _, f := range all {
		for k := range f.subs {
			direct(f.cl[f.clAt[k]:f.clAt[k+1]])
		}
		for _, l := range f.eq {
			direct(l)
		}
	}
	for i, f := range p.fields {
		f.idx = i
		f.id, _ = FieldIDOf(f.name)
		if f.id != 0 {
			for int(f.id) >= len(p.byID) {
				p.byID = append(p.byID, 0)
			}
			p.byID[f.id] = uint16(i + 1)
		}
	}
	if p.kw != nil {
		a := p.kw.ac
		p.kwNoNum = a != nil && a.skip >= 0 && len(p.kw.eq) == 0 &&
			strings.IndexByte("0123456789+-.", byte(a.skip)) < 0
	}
	p.stamp = make([]uint32, total)
	p.vals = make([]any, len(p.fields))
	p.has = make([]bool, len(p.fields))
	p.ev.p = p
	return p
}

// Event returns the event of the last call to Candidates, answering Field
// for the fields the prefilter read from it without reading them again
// (a field name is recognised as the same string: names interned by
// Options.Intern; other names are read from the event). It is a
// FieldFinder too (fields recognised by their number). It is valid until
// the next call to Candidates.
func (p *Prefilter) Event() Event { return &p.ev }

type fieldsEvent struct {
	Event
	ff FieldFinder // Event, when it is one
	p  *Prefilter
}

func (e *fieldsEvent) Field(name string) (any, bool) {
	for i, f := range e.p.fields {
		if len(f.name) == len(name) && unsafe.StringData(f.name) == unsafe.StringData(name) {
			return e.p.vals[i], e.p.has[i]
		}
	}
	return e.Event.Field(name)
}

// FieldByID answers as Field does, finding the fields the prefilter read
// by their number; others are read from the event, by number when it is a
// FieldFinder.
func (e *fieldsEvent) FieldByID(id FieldID, name string) (any, bool) {
	if int(id) < len(e.p.byID) {
		if i := e.p.byID[id]; i > 0 {
			return e.p.vals[i-1], e.p.has[i-1]
		}
	}
	if id == 0 {
		return e.Field(name) // (a field the prefilter read may have no number)
	}
	if e.ff != nil {
		return e.ff.FieldByID(id, name)
	}
	return e.Event.Field(name)
}

// RangeFields is the event's (none when it has no RangeFields).
func (e *fieldsEvent) RangeFields(yield func(name string, value any) bool) {
	if fr, ok := e.Event.(FieldRanger); ok {
		fr.RangeFields(yield)
	}
}

// Always is the number of rules the prefilter keeps for every event.
func (p *Prefilter) Always() int { return p.always }

// Size estimates the bytes the prefilter holds.
func (p *Prefilter) Size() int {
	b := 16*len(p.base) + 4*len(p.stamp) + 12*p.n
	all := p.fields
	if p.kw != nil {
		all = append(all[:len(all):len(all)], p.kw)
	}
	for _, f := range all {
		for k, l := range f.eq {
			b += len(k) + 16 + 24 + 4*cap(l) + 16
		}
		for k, s := range f.subs {
			b += len(s) + 16 + 4 + 4*int(f.clAt[k+1]-f.clAt[k])
		}
		if f.ac != nil {
			b += f.ac.size()
		}
		if f.an != nil {
			b += f.an.size()
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
		for i := range p.rs {
			p.rs[i].gen = 0
		}
		for _, f := range p.fields {
			f.whole = 0
		}
		p.gen = 1
	}
	p.ev.Event = ev
	ff, _ := ev.(FieldFinder)
	p.ev.ff = ff
	for i, f := range p.fields {
		var v any
		var ok bool
		if ff != nil {
			v, ok = ff.FieldByID(f.id, f.name)
		} else {
			v, ok = ev.Field(f.name)
		}
		p.vals[i], p.has[i] = v, ok
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
			if p.value(f, v) {
				f.whole = p.gen
			}
		}
	}
	if p.kw != nil {
		if fr, ok := ev.(FieldRanger); ok {
			if p.walkFn == nil {
				p.walkFn = func(_ string, v any) bool {
					p.walk(v)
					return true
				}
			}
			fr.RangeFields(p.walkFn)
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
	case string:
		// no keyword can be in a value without the byte every keyword
		// starts with (folding neither adds nor removes it: see value)
		if a := p.kw.ac; a != nil && a.skip >= 0 && len(p.kw.eq) == 0 {
			j := strings.IndexByte(x, byte(a.skip))
			if j < 0 || p.kwScanned(x) {
				return
			}
			if isASCII(x) { // as value does, from there
				e := uint32(0)
				for i := j; i < len(x); {
					if i, e = a.nextSkip(x, i, e); e>>flagShift == 0 {
						break
					}
					p.acOut(p.kw, e, x, i)
				}
				return
			}
		} else if p.kwScanned(x) {
			return
		}
	case float64, float32, int, int64, int32, uint64, uint32, bool:
		if p.kwNoNum {
			return
		}
	}
	p.value(p.kw, v)
}

// kwScanned: s is the value of a field whose scan looked for the keywords
// already (kwIn), as the walk meets it: the very string.
func (p *Prefilter) kwScanned(s string) bool {
	for _, f := range p.kwIn {
		if v, ok := p.vals[f.idx].(string); ok && len(v) == len(s) && unsafe.StringData(v) == unsafe.StringData(s) {
			return true
		}
	}
	return false
}

// hit marks clauses as satisfied, and keeps the rules whose clauses are
// all satisfied (an entry ^r, negative, first in the list: rule r, which
// needs only that clause).
func (p *Prefilter) hit(clauses []int32) {
	i := 0
	for ; i < len(clauses) && clauses[i] < 0; i++ { // ^rule: the rule needs only this clause
		r := uint32(^clauses[i])
		p.bits[r/64] |= 1 << (r % 64)
	}
	rs, gen := p.rs, p.gen
	for _, c := range clauses[i:] {
		r := uint32(c) >> clauseBits
		pr := &rs[r]
		if pr.gen != gen {
			pr.gen, pr.hit = gen, 0
		}
		pr.hit |= 1 << (c & (1<<clauseBits - 1))
		if pr.hit == pr.all {
			p.bits[r/64] |= 1 << (r % 64)
		}
	}
}

// value folds one scalar value and looks it up: ASCII values byte by byte
// as they are scanned, others with strings.ToLower (and ſ as s, which
// case-insensitive regular expressions equate). It reports whether v is a
// string whose stamps say exactly which of f's substrings it contains,
// case-insensitively: it is ASCII and was scanned whole, or it holds none
// of them.
func (p *Prefilter) value(f *pfField, v any) bool {
	s, isStr := v.(string)
	if !isStr {
		var ok bool
		if s, ok = toString(v); !ok {
			return false
		}
	}
	// the automaton's skip byte is not a letter: folding (ASCII letters,
	// and non-ASCII runes to runes or to ASCII letters) neither adds nor
	// removes it, so a value without it has none of the substrings
	if len(f.eq) == 0 && f.ac != nil && f.ac.skip >= 0 && strings.IndexByte(s, byte(f.ac.skip)) < 0 {
		return isStr
	}
	eq := len(s) >= f.eqMin && len(s) <= f.eqMax
	var ascii bool
	switch {
	case eq || f.an != nil:
		// lower-cased into buf (as the equality index and the anchors
		// read it), and found ASCII, in one pass
		b := slices.Grow(p.buf[:0], len(s))[:len(s)]
		p.buf = b
		ascii = lowerInto(b, s)
	case f.ac != nil && f.ac.skip < 0:
		// the automaton over the value as is (it folds ASCII letters),
		// which is ASCII or found not to be: then the substrings found
		// are still there (a literal found in the bytes as they are is
		// also found after folding, or is one more rule kept), and the
		// folded value is scanned again
		if p.acScan(f, s) {
			return isStr
		}
	default:
		ascii = isASCII(s)
	}
	if !ascii {
		p.fold = appendFoldNonASCII(p.fold[:0], s)
		s = unsafe.String(unsafe.SliceData(p.fold), len(p.fold)) // used before the next value
		eq = len(s) >= f.eqMin && len(s) <= f.eqMax
		if eq || f.an != nil {
			b := slices.Grow(p.buf[:0], len(s))[:len(s)]
			for i := range b {
				b[i] = lowerASCII(s[i])
			}
			p.buf = b
		}
	}
	if eq {
		if l, ok := f.eq[string(p.buf)]; ok {
			p.hit(l)
		}
	}
	if f.an != nil {
		p.found = f.an.scan(p.buf, p.found[:0])
		for _, k := range p.found {
			p.sub(f, k)
		}
	} else if f.ac != nil {
		p.acScan(f, s)
	}
	return isStr && ascii
}

// foundLits: the literals (folded) of a contains matcher on a field the
// prefilter scans, as f's substrings ks.
type foundLits struct {
	p  *Prefilter
	f  *pfField
	ks []int32
}

// in reports whether s, the value of the field in ev, contains one of the
// literals, when the prefilter can tell: ev is its Event, s is the very
// string it scanned whole for the field (see value). ok false: the caller
// decides.
func (fl *foundLits) in(ev Event, s string) (found, ok bool) {
	p, f := fl.p, fl.f
	if fe, isFE := ev.(*fieldsEvent); !isFE || fe.p != p || f.whole != p.gen {
		return false, false
	}
	i := f.idx
	v, _ := p.vals[i].(string)
	if len(v) != len(s) || unsafe.StringData(v) != unsafe.StringData(s) {
		return false, false
	}
	for _, k := range fl.ks {
		if p.stamp[f.first+int(k)] == p.gen {
			return true, true
		}
	}
	return false, true
}

// acScan runs f's automaton over s (ASCII letters folded as they are
// read) and reports whether s is ASCII. Without a skip byte it reads
// every byte; with one it jumps from the root to the next skip byte and
// reports true (the caller knows s is ASCII then).
func (p *Prefilter) acScan(f *pfField, s string) bool {
	a := f.ac
	e := uint32(0)
	if a.skip < 0 {
		var or byte
		for i := 0; i < len(s); {
			var o byte
			i, e, o = a.next(s, i, e)
			or |= o
			if e>>flagShift == 0 {
				break
			}
			p.acOut(f, e, s, i)
		}
		return or < utf8.RuneSelf
	}
	for i := 0; i < len(s); {
		if i, e = a.nextSkip(s, i, e); e>>flagShift == 0 {
			break
		}
		p.acOut(f, e, s, i)
	}
	return true
}

// acOut: f's automaton is at entry e (flagged), before s[i:].
func (p *Prefilter) acOut(f *pfField, e uint32, s string, i int) {
	a := f.ac
	st := a.state(e)
	if e&(flagOut<<flagShift) != 0 {
		for _, k := range a.emit[a.emitAt[st]:a.emitAt[st+1]] {
			p.sub(f, k)
		}
	}
	if e&(flagDeep<<flagShift) != 0 {
		p.deep(f, st, s, i)
	}
}

// lowerInto writes s with its ASCII letters lower-cased into b (of len(s)
// bytes), eight bytes at a time, and reports whether s is ASCII (when it
// is not, b is left partly written).
func lowerInto(b []byte, s string) bool {
	b = b[:len(s)]
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
		if x&0x8080808080808080 != 0 {
			return false
		}
		// bytes ≥ 'A' and ≤ 'Z' get their 0x20 bit (no carries: every
		// byte is below 0x80)
		ge := x + 0x3f3f3f3f3f3f3f3f // 0x80 - 'A'
		gt := x + 0x2525252525252525 // 0x80 - 'Z' - 1
		binary.LittleEndian.PutUint64(b[i:], x|(ge&^gt&0x8080808080808080)>>2)
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return false
		}
		b[i] = lowerASCII(c)
	}
	return true
}

// deep walks f's trie from the automaton's state st over s[i:] (see
// acAutomaton).
func (p *Prefilter) deep(f *pfField, st int, s string, i int) {
	a := f.ac
	n := int32(st)
	for ; i < len(s); i++ {
		if n = a.child(n, lowerASCII(s[i])); n < 0 {
			return
		}
		for _, k := range a.out[a.outAt[n]:a.outAt[n+1]] {
			p.sub(f, k)
		}
	}
}

// sub: substring k of f is in the value.
func (p *Prefilter) sub(f *pfField, k int32) {
	g := f.first + int(k)
	if p.stamp[g] != p.gen {
		p.stamp[g] = p.gen
		p.hit(f.cl[f.clAt[k]:f.clAt[k+1]])
	}
}

// appendFoldNonASCII appends the prefilter's case folding of a non-ASCII
// string to b: strings.ToLower, and ſ as s, which case-insensitive regular
// expressions equate; rune by rune as strings.ToLower maps them (an
// invalid byte becomes U+FFFD).
func appendFoldNonASCII(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf { // most bytes of most such values
			b = append(b, lowerASCII(c))
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		r = unicode.ToLower(r)
		if r == 'ſ' {
			r = 's'
		}
		b = utf8.AppendRune(b, r)
	}
	return b
}

// ---- what a rule needs

// A clause is a set of literals at least one of which an event must have;
// a rule needs every clause of its list (none: the rule is always kept).

// clauses returns what an event must have for the rule to match.
func (m *Matcher) clauses() []clause {
	if m == nil || len(m.conds) == 0 {
		return nil
	}
	var alts [][]clause
	for _, c := range m.conds {
		alts = append(alts, need(c))
	}
	return anyOf(alts)
}

type clause []atom

// keyword: some literal of c is a keyword (any value of the event).
func (c clause) keyword() bool {
	for _, a := range c {
		if a.kw {
			return true
		}
	}
	return false
}

// anyOf: what one of several alternatives needs. With one alternative, its
// clauses; else clauses joining one clause of each alternative (each
// alternative implies each of its clauses, so the or implies their join),
// for every combination of the most selective clauses of each, as many
// combinations as maxJoin allows (at least one: the best clause of each);
// nothing when one alternative needs nothing.
func anyOf(alts [][]clause) []clause {
	if len(alts) == 1 {
		return alts[0]
	}
	sel := make([][]clause, len(alts))
	for i, a := range alts {
		if len(a) == 0 {
			return nil
		}
		s := append([]clause(nil), a...)
		sort.SliceStable(s, func(x, y int) bool { return better(s[x], s[y]) })
		sel[i] = s[:1]
		alts[i] = s
	}
	// widen the choices alternative by alternative while the number of
	// combinations stays within maxJoin
	combos := 1
	for grew := true; grew; {
		grew = false
		for i := range sel {
			n := len(sel[i])
			if n < len(alts[i]) && combos/n*(n+1) <= maxJoin {
				combos = combos / n * (n + 1)
				sel[i] = alts[i][:n+1]
				grew = true
			}
		}
	}
	out := make([]clause, 0, combos)
	idx := make([]int, len(sel))
	for {
		var joined clause
		for i, k := range idx {
			joined = append(joined, sel[i][k]...)
		}
		if len(joined) == 0 {
			return nil
		}
		out = append(out, joined)
		i := 0
		for ; i < len(idx); i++ {
			if idx[i]++; idx[i] < len(sel[i]) {
				break
			}
			idx[i] = 0
		}
		if i == len(idx) {
			return out
		}
	}
}

// maxClauses bounds the clauses a rule is kept by.
var maxClauses = 3

// maxJoin bounds the clauses an or of alternatives gives (anyOf).
const maxJoin = 16

func need(n cnode) []clause {
	switch x := n.(type) {
	case *searchM:
		if x.keywords != nil {
			return x.keywords.clauses("", true)
		}
		var alts [][]clause
		for _, mp := range x.maps {
			var all []clause // the items of a map are and-ed
			for _, it := range mp {
				all = append(all, it.clauses(it.field, false)...)
			}
			alts = append(alts, all)
		}
		if len(alts) == 0 {
			return nil
		}
		return anyOf(alts)
	case andN:
		l, r := need(x.l), need(x.r)
		return append(l[:len(l):len(l)], r...)
	case orN:
		return anyOf([][]clause{need(x.l), need(x.r)})
	case ofN:
		if x.n < 0 { // all of
			var out []clause
			for _, s := range x.subs {
				out = append(out, need(s)...)
			}
			return out
		}
		var alts [][]clause
		for _, s := range x.subs {
			alts = append(alts, need(s))
		}
		return anyOf(alts)
	}
	return nil // not, and anything else
}

// clauses of one item on field (kw: a keyword search, any string value).
func (it *itemM) clauses(field string, kw bool) []clause {
	if it.mode != modeValues || it.neq || it.null || len(it.groups) == 0 {
		return nil
	}
	if it.all { // every group must match: each is a clause
		var out []clause
		for _, g := range it.groups {
			if a, ok := groupAtoms(g, field, kw); ok {
				out = append(out, a)
			}
		}
		return out
	}
	var out clause
	for _, g := range it.groups {
		a, ok := groupAtoms(g, field, kw)
		if !ok {
			return nil
		}
		out = append(out, a...)
	}
	return []clause{out}
}

// better prefers the more selective need: equality values, then longer
// shortest substrings, then fewer literals.
func better(a, b clause) bool {
	sa, sb := score(a), score(b)
	if sa != sb {
		return sa > sb
	}
	return len(a) < len(b)
}

func score(as clause) int {
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
		case *multiAnchoredM: // as patternAtom: ASCII lower-case literals
			for _, l := range x.lits {
				out = append(out, atom{field: field, kw: kw, eq: x.kind == pExact && !kw, lit: l})
			}
		case *reM:
			lits, ok := regexpLiterals(x.re.String())
			if !ok {
				return nil, false
			}
			for _, l := range lits {
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
		// a case-sensitive literal is in the folded value, folded, when it
		// is ASCII
		if !isASCII(a.lit) {
			return a, false
		}
		a.lit = strings.ToLower(a.lit)
		return a, true
	}
	// already lower-cased as the exact match folds values (lowering again
	// is not always the identity): only ſ as s, as values are folded
	a.lit = strings.ReplaceAll(a.lit, "ſ", "s")
	return a, true
}

// regexpLiterals returns literals, folded, one of which is in every string
// the expression matches (false: none found). Only ASCII literals are
// used: under (?i), Go equates s and k with ſ and the Kelvin sign, which
// the folding of values maps to s and k.
func regexpLiterals(expr string) ([]string, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, false
	}
	return reLits(re)
}

func reLits(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		if s == "" || !isASCII(s) {
			return nil, false
		}
		return []string{strings.ToLower(s)}, true
	case syntax.OpCapture, syntax.OpPlus:
		return reLits(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		return reLits(re.Sub[0])
	case syntax.OpConcat:
		var best []string
		found := false
		for _, sub := range re.Sub {
			l, ok := reLits(sub)
			if ok && (!found || litScore(l) > litScore(best)) {
				best, found = l, true
			}
		}
		return best, found
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			l, ok := reLits(sub)
			if !ok {
				return nil, false
			}
			out = append(out, l...)
		}
		return out, len(out) > 0
	}
	return nil, false
}

func litScore(ls []string) int {
	s := 1 << 20
	for _, l := range ls {
		s = min(s, len(l))
	}
	return s
}
