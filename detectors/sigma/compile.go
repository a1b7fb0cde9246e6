package sigma

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

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
		// the items of a map are ANDed and have no side effects: the cheap
		// ones first, so that a regular expression runs only when the rest
		// of the map holds
		slices.SortStableFunc(items, func(a, b *itemM) int { return a.cost() - b.cost() })
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
	im.fid, im.field = FieldIDOf(im.field)
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
	// one matcher: its answer (inverted by neq) is the item's, under |all
	// too when it is not negated (fieldref|neq, negated in its matcher)
	if len(im.groups) == 1 && len(im.groups[0]) == 1 && (!im.all || !im.neq) {
		im.one = im.groups[0][0]
		im.ref, _ = im.one.(*fieldrefM)
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
				im.exactVals = append(im.exactVals, o.InternName(s.p.lit))
			}
		}
	}
	// several regular expressions (OR) that the automaton covers: one
	// alternation, one pass
	if !md.all && !keyword && len(im.groups) >= 2 {
		var alts []string
		for _, g := range im.groups {
			rm, ok := g[0].(*reM)
			if len(g) != 1 || !ok || rm.dfa == nil {
				alts = nil
				break
			}
			alts = append(alts, "(?:"+rm.re.String()+")")
		}
		if alts != nil {
			if re, err := regexp.Compile(strings.Join(alts, "|")); err == nil {
				im.groups = [][]valM{{newReM(re)}}
			}
		}
	}
	// several case-insensitive equality, prefix or suffix values of one
	// kind (OR): one walk of a trie of them (after the index hint, which
	// reads the equality values)
	if !md.all && !keyword && len(im.groups) >= 2 {
		kind := -1
		var lits []string
		for _, g := range im.groups {
			sm, ok := g[0].(*strM)
			if len(g) != 1 || !ok || sm.hasNum || sm.p.cased || sm.p.lit == "" || !isASCII(sm.p.lit) ||
				(sm.p.kind != pExact && sm.p.kind != pPrefix && sm.p.kind != pSuffix) || (kind >= 0 && sm.p.kind != kind) {
				lits = nil
				break
			}
			kind = sm.p.kind
			lits = append(lits, sm.p.lit)
		}
		if lits != nil {
			im.groups = [][]valM{{newMultiAnchored(kind, lits)}}
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
		return []valM{newReM(re)}, nil
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
		fr := &fieldrefM{neq: md.neq, ref: o.MapField(raw), kind: kind, cased: md.cased}
		fr.refID, fr.ref = FieldIDOf(fr.ref)
		return []valM{fr}, nil
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

// cost ranks an item by the work of deciding it: plain equalities (often
// decided from the index value), presence, comparisons and exact strings,
// substrings and wildcards, then regular expressions.
func (it *itemM) cost() int {
	if it.mode != modeValues {
		return 1
	}
	if it.plainEq {
		return 0
	}
	c := 2
	for _, g := range it.groups {
		for _, vm := range g {
			k := 3
			switch x := vm.(type) {
			case *strM:
				if x.p.kind == pExact || x.p.kind == pAny {
					k = 2
				}
			case *cmpM:
				k = 2
			case *reM:
				k = 5
			case *timeM, *fieldrefM:
				k = 4
			}
			c = max(c, k)
		}
	}
	return c
}
