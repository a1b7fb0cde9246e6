package sigma

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Event is what detection rules are evaluated on: named fields and a timestamp.
type Event interface {
	Field(name string) (any, bool)
	Time() time.Time
}

// FieldRanger is implemented by events that can list their fields; keyword
// searches need it (they look at every string value of the event).
type FieldRanger interface {
	RangeFields(yield func(name string, value any) bool)
}

// Options configure rule compilation.
type Options struct {
	// FieldMap maps a rule's field name to the event's field name (a processing
	// pipeline's field-name mapping). Unmapped names are used as they are.
	FieldMap map[string]string
	// Placeholders give the values of %name% placeholders used with |expand.
	Placeholders map[string][]string
	// Location is the time zone in which time modifiers (|hour, |day ...) read
	// dates. Nil keeps each timestamp's own offset.
	Location *time.Location
	// TimestampField is the event field holding the event time (default
	// @timestamp); time modifiers on it use Event.Time() without parsing.
	TimestampField string
	// Intern, when set, makes equal field names share one string, so that
	// comparing them is a pointer comparison (the engine's field cache).
	Intern map[string]string
}

// MapField applies the field mapping (and interns the result).
func (o *Options) MapField(name string) string {
	if m, ok := o.FieldMap[name]; ok {
		name = m
	}
	return o.InternName(name)
}

// InternName returns the shared copy of an event field name.
func (o *Options) InternName(name string) string {
	if o.Intern == nil {
		return name
	}
	if s, ok := o.Intern[name]; ok {
		return s
	}
	o.Intern[name] = name
	return name
}

// Matcher is a compiled detection rule.
type Matcher struct {
	Rule     *Rule
	conds    []cnode
	searches map[string]*searchM
}

// Match reports whether the event satisfies the rule's detection.
func (m *Matcher) Match(ev Event) bool { return m.MatchIndexed(ev, "") }

// single returns the search that is the whole condition, if it is one.
func (m *Matcher) single() (*searchM, bool) {
	if len(m.conds) != 1 {
		return nil, false
	}
	s, ok := m.conds[0].(*searchM)
	return s, ok
}

// evalCtx is one evaluation: the event, the event as a FieldFinder when it
// is one, and the lower-cased index value ("" unknown).
type evalCtx struct {
	ev Event
	ff FieldFinder
	ix string
}

// MatchIndexed is Match for an event whose index field (see SetIndexField)
// has the lower-cased string value ix: equality items on that field are
// decided from ix without reading the field again. ix "" means unknown.
func (m *Matcher) MatchIndexed(ev Event, ix string) bool {
	ff, _ := ev.(FieldFinder)
	return m.MatchWith(ev, ff, ix)
}

// MatchWith is MatchIndexed for a caller that has asserted ev to a
// FieldFinder already (ff nil: it is none).
func (m *Matcher) MatchWith(ev Event, ff FieldFinder, ix string) bool {
	if s, ok := m.single(); ok { // the common case: one search, called directly
		if s.keywords == nil && len(s.maps) == 1 {
			// one map: its items ANDed, without building an evaluation
			return matchItems(s.maps[0], ev, ff, ix)
		}
		return s.eval(evalCtx{ev: ev, ff: ff, ix: ix})
	}
	c := evalCtx{ev: ev, ff: ff, ix: ix}
	for _, n := range m.conds {
		if n.eval(c) {
			return true
		}
	}
	return false
}

// eachContains calls reg for the case-insensitive contains values of
// ASCII literals on named fields (not keywords), with the field and the
// literals (lower case) one of which the value must contain, and keeps
// what it returns for the matcher to use (see foundLits).
func (m *Matcher) eachContains(reg func(field string, lits []string) *foundLits) {
	for _, s := range m.searches {
		for _, mp := range s.maps {
			for _, it := range mp {
				if it.mode != modeValues {
					continue
				}
				for _, g := range it.groups {
					for _, vm := range g {
						switch x := vm.(type) {
						case *multiContainsM:
							x.found = reg(it.field, x.lits)
						case *strM:
							if x.p.kind == pContains && !x.p.cased && x.p.lit != "" && isASCII(x.p.lit) {
								x.found = reg(it.field, []string{x.p.lit})
							}
						}
					}
				}
			}
		}
	}
}

// SetIndexField marks the plain equality items on field (an event field
// name) as decidable from the index value given to MatchIndexed.
func (m *Matcher) SetIndexField(field string) {
	for _, s := range m.searches {
		for _, mp := range s.maps {
			for _, it := range mp {
				it.indexed = it.field == field && it.plainEq && it.mode == modeValues && len(it.exactVals) > 0
			}
		}
	}
}

