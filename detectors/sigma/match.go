package sigma

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
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

// MatchIndexed is Match for an event whose index field (see SetIndexField)
// has the lower-cased string value ix: equality items on that field are
// decided from ix without reading the field again. ix "" means unknown.
func (m *Matcher) MatchIndexed(ev Event, ix string) bool {
	for _, c := range m.conds {
		if c.eval(ev, ix) {
			return true
		}
	}
	return false
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
	eval(ev Event, ix string) bool
}

type andN struct{ l, r cnode }
type orN struct{ l, r cnode }
type notN struct{ x cnode }
type ofN struct {
	n    int // -1: all
	subs []cnode
}

func (n andN) eval(e Event, ix string) bool { return n.l.eval(e, ix) && n.r.eval(e, ix) }
func (n orN) eval(e Event, ix string) bool  { return n.l.eval(e, ix) || n.r.eval(e, ix) }
func (n notN) eval(e Event, ix string) bool { return !n.x.eval(e, ix) }
func (n ofN) eval(e Event, ix string) bool {
	if n.n < 0 {
		for _, s := range n.subs {
			if !s.eval(e, ix) {
				return false
			}
		}
		return true
	}
	c := 0
	for _, s := range n.subs {
		if s.eval(e, ix) {
			c++
			if c >= n.n {
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

func (s *searchM) eval(ev Event, ix string) bool {
	if s.keywords != nil {
		return s.keywords.matchKeywords(ev)
	}
	for _, m := range s.maps {
		ok := true
		for _, it := range m {
			if it.indexed && ix != "" {
				if !slices.Contains(it.exactVals, ix) {
					ok = false
					break
				}
				continue
			}
			if !it.match(ev) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

const (
	modeValues = iota
	modeExists
	modeNull
)

type itemM struct {
	field  string
	mode   int
	exists bool
	all    bool
	neq    bool
	null   bool     // a null value among the values: also true when field absent/null
	groups [][]valM // OR inside a group; groups OR-ed, or AND-ed with |all
	// index hint
	exactVals []string
	plainEq   bool
	indexed   bool // decided from the index value (SetIndexField)
}

type valM interface {
	match(v any, ev Event) bool
}

func (it *itemM) match(ev Event) bool {
	v, ok := ev.Field(it.field)
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
}

func (m *strM) match(v any, _ Event) bool {
	switch x := v.(type) {
	case string:
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
}

func newMultiContains(lits []string) *multiContainsM {
	m := &multiContainsM{}
	for _, l := range lits {
		c := l[0]
		m.byFirst[c] = append(m.byFirst[c], l)
		if 'a' <= c && c <= 'z' {
			m.byFirst[c-32] = append(m.byFirst[c-32], l)
		}
	}
	return m
}

func (m *multiContainsM) match(v any, _ Event) bool {
	s, ok := v.(string)
	if !ok {
		if s, ok = toString(v); !ok {
			return false
		}
	}
	if !isASCII(s) {
		ls := strings.ToLower(s)
		for _, list := range m.byFirst {
			for _, l := range list {
				if strings.Contains(ls, l) {
					return true
				}
			}
		}
		return false
	}
	for i := 0; i < len(s); i++ {
		for _, l := range m.byFirst[s[i]] {
			if len(s)-i >= len(l) && eqFold(s[i:i+len(l)], l, true) {
				return true
			}
		}
	}
	return false
}

type reM struct{ re *regexp.Regexp }

func (m *reM) match(v any, _ Event) bool {
	s, ok := toString(v)
	return ok && m.re.MatchString(s)
}

type cidrM struct{ p netip.Prefix }

func (m *cidrM) match(v any, _ Event) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return m.p.Contains(a.Unmap())
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
}

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
	kind  int // pExact, pPrefix, pSuffix, pContains
	cased bool
}

func (m *fieldrefM) match(v any, ev Event) bool {
	if ev == nil {
		return false
	}
	if _, ok := ev.Field(m.ref); !ok {
		return false
	}
	return m.eq(v, ev) != m.neq
}

func (m *fieldrefM) eq(v any, ev Event) bool {
	if ev == nil {
		return false
	}
	rv, ok := ev.Field(m.ref)
	if !ok || rv == nil {
		return false
	}
	if isNumber(v) && isNumber(rv) && m.kind == pExact {
		a, _ := toFloat(v)
		b, _ := toFloat(rv)
		return a == b
	}
	s, ok1 := toString(v)
	r, ok2 := toString(rv)
	if !ok1 || !ok2 {
		return false
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

// ---- compilation

var knownModifiers = map[string]bool{
	"contains": true, "startswith": true, "endswith": true, "all": true, "re": true,
	"i": true, "m": true, "s": true, "cidr": true, "base64": true, "base64offset": true,
	"utf16le": true, "utf16be": true, "utf16": true, "wide": true, "windash": true,
	"lt": true, "lte": true, "gt": true, "gte": true, "exists": true, "cased": true,
	"neq": true, "fieldref": true, "expand": true,
	"minute": true, "hour": true, "day": true, "week": true, "month": true, "year": true,
}

// Compile compiles a detection rule.
func Compile(r *Rule, o Options) (*Matcher, error) {
	if r.Detection == nil {
		return nil, errAt(r.File, r.Pos, "rule %q has no detection", r.Title)
	}
	if o.TimestampField == "" {
		o.TimestampField = "@timestamp"
	}
	m := &Matcher{Rule: r, searches: map[string]*searchM{}}
	var names []string
	for _, s := range r.Detection.Searches {
		sm, err := compileSearch(r.File, s, &o)
		if err != nil {
			return nil, err
		}
		m.searches[s.Name] = sm
		names = append(names, s.Name)
	}
	for _, c := range r.Detection.Conditions {
		expr, err := ParseCondition(c.Text)
		if err != nil {
			pos := c.Pos
			if ce, ok := err.(*CondError); ok && !strings.Contains(c.Text, "\n") {
				pos.Col += ce.Offset
				err = fmt.Errorf("%s", ce.Msg)
			}
			return nil, &Error{File: r.File, Pos: pos, Msg: fmt.Sprintf("bad condition %q", c.Text), Err: err}
		}
		cn, err := m.build(expr, names)
		if err != nil {
			return nil, &Error{File: r.File, Pos: c.Pos, Msg: fmt.Sprintf("bad condition %q", c.Text), Err: err}
		}
		m.conds = append(m.conds, cn)
	}
	return m, nil
}

func (m *Matcher) build(e CondExpr, names []string) (cnode, error) {
	switch x := e.(type) {
	case CondIdent:
		s, ok := m.searches[x.Name]
		if !ok {
			return nil, fmt.Errorf("unknown search identifier %q (defined: %s)", x.Name, strings.Join(names, ", "))
		}
		return s, nil
	case CondAnd:
		l, err := m.build(x.L, names)
		if err != nil {
			return nil, err
		}
		r, err := m.build(x.R, names)
		if err != nil {
			return nil, err
		}
		return andN{l, r}, nil
	case CondOr:
		l, err := m.build(x.L, names)
		if err != nil {
			return nil, err
		}
		r, err := m.build(x.R, names)
		if err != nil {
			return nil, err
		}
		return orN{l, r}, nil
	case CondNot:
		sub, err := m.build(x.X, names)
		if err != nil {
			return nil, err
		}
		return notN{sub}, nil
	case CondOf:
		sel := resolveOf(x.Pattern, names)
		if len(sel) == 0 {
			return nil, fmt.Errorf("%q selects no search identifier", x.String())
		}
		o := ofN{n: x.N}
		if x.All {
			o.n = -1
		}
		for _, n := range sel {
			o.subs = append(o.subs, m.searches[n])
		}
		return o, nil
	}
	return nil, fmt.Errorf("unsupported condition node %T", e)
}

func compileSearch(file string, s *Search, o *Options) (*searchM, error) {
	sm := &searchM{name: s.Name}
	if s.Keywords != nil {
		it, err := compileItem(file, *s.Keywords, o, true)
		if err != nil {
			return nil, err
		}
		sm.keywords = it
		return sm, nil
	}
	for _, mp := range s.Maps {
		var items []*itemM
		for _, fi := range mp {
			it, err := compileItem(file, fi, o, false)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		}
		sm.maps = append(sm.maps, items)
	}
	return sm, nil
}

type mods struct {
	list                        []string
	all, cased, neq, exists, re bool
	reI, reM, reS               bool
	cidr, fieldref, expand      bool
	cmpOp                       string
	timePart                    string
	transforms                  []string // contains startswith endswith base64 base64offset utf16* wide windash, in order
}

func parseMods(file string, it FieldItem) (mods, error) {
	var md mods
	md.list = it.Modifiers
	for _, mo := range it.Modifiers {
		if !knownModifiers[mo] {
			return md, errAt(file, it.ModPos, "unsupported value modifier %q in %q", mo, it.Field+"|"+strings.Join(it.Modifiers, "|"))
		}
		switch mo {
		case "all":
			md.all = true
		case "cased":
			md.cased = true
		case "neq":
			md.neq = true
		case "exists":
			md.exists = true
		case "re":
			md.re = true
		case "i", "m", "s":
			if !md.re {
				return md, errAt(file, it.ModPos, "modifier %q is a regular expression flag: it must follow |re", mo)
			}
			switch mo {
			case "i":
				md.reI = true
			case "m":
				md.reM = true
			case "s":
				md.reS = true
			}
		case "cidr":
			md.cidr = true
		case "fieldref":
			md.fieldref = true
		case "expand":
			md.expand = true
		case "lt", "lte", "gt", "gte":
			if md.cmpOp != "" {
				return md, errAt(file, it.ModPos, "only one of lt, lte, gt, gte may be used")
			}
			md.cmpOp = mo
		case "minute", "hour", "day", "week", "month", "year":
			if md.timePart != "" {
				return md, errAt(file, it.ModPos, "only one time modifier may be used")
			}
			md.timePart = mo
		default:
			md.transforms = append(md.transforms, mo)
		}
	}
	exclusive := 0
	for _, b := range []bool{md.re, md.cidr, md.exists, md.fieldref, md.cmpOp != "" && md.timePart == ""} {
		if b {
			exclusive++
		}
	}
	if exclusive > 1 {
		return md, errAt(file, it.ModPos, "modifiers %q cannot be combined", strings.Join(it.Modifiers, "|"))
	}
	if (md.re || md.cidr || md.exists || md.cmpOp != "" || md.timePart != "") && len(md.transforms) > 0 {
		return md, errAt(file, it.ModPos, "modifiers %q cannot be combined: %s is a type modifier", strings.Join(it.Modifiers, "|"), firstNonEmpty(md.cmpOp, md.timePart, map[bool]string{true: "re"}[md.re], map[bool]string{true: "cidr"}[md.cidr], map[bool]string{true: "exists"}[md.exists]))
	}
	if md.fieldref {
		for _, t := range md.transforms {
			if t != "contains" && t != "startswith" && t != "endswith" {
				return md, errAt(file, it.ModPos, "fieldref can only be combined with contains, startswith, endswith, cased, neq, all")
			}
		}
	}
	return md, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func compileItem(file string, it FieldItem, o *Options, keyword bool) (*itemM, error) {
	md, err := parseMods(file, it)
	if err != nil {
		return nil, err
	}
	im := &itemM{field: o.MapField(it.Field), all: md.all, neq: md.neq}
	if md.fieldref && md.neq {
		// a missing reference is no match either way: negate inside the matcher;
		// "differs from every referenced field"
		im.neq, im.all = false, true
	}
	if keyword && it.Field != "" {
		return nil, errAt(file, it.Pos, "keyword search cannot name a field")
	}
	if md.all && len(it.Values) < 2 && !md.expand {
		return nil, errAt(file, it.Pos, "|all needs a list of at least two values (the spec forbids it on a single value)")
	}
	if md.exists {
		if len(it.Values) != 1 || it.Values[0].Kind != KindBool {
			return nil, errAt(file, it.Pos, "|exists takes true or false")
		}
		im.mode, im.exists = modeExists, it.Values[0].Bool
		return im, nil
	}
	// null values
	var values []*Node
	for _, v := range it.Values {
		if v.Kind == KindNull {
			im.null = true
			continue
		}
		values = append(values, v)
	}
	if im.null && len(values) == 0 {
		if len(it.Modifiers) > 0 && !(len(it.Modifiers) == 1 && md.neq) {
			return nil, errAt(file, it.Pos, "null cannot take modifiers other than neq")
		}
		im.mode = modeNull
		return im, nil
	}
	if im.null && md.neq {
		return nil, errAt(file, it.Pos, "null cannot be mixed with other values under |neq")
	}
	for _, v := range values {
		raws := []string{v.Str}
		if md.expand {
			if v.Kind != KindString {
				return nil, errAt(file, v.Pos, "|expand needs a string with %%placeholder%%")
			}
			raws, err = expandPlaceholders(v.Str, o.Placeholders)
			if err != nil {
				return nil, &Error{File: file, Pos: v.Pos, Msg: "cannot expand placeholder", Err: err}
			}
		}
		for _, raw := range raws {
			g, err := compileValue(file, it, md, v, raw, o, keyword)
			if err != nil {
				return nil, err
			}
			im.groups = append(im.groups, g)
		}
	}
	// several case-insensitive contains values (OR): one pass over the value
	if !md.all && !keyword && len(im.groups) >= 2 {
		var lits []string
		for _, g := range im.groups {
			sm, ok := g[0].(*strM)
			if len(g) != 1 || !ok || sm.p.kind != pContains || sm.p.cased || sm.p.lit == "" || !isASCII(sm.p.lit) {
				lits = nil
				break
			}
			lits = append(lits, sm.p.lit)
		}
		if lits != nil {
			im.groups = [][]valM{{newMultiContains(lits)}}
		}
	}
	// index hint: plain equality values on this field
	if !md.neq && !md.cased && !keyword && len(md.transforms) == 0 && !md.re && !md.cidr && !md.fieldref && md.cmpOp == "" && md.timePart == "" && !md.all && !im.null {
		im.plainEq = true
		for _, g := range im.groups {
			for _, vm := range g {
				s, ok := vm.(*strM)
				if !ok || s.p.kind != pExact {
					im.plainEq = false
					continue
				}
				im.exactVals = append(im.exactVals, s.p.lit)
			}
		}
	}
	return im, nil
}

// expandPlaceholders replaces %name% with each configured value (cross product).
// \% is a plain percent sign.
func expandPlaceholders(s string, ph map[string][]string) ([]string, error) {
	out := []string{""}
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\\' && i+1 < len(s) && s[i+1] == '%' {
			for k := range out {
				out[k] += "%"
			}
			i += 2
			continue
		}
		if c == '%' {
			j := strings.IndexByte(s[i+1:], '%')
			if j < 0 {
				return nil, fmt.Errorf("unterminated placeholder in %q", s)
			}
			name := s[i+1 : i+1+j]
			vals, ok := ph[name]
			if !ok {
				// placeholder names are case-insensitive in practice
				for k, v := range ph {
					if strings.EqualFold(k, name) {
						vals, ok = v, true
						break
					}
				}
			}
			if !ok || len(vals) == 0 {
				return nil, fmt.Errorf("placeholder %%%s%% has no values: define it in the engine configuration (Placeholders)", name)
			}
			var next []string
			for _, p := range out {
				for _, v := range vals {
					next = append(next, p+v)
				}
			}
			if len(next) > 4096 {
				return nil, fmt.Errorf("placeholder expansion of %q yields too many values", s)
			}
			out = next
			i += j + 2
			continue
		}
		for k := range out {
			out[k] += string(c)
		}
		i++
	}
	return out, nil
}

func compileValue(file string, it FieldItem, md mods, v *Node, raw string, o *Options, keyword bool) ([]valM, error) {
	switch {
	case md.re:
		if v.Kind != KindString {
			return nil, errAt(file, v.Pos, "|re needs a string")
		}
		flags := ""
		if md.reI {
			flags += "i"
		}
		if md.reM {
			flags += "m"
		}
		if md.reS {
			flags += "s"
		}
		expr := raw
		if flags != "" {
			expr = "(?" + flags + ")" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, &Error{File: file, Pos: v.Pos, Msg: "unsupported regular expression (Go RE2 syntax: no lookaround or backreferences)", Err: err}
		}
		return []valM{&reM{re}}, nil
	case md.cidr:
		p, err := netip.ParsePrefix(strings.TrimSpace(raw))
		if err != nil {
			a, err2 := netip.ParseAddr(strings.TrimSpace(raw))
			if err2 != nil {
				return nil, &Error{File: file, Pos: v.Pos, Msg: "bad CIDR network", Err: err}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		return []valM{&cidrM{p.Masked()}}, nil
	case md.timePart != "":
		f, ok := nodeNumber(v, raw)
		if !ok {
			return nil, errAt(file, v.Pos, "|%s needs a number", md.timePart)
		}
		op := md.cmpOp
		if op == "" {
			op = "eq"
		}
		return []valM{&timeM{part: md.timePart, loc: o.Location, isTS: o.MapField(it.Field) == o.TimestampField, op: op, x: f}}, nil
	case md.cmpOp != "":
		f, ok := nodeNumber(v, raw)
		if !ok {
			return nil, errAt(file, v.Pos, "|%s needs a number, got %q", md.cmpOp, raw)
		}
		return []valM{&cmpM{op: md.cmpOp, x: f}}, nil
	case md.fieldref:
		kind := pExact
		for _, t := range md.transforms {
			switch t {
			case "contains":
				kind = pContains
			case "startswith":
				kind = pPrefix
			case "endswith":
				kind = pSuffix
			}
		}
		return []valM{&fieldrefM{neq: md.neq, ref: o.MapField(raw), kind: kind, cased: md.cased}}, nil
	}
	if v.Kind == KindBool && len(md.transforms) == 0 {
		return []valM{&strM{p: compilePattern(literal(raw), false)}}, nil
	}
	// string pipeline
	var base sstring
	if v.Kind == KindString {
		base = parseSigmaString(raw)
	} else {
		base = literal(raw)
	}
	vals := []sstring{base}
	cased := md.cased
	if keyword {
		vals[0] = vals[0].wrap(true, true)
	}
	for _, t := range md.transforms {
		var next []sstring
		for _, s := range vals {
			switch t {
			case "contains":
				next = append(next, s.wrap(true, true))
			case "startswith":
				next = append(next, s.wrap(false, true))
			case "endswith":
				next = append(next, s.wrap(true, false))
			case "base64", "base64offset":
				if s.hasWildcards() {
					return nil, errAt(file, v.Pos, "|%s cannot encode a value with wildcards; put contains/startswith/endswith after it", t)
				}
				cased = true
				if t == "base64" {
					next = append(next, literal(base64.StdEncoding.EncodeToString([]byte(s.plain()))))
				} else {
					for _, e := range base64Offsets(s.plain()) {
						next = append(next, literal(e))
					}
				}
			case "utf16le", "wide":
				next = append(next, s.mapLiterals(encUTF16LE))
			case "utf16be":
				next = append(next, s.mapLiterals(encUTF16BE))
			case "utf16":
				e := s.mapLiterals(encUTF16LE)
				e = append(sstring{{kind: tLit, s: "\xff\xfe"}}, e...)
				next = append(next, e)
			case "windash":
				w, err := windash(s)
				if err != nil {
					return nil, &Error{File: file, Pos: v.Pos, Msg: "|windash", Err: err}
				}
				next = append(next, w...)
			}
		}
		vals = next
	}
	out := make([]valM, 0, len(vals))
	for _, s := range vals {
		sm := &strM{p: compilePattern(s, cased)}
		if v.Kind == KindInt || v.Kind == KindFloat {
			sm.num, sm.hasNum = v.Float, true
		} else if !s.hasWildcards() && len(md.transforms) == 0 {
			if f, err := strconv.ParseFloat(raw, 64); err == nil && raw != "" && isDecimal(raw) {
				sm.num, sm.hasNum = f, true
			}
		}
		if sm.p.kind == pGlob {
			sm.p.segs = splitSegs(sm.p.toks)
		}
		out = append(out, sm)
	}
	return out, nil
}

func isDecimal(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func nodeNumber(v *Node, raw string) (float64, bool) {
	if v.Kind == KindInt || v.Kind == KindFloat {
		return v.Float, true
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	return f, err == nil
}

func encUTF16LE(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	return string(b)
}

func encUTF16BE(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	return string(b)
}

// base64Offsets returns the three encodings of s at byte offsets 0, 1, 2 inside a
// larger base64 text, trimmed to the characters that do not depend on the
// surrounding bytes (as pySigma does).
func base64Offsets(s string) []string {
	start := []int{0, 2, 3}
	endTrim := []int{0, 3, 2}
	var out []string
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString(append([]byte(strings.Repeat(" ", i)), s...))
		end := len(enc)
		if t := endTrim[(len(s)+i)%3]; t > 0 {
			end -= t
		}
		if start[i] >= end {
			continue
		}
		out = append(out, enc[start[i]:end])
	}
	return out
}

var dashes = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

const maxWindash = 1024

// windash returns every permutation of s where each dash-like character is
// replaced by each of -, /, en dash, em dash, horizontal bar.
func windash(s sstring) ([]sstring, error) {
	out := []sstring{nil}
	for _, t := range s {
		if t.kind != tLit {
			for i := range out {
				out[i] = append(out[i], t)
			}
			continue
		}
		// split the literal into pieces around dash characters
		var pieces []string // even: text, odd: dash slot
		cur := strings.Builder{}
		for _, r := range t.s {
			rs := string(r)
			isDash := false
			for _, d := range dashes {
				if rs == d {
					isDash = true
				}
			}
			if isDash {
				pieces = append(pieces, cur.String(), "")
				cur.Reset()
				continue
			}
			cur.WriteRune(r)
		}
		pieces = append(pieces, cur.String())
		lits := []string{""}
		for i, p := range pieces {
			if i%2 == 0 {
				for k := range lits {
					lits[k] += p
				}
				continue
			}
			var next []string
			for _, l := range lits {
				for _, d := range dashes {
					next = append(next, l+d)
				}
			}
			lits = next
			if len(lits)*len(out) > maxWindash {
				return nil, fmt.Errorf("too many dash permutations (more than %d)", maxWindash)
			}
		}
		var next []sstring
		for _, o := range out {
			for _, l := range lits {
				c := append(append(sstring{}, o...), tok{kind: tLit, s: l})
				next = append(next, c)
			}
		}
		out = next
	}
	return out, nil
}

// ---- indexing

// RequiredValues returns the set of values one event field must equal (case
// insensitively, lower-cased) for the rule to possibly match, if the detection
// implies such a set. The engine uses it to index rules by event.action.
func (m *Matcher) RequiredValues(field string) ([]string, bool) {
	var acc map[string]bool
	for _, c := range m.conds {
		s, ok := requiredSet(c, field)
		if !ok {
			return nil, false
		}
		if acc == nil {
			acc = map[string]bool{}
		}
		for k := range s {
			acc[k] = true
		}
	}
	out := make([]string, 0, len(acc))
	for k := range acc {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, acc != nil
}

func requiredSet(n cnode, field string) (map[string]bool, bool) {
	switch x := n.(type) {
	case *searchM:
		if x.keywords != nil {
			return nil, false
		}
		acc := map[string]bool{}
		for _, mp := range x.maps {
			found := false
			for _, it := range mp {
				if it.field == field && it.plainEq && it.mode == modeValues && len(it.exactVals) > 0 {
					for _, v := range it.exactVals {
						acc[v] = true
					}
					found = true
					break
				}
			}
			if !found {
				return nil, false
			}
		}
		return acc, true
	case andN:
		l, lok := requiredSet(x.l, field)
		r, rok := requiredSet(x.r, field)
		switch {
		case lok && rok:
			out := map[string]bool{}
			for k := range l {
				if r[k] {
					out[k] = true
				}
			}
			return out, true
		case lok:
			return l, true
		case rok:
			return r, true
		}
		return nil, false
	case orN:
		l, lok := requiredSet(x.l, field)
		r, rok := requiredSet(x.r, field)
		if !lok || !rok {
			return nil, false
		}
		for k := range r {
			l[k] = true
		}
		return l, true
	case ofN:
		if x.n < 0 { // all of: like and
			var acc map[string]bool
			for _, s := range x.subs {
				if set, ok := requiredSet(s, field); ok {
					if acc == nil {
						acc = set
					} else {
						for k := range acc {
							if !set[k] {
								delete(acc, k)
							}
						}
					}
				}
			}
			return acc, acc != nil
		}
		acc := map[string]bool{}
		for _, s := range x.subs {
			set, ok := requiredSet(s, field)
			if !ok {
				return nil, false
			}
			for k := range set {
				acc[k] = true
			}
		}
		return acc, true
	}
	return nil, false
}