type cnode interface {
	eval(c evalCtx) bool
}

type andN struct{ l, r cnode }
type orN struct{ l, r cnode }
type notN struct{ x cnode }
type ofN struct {
	n    int // -1: all
	subs []cnode
}

func (n andN) eval(c evalCtx) bool { return n.l.eval(c) && n.r.eval(c) }
func (n orN) eval(c evalCtx) bool  { return n.l.eval(c) || n.r.eval(c) }
func (n notN) eval(c evalCtx) bool { return !n.x.eval(c) }
func (n ofN) eval(c evalCtx) bool {
	if n.n < 0 {
		for _, s := range n.subs {
			if !s.eval(c) {
				return false
			}
		}
		return true
	}
	k := 0
	for _, s := range n.subs {
		if s.eval(c) {
			k++
			if k >= n.n {
				return true
			}
		}
	}
	return false
}

type searchM struct {
	name     string
	keywords *itemM
	maps     [][]*itemM
}

func (s *searchM) eval(c evalCtx) bool {
	if s.keywords != nil {
		return s.keywords.matchKeywords(c.ev)
	}
	for _, m := range s.maps {
		if matchItems(m, c.ev, c.ff, c.ix) {
			return true
		}
	}
	return false
}

// Items is a rule whose condition is an AND of searches of one map each,
// some negated (`selection and not filter`): its items, evaluated without
// the condition tree (see Matcher.ItemsFor).
type Items struct {
	its  []*itemM     // ANDed
	nots [][]*itemM   // maps none of which may hold
	anys [][][]*itemM // ANDed: lists of maps, one of which at least must hold
}

// ItemsFor returns the rule as Items when its condition has that shape,
// for events whose index value (as given to MatchIndexed) is ix: the
// items on the index field decided true by ix are left out (from the
// maps that must hold). ok false: the rule is not of that shape.
func (m *Matcher) ItemsFor(ix string) (items Items, ok bool) {
	if len(m.conds) != 1 {
		return Items{}, false
	}
	// maps: the maps of a search of maps only (a list of maps: one of them)
	maps := func(n cnode) ([][]*itemM, bool) {
		s, ok := n.(*searchM)
		if !ok || s.keywords != nil || len(s.maps) == 0 {
			return nil, false
		}
		return s.maps, true
	}
	// alts: the maps one of which must hold for an OR of such searches
	var alts func(n cnode, out [][]*itemM) ([][]*itemM, bool)
	alts = func(n cnode, out [][]*itemM) ([][]*itemM, bool) {
		switch x := n.(type) {
		case orN:
			out, ok := alts(x.l, out)
			if !ok {
				return nil, false
			}
			return alts(x.r, out)
		case ofN:
			if x.n != 1 {
				return nil, false
			}
			for _, sub := range x.subs {
				var ok bool
				if out, ok = alts(sub, out); !ok {
					return nil, false
				}
			}
			return out, true
		}
		mps, ok := maps(n)
		if !ok {
			return nil, false
		}
		return append(out, mps...), true
	}
	var walk func(n cnode) bool
	walk = func(n cnode) bool {
		switch x := n.(type) {
		case andN:
			return walk(x.l) && walk(x.r)
		case notN:
			mps, ok := maps(x.x) // none of them
			if ok {
				items.nots = append(items.nots, mps...)
			}
			return ok
		case ofN:
			if x.n == 1 && len(x.subs) > 1 { // 1 of several
				a, ok := alts(x, nil)
				if ok {
					items.anys = append(items.anys, a)
				}
				return ok
			}
			if x.n >= 0 && x.n != len(x.subs) {
				return false
			}
			for _, sub := range x.subs { // all of them
				if !walk(sub) {
					return false
				}
			}
			return true
		case orN:
			a, ok := alts(x, nil)
			if ok {
				items.anys = append(items.anys, a)
			}
			return ok
		}
		mps, ok := maps(n)
		if !ok {
			return false
		}
		if len(mps) > 1 { // a list of maps: one of them
			items.anys = append(items.anys, mps)
			return true
		}
		for _, it := range mps[0] {
			if ix != "" && it.indexed && slices.Contains(it.exactVals, ix) {
				continue // what matchItems decides from ix: true
			}
			items.its = append(items.its, it)
		}
		return true
	}
	if !walk(m.conds[0]) {
		return Items{}, false
	}
	return items, true
}

// MatchWith is Matcher.MatchWith for the rule ItemsFor(ix) returned these
// items for, on an event whose index value is ix.
func (it *Items) MatchWith(ev Event, ff FieldFinder, ix string) bool {
	for _, x := range it.its { // matchItems, here: one call per rule
		if x.indexed && ix != "" {
			if !slices.Contains(x.exactVals, ix) {
				return false
			}
			continue
		}
		if !x.matchEv(ev, ff) {
			return false
		}
	}
	for _, a := range it.anys {
		if !anyItems(a, ev, ff, ix) {
			return false
		}
	}
	for _, mp := range it.nots {
		if matchItems(mp, ev, ff, ix) {
			return false
		}
	}
	return true
}

// Needs returns the numbers (FieldIDOf) of fields without which the rule
// cannot match: an event lacking one of them (FieldByID answers false) is
// decided without evaluating the items. Fields without a number are left
// out.
func (it *Items) Needs() []FieldID {
	var ids []FieldID
	for _, x := range it.its {
		if x.fid != 0 && !x.indexed && x.needsField() {
			ids = append(ids, x.fid)
		}
	}
	return ids
}

// needsField reports whether the item is false when its field is absent
// (as matchEv decides when FieldByID answers false).
func (it *itemM) needsField() bool {
	switch it.mode {
	case modeExists:
		return it.exists
	case modeNull:
		return it.neq
	}
	return !it.null
}

// anyItems reports whether one of the maps holds.
func anyItems(maps [][]*itemM, ev Event, ff FieldFinder, ix string) bool {
	for _, mp := range maps {
		if matchItems(mp, ev, ff, ix) {
			return true
		}
	}
	return false
}

// matchItems reports whether every item of a map holds.
func matchItems(m []*itemM, ev Event, ff FieldFinder, ix string) bool {
	for _, it := range m {
		if it.indexed && ix != "" {
			if !slices.Contains(it.exactVals, ix) {
				return false
			}
			continue
		}
		if !it.matchEv(ev, ff) {
			return false
		}
	}
	return true
}

const (
	modeValues = iota
	modeExists
	modeNull
)

type itemM struct {
	field  string
	fid    FieldID // number of field (FieldIDOf)
	mode   int
	exists bool
	all    bool
	neq    bool
	null   bool     // a null value among the values: also true when field absent/null
	groups [][]valM // OR inside a group; groups OR-ed, or AND-ed with |all
	// index hint
	exactVals []string
	plainEq   bool
	indexed   bool       // decided from the index value (SetIndexField)
	one       valM       // the only matcher (one group of one), called directly
	ref       *fieldrefM // one, when a |fieldref: given the event as a FieldFinder
}

type valM interface {
	match(v any, ev Event) bool
}

func (it *itemM) matchEv(ev Event, ff FieldFinder) bool {
	var v any
	var ok bool
	if ff != nil {
		v, ok = ff.FieldByID(it.fid, it.field)
	} else {
		v, ok = ev.Field(it.field)
	}
	switch it.mode {
	case modeExists:
		return ok == it.exists
	case modeNull:
		if it.neq {
			return ok && v != nil
		}
		return !ok || v == nil
	}
	if !ok || v == nil {
		return it.null
	}
	if _, isStr := v.(string); isStr && it.one != nil {
		// the common case: matchScalar's first branch, without the list
		// tests and the call
		if it.ref != nil { // (not asserting ev to a FieldFinder again)
			return it.ref.matchRef(v, ev, ff) != it.neq
		}
		return it.one.match(v, ev) != it.neq
	}
	if list, isList := v.([]any); isList {
		if it.neq {
			for _, e := range list {
				if !it.matchScalar(e, ev) {
					return false
				}
			}
			return len(list) > 0
		}
		for _, e := range list {
			if it.matchScalar(e, ev) {
				return true
			}
		}
		return false
	}
	if list, isList := v.([]string); isList {
		for _, e := range list {
			if it.matchScalar(e, ev) != it.neq {
				return !it.neq
			}
		}
		return it.neq && len(list) > 0
	}
	return it.matchScalar(v, ev)
}

func (it *itemM) matchScalar(v any, ev Event) bool {
	if it.one != nil {
		return it.one.match(v, ev) != it.neq
	}
	if it.all {
		for _, g := range it.groups {
			if !groupMatch(g, v, ev) {
				return false
			}
		}
		return true
	}
	any := false
	for _, g := range it.groups {
		if groupMatch(g, v, ev) {
			any = true
			break
		}
	}
	if it.neq {
		return !any
	}
	return any
}

func groupMatch(g []valM, v any, ev Event) bool {
	for _, m := range g {
		if m.match(v, ev) {
			return true
		}
	}
	return false
}

func (it *itemM) matchKeywords(ev Event) bool {
	fr, ok := ev.(FieldRanger)
	if !ok {
		return false
	}
	found := make([]bool, len(it.groups))
	n := 0
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
			return false
		case map[string]any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
			return false
		}
		for i, g := range it.groups {
			if !found[i] && groupMatch(g, v, ev) {
				found[i] = true
				n++
				if !it.all || n == len(it.groups) {
					return true
				}
			}
		}
		return false
	}
	done := false
	fr.RangeFields(func(_ string, v any) bool {
		done = walk(v)
		return !done
	})
	return done
}

// ---- value matchers

type strM struct {
	p      *pattern
	num    float64
	hasNum bool
	found  *foundLits // a contains value on a field the prefilter scans, or nil
}

func (m *strM) match(v any, ev Event) bool {
	switch x := v.(type) {
	case string:
		if m.found != nil {
			if r, ok := m.found.in(ev, x); ok {
				return r
			}
		}
		return m.p.match(x)
	case bool:
		if x {
			return m.p.match("true")
		}
		return m.p.match("false")
	}
	if m.hasNum && isNumber(v) {
		f, _ := toFloat(v)
		return f == m.num
	}
	s, ok := toString(v)
	return ok && m.p.match(s)
}

// multiContainsM matches when the value contains any of several lower-case
// ASCII literals, case-insensitively, in one pass over the value.
type multiContainsM struct {
	byFirst [256][]string
	// first[c]: c starts a literal (in either case), or is not ASCII (the
	// value is then matched lower-cased, whole)
	first [256]bool
	lits  []string
	found *foundLits // when the field is one the prefilter scans, or nil
}

func newMultiContains(lits []string) *multiContainsM {
	m := &multiContainsM{lits: lits}
	for _, l := range lits {
		c := l[0]
		m.byFirst[c] = append(m.byFirst[c], l)
		m.first[c] = true
		if 'a' <= c && c <= 'z' {
			m.byFirst[c-32] = append(m.byFirst[c-32], l)
			m.first[c-32] = true
		}
	}
	for c := utf8.RuneSelf; c < len(m.first); c++ {
		m.first[c] = true
	}
	return m
}

func (m *multiContainsM) match(v any, ev Event) bool {
	s, ok := v.(string)
	if !ok {
		if s, ok = toString(v); !ok {
			return false
		}
	} else if m.found != nil {
		if r, ok := m.found.in(ev, s); ok {
			return r
		}
	}
	// a literal found before the value's first non-ASCII byte is found
	// in the lower-cased value too (ASCII bytes lower-case to ASCII, in
	// place): that byte sends the whole value to matchLower
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !m.first[c] {
			continue
		}
		if c >= utf8.RuneSelf {
			return m.matchLower(s)
		}
		for _, l := range m.byFirst[c] {
			if len(s)-i >= len(l) && eqFold(s[i:i+len(l)], l, true) {
				return true
			}
		}
	}
	return false
}

// matchLower is match for a value that is not ASCII.
func (m *multiContainsM) matchLower(s string) bool {
	ls := strings.ToLower(s)
	for _, l := range m.lits {
		if strings.Contains(ls, l) {
			return true
		}
	}
	return false
}

type cidrM struct{ p netip.Prefix }

func (m *cidrM) match(v any, _ Event) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	a, ok := parseIPv4(s)
	if !ok { // not plain dotted IPv4: the full parser decides
		var err error
		if a, err = netip.ParseAddr(s); err != nil {
			return false
		}
	}
	return m.p.Contains(a.Unmap())
}

// parseIPv4 parses the dotted-decimal IPv4 addresses netip.ParseAddr
// accepts (four fields of 0–255 in decimal, without leading zeros),
// without its generality. ok false: s is not one of them; it may still be
// an address of another form.
func parseIPv4(s string) (netip.Addr, bool) {
	var b [4]byte
	f, n, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if digits > 0 && n == 0 { // a leading zero
				return netip.Addr{}, false
			}
			n = n*10 + int(c-'0')
			digits++
			if n > 255 {
				return netip.Addr{}, false
			}
		case c == '.':
			if digits == 0 || f == 3 {
				return netip.Addr{}, false
			}
			b[f] = byte(n)
			f, n, digits = f+1, 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if f != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	b[3] = byte(n)
	return netip.AddrFrom4(b), true
}

type cmpM struct {
	op string
	x  float64
}

func (m *cmpM) match(v any, _ Event) bool {
	f, ok := toFloat(v)
	if !ok {
		return false
	}
	return cmp(m.op, f, m.x)
}

func cmp(op string, a, b float64) bool {
	switch op {
	case "lt":
		return a < b
	case "lte":
		return a <= b
	case "gt":
		return a > b
	case "gte":
		return a >= b
	case "eq":
		return a == b
	}
	return false
}

type timeM struct {
	part string
	loc  *time.Location
	isTS bool // the field is the event timestamp: use ev.Time()
	op   string
	x    float64
	// the offset of loc over the last span of time it held (from
	// Time.ZoneBounds): hours and minutes within it are arithmetic
	zone atomic.Pointer[zoneSpan]
}

// zoneSpan: loc is off seconds east of UTC from start (inclusive) to end
// (exclusive), in Unix seconds.
type zoneSpan struct{ start, end, off int64 }

func (m *timeM) match(v any, ev Event) bool {
	var t time.Time
	if m.isTS && ev != nil {
		t = ev.Time()
	} else {
		switch x := v.(type) {
		case time.Time:
			t = x
		case string:
			var err error
			if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
				return false
			}
		default:
			f, ok := toFloat(v)
			if !ok {
				return false
			}
			t = time.Unix(int64(f), 0).UTC()
		}
	}
	if t.IsZero() {
		return false
	}
	if m.loc != nil && (m.part == "hour" || m.part == "minute") {
		sec := t.Unix()
		z := m.zone.Load()
		if z == nil || sec < z.start || sec >= z.end {
			lt := t.In(m.loc)
			_, off := lt.Zone()
			start, end := lt.ZoneBounds()
			z = &zoneSpan{start: math.MinInt64, end: math.MaxInt64, off: int64(off)}
			if !start.IsZero() {
				z.start = start.Unix()
			}
			if !end.IsZero() {
				z.end = end.Unix()
			}
			m.zone.Store(z)
		}
		d := (sec + z.off) % 86400
		if d < 0 {
			d += 86400
		}
		n := int(d / 3600)
		if m.part == "minute" {
			n = int(d % 3600 / 60)
		}
		return cmp(m.op, float64(n), m.x)
	}
	if m.loc != nil {
		t = t.In(m.loc)
	}
	var n int
	switch m.part {
	case "minute":
		n = t.Minute()
	case "hour":
		n = t.Hour()
	case "day":
		n = t.Day()
	case "week":
		_, n = t.ISOWeek()
	case "month":
		n = int(t.Month())
	case "year":
		n = t.Year()
	}
	return cmp(m.op, float64(n), m.x)
}

type fieldrefM struct {
	neq   bool
	ref   string
	refID FieldID // number of ref (FieldIDOf)
	kind  int     // pExact, pPrefix, pSuffix, pContains
	cased bool
}

func (m *fieldrefM) match(v any, ev Event) bool {
	ff, _ := ev.(FieldFinder)
	return m.matchRef(v, ev, ff)
}

// matchRef is match for an event ev that is the FieldFinder ff (nil: it
// is none).
func (m *fieldrefM) matchRef(v any, ev Event, ff FieldFinder) bool {
	if ev == nil {
		return false
	}
	var rv any
	var ok bool
	if ff != nil {
		rv, ok = ff.FieldByID(m.refID, m.ref)
	} else {
		rv, ok = ev.Field(m.ref)
	}
	if !ok {
		return false
	}
	return m.eqRef(v, rv) != m.neq
}

// eqRef compares the value v with the referenced field's value rv.
func (m *fieldrefM) eqRef(v, rv any) bool {
	if rv == nil {
		return false
	}
	// two strings (the common case): neither is a number, each its text
	s, ok1 := v.(string)
	r, ok2 := rv.(string)
	if !ok1 || !ok2 {
		if isNumber(v) && isNumber(rv) && m.kind == pExact {
			a, _ := toFloat(v)
			b, _ := toFloat(rv)
			return a == b
		}
		s, ok1 = toString(v)
		r, ok2 = toString(rv)
		if !ok1 || !ok2 {
			return false
		}
	}
	if m.kind == pExact && s == r {
		return true
	}
	if !m.cased {
		if !isASCII(s) || !isASCII(r) {
			s, r = strings.ToLower(s), strings.ToLower(r)
		} else {
			// compare ASCII case-insensitively without allocating
			switch m.kind {
			case pExact:
				return strings.EqualFold(s, r)
			case pPrefix:
				return len(s) >= len(r) && strings.EqualFold(s[:len(r)], r)
			case pSuffix:
				return len(s) >= len(r) && strings.EqualFold(s[len(s)-len(r):], r)
			}
			s, r = strings.ToLower(s), strings.ToLower(r)
		}
	}
	switch m.kind {
	case pPrefix:
		return strings.HasPrefix(s, r)
	case pSuffix:
		return strings.HasSuffix(s, r)
	case pContains:
		return strings.Contains(s, r)
	}
	return s == r
}
