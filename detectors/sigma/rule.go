package sigma

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// Logsource names the log a rule applies to.
type Logsource struct {
	Category, Product, Service, Definition string
}

// Rule is one parsed Sigma document: a detection rule or a correlation rule.
type Rule struct {
	File        string
	Pos         Pos // start of the document
	Title       string
	ID          string
	Name        string
	Status      string
	Description string
	Author      string
	Level       string
	Tags        []string
	References  []string
	Related     []Related // rules this one derives from, replaces, is similar to
	Logsource   Logsource
	Detection   *Detection   // nil for correlation rules
	Correlation *Correlation // nil for detection rules
	Root        *Node        // the whole document, for linting
}

// Related is one entry of a rule's related list: another rule's id and how
// this rule relates to it (Sigma specification, field "related").
type Related struct {
	ID   string
	Type string // one of RelatedTypes
	Pos  Pos
}

// RelatedTypes are the relation types the Sigma specification allows.
var RelatedTypes = []string{"derived", "obsolete", "merged", "renamed", "similar"}

// DerivedFrom returns the ids of the rules r declares itself derived from.
func (r *Rule) DerivedFrom() []string {
	var out []string
	for _, rel := range r.Related {
		if rel.Type == "derived" {
			out = append(out, rel.ID)
		}
	}
	return out
}

// IsCorrelation reports whether r is a correlation rule.
func (r *Rule) IsCorrelation() bool { return r.Correlation != nil }

// Ref returns a printable reference to the rule (id, else name, else title).
func (r *Rule) Ref() string {
	switch {
	case r.ID != "":
		return r.ID
	case r.Name != "":
		return r.Name
	}
	return r.Title
}

// Detection is the detection section of a rule, not yet compiled.
type Detection struct {
	Searches   []*Search // in file order
	Conditions []Condition
	Pos        Pos
}

// Condition is one condition expression with its position.
type Condition struct {
	Text string
	Pos  Pos
}

// Search is one search identifier: either keywords or a list of field maps (OR-ed).
type Search struct {
	Name     string
	Pos      Pos
	Keywords *FieldItem    // keyword search (values matched against the whole event); nil otherwise
	Maps     [][]FieldItem // each map's items are AND-ed; the maps are OR-ed
}

// FieldItem is one `field|mod|mod: values` entry.
type FieldItem struct {
	Field     string // empty for keywords
	Modifiers []string
	ModPos    Pos
	Values    []*Node
	IsList    bool
	Pos       Pos
}

// Correlation is the correlation section of a correlation rule.
type Correlation struct {
	Type     string
	Rules    []string
	RulesPos []Pos
	GroupBy  []string
	Timespan time.Duration
	Cond     CorrCondition
	HasCond  bool
	Aliases  map[string]map[string]string // alias -> rule name -> field
	Generate bool
	Pos      Pos
}

// CorrCondition is the threshold of a correlation: a conjunction of comparisons.
type CorrCondition struct {
	Ops   []CorrOp
	Field []string // value_* types: the field(s) aggregated
}

// CorrOp is one comparison, e.g. gte 10.
type CorrOp struct {
	Op    string // gt gte lt lte eq neq
	Value float64
}

// Holds reports whether v satisfies every comparison.
func (c CorrCondition) Holds(v float64) bool {
	for _, o := range c.Ops {
		var ok bool
		switch o.Op {
		case "gt":
			ok = v > o.Value
		case "gte":
			ok = v >= o.Value
		case "lt":
			ok = v < o.Value
		case "lte":
			ok = v <= o.Value
		case "eq":
			ok = v == o.Value
		case "neq":
			ok = v != o.Value
		}
		if !ok {
			return false
		}
	}
	return true
}

// LowerBoundOnly reports whether the condition only has gt/gte comparisons, so that
// it can be decided as soon as the aggregate grows past it.
func (c CorrCondition) LowerBoundOnly() bool {
	for _, o := range c.Ops {
		if o.Op != "gt" && o.Op != "gte" {
			return false
		}
	}
	return true
}

func (c CorrCondition) String() string {
	var parts []string
	for _, o := range c.Ops {
		parts = append(parts, o.Op+" "+strconv.FormatFloat(o.Value, 'f', -1, 64))
	}
	return strings.Join(parts, " and ")
}

// CorrelationTypes lists the supported correlation types.
var CorrelationTypes = []string{"event_count", "value_count", "temporal", "temporal_ordered", "value_sum", "value_avg", "value_percentile"}

// ParseFile parses every document of a Sigma YAML file.
// It returns the rules it could parse and one error per refused document.
func ParseFile(file string, data []byte) ([]*Rule, []error) {
	return ParseFileLimits(file, data, yamlsafe.Limits{})
}

// ParseFileLimits is ParseFile within the YAML limits lim.
func ParseFileLimits(file string, data []byte, lim yamlsafe.Limits) ([]*Rule, []error) {
	docs, err := ParseYAMLLimits(file, data, lim)
	if err != nil {
		return nil, []error{err}
	}
	var rules []*Rule
	var errs []error
	for _, d := range docs {
		r, err := ParseDocument(file, d.Root)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, r)
	}
	return rules, errs
}

func str(file string, n *Node, what string) (string, error) {
	if n == nil || n.Kind == KindNull {
		return "", nil
	}
	if n.Kind == KindMap || n.Kind == KindSeq {
		return "", errAt(file, n.Pos, "%s must be a string, got a %s", what, n.Kind)
	}
	return n.Str, nil
}

func strList(file string, n *Node, what string) ([]string, error) {
	if n == nil || n.Kind == KindNull {
		return nil, nil
	}
	if n.Kind != KindSeq {
		if n.Kind == KindMap {
			return nil, errAt(file, n.Pos, "%s must be a list of strings, got a map", what)
		}
		return []string{n.Str}, nil
	}
	out := make([]string, 0, len(n.Seq))
	for _, e := range n.Seq {
		if e.Kind == KindMap || e.Kind == KindSeq {
			return nil, errAt(file, e.Pos, "%s must be a list of strings, got a %s item", what, e.Kind)
		}
		out = append(out, e.Str)
	}
	return out, nil
}

// ParseDocument parses one YAML document into a Rule.
func ParseDocument(file string, root *Node) (*Rule, error) {
	if root.Kind != KindMap {
		return nil, errAt(file, root.Pos, "a Sigma rule must be a YAML map, got a %s", root.Kind)
	}
	r := &Rule{File: file, Pos: root.Pos, Root: root}
	if a := root.Get("action"); a != nil {
		return nil, errAt(file, a.Pos, "unsupported: rule collections (action: %s) are Sigma v1; split them into standalone rules", a.Str)
	}
	var err error
	fields := []struct {
		key string
		dst *string
	}{{"title", &r.Title}, {"id", &r.ID}, {"name", &r.Name}, {"status", &r.Status},
		{"description", &r.Description}, {"author", &r.Author}, {"level", &r.Level}}
	for _, f := range fields {
		if *f.dst, err = str(file, root.Get(f.key), f.key); err != nil {
			return nil, err
		}
	}
	if r.Tags, err = strList(file, root.Get("tags"), "tags"); err != nil {
		return nil, err
	}
	if r.References, err = strList(file, root.Get("references"), "references"); err != nil {
		return nil, err
	}
	if r.Related, err = parseRelated(file, root.Get("related")); err != nil {
		return nil, err
	}
	if r.Title == "" {
		return nil, errAt(file, root.Pos, "missing title: every Sigma rule needs a title")
	}
	det, corr := root.Get("detection"), root.Get("correlation")
	switch {
	case det != nil && corr != nil:
		return nil, errAt(file, corr.Pos, "a rule has either detection or correlation, not both")
	case corr != nil:
		c, err := parseCorrelation(file, corr)
		if err != nil {
			return nil, err
		}
		if g := root.Get("generate"); g != nil {
			if g.Kind != KindBool {
				return nil, errAt(file, g.Pos, "generate must be true or false")
			}
			c.Generate = g.Bool
		}
		r.Correlation = c
	case det != nil:
		ls := root.Get("logsource")
		if ls == nil {
			return nil, errAt(file, root.Pos, "missing logsource: a detection rule needs logsource (product/category/service)")
		}
		if ls.Kind != KindMap {
			return nil, errAt(file, ls.Pos, "logsource must be a map")
		}
		for _, f := range []struct {
			k string
			d *string
		}{{"category", &r.Logsource.Category}, {"product", &r.Logsource.Product}, {"service", &r.Logsource.Service}, {"definition", &r.Logsource.Definition}} {
			if *f.d, err = str(file, ls.Get(f.k), "logsource."+f.k); err != nil {
				return nil, err
			}
		}
		d, err := parseDetection(file, det)
		if err != nil {
			return nil, err
		}
		r.Detection = d
	default:
		return nil, errAt(file, root.Pos, "missing detection: a Sigma rule needs a detection or a correlation section")
	}
	return r, nil
}

// parseRelated reads the related list: a list of maps {id: UUID, type: one of
// RelatedTypes}.
func parseRelated(file string, n *Node) ([]Related, error) {
	if n == nil || n.Kind == KindNull {
		return nil, nil
	}
	if n.Kind != KindSeq {
		return nil, errAt(file, n.Pos, "related must be a list of {id, type} maps, got a %s", n.Kind)
	}
	out := make([]Related, 0, len(n.Seq))
	for i, e := range n.Seq {
		if e.Kind != KindMap {
			return nil, errAt(file, e.Pos, "related[%d] must be a map with id and type, got a %s", i, e.Kind)
		}
		for _, kv := range e.Map {
			if kv.Key != "id" && kv.Key != "type" {
				return nil, errAt(file, kv.KeyPos, "related[%d]: unknown key %q (allowed: id, type)", i, kv.Key)
			}
		}
		idN, tyN := e.Get("id"), e.Get("type")
		if idN == nil || idN.Kind != KindString || idN.Str == "" {
			return nil, errAt(file, e.Pos, "related[%d]: id is missing: give the related rule's UUID", i)
		}
		if !isUUID(idN.Str) {
			return nil, errAt(file, idN.Pos, "related[%d]: id %q is not a UUID (Sigma rule ids are UUIDs like 0e99c94e-97dc-42f7-bd5d-4c70b8854360)", i, idN.Str)
		}
		if tyN == nil || tyN.Kind != KindString || tyN.Str == "" {
			return nil, errAt(file, e.Pos, "related[%d]: type is missing: one of %s", i, strings.Join(RelatedTypes, ", "))
		}
		known := false
		for _, t := range RelatedTypes {
			known = known || t == tyN.Str
		}
		if !known {
			return nil, errAt(file, tyN.Pos, "related[%d]: unknown type %q: one of %s", i, tyN.Str, strings.Join(RelatedTypes, ", "))
		}
		out = append(out, Related{ID: idN.Str, Type: tyN.Str, Pos: e.Pos})
	}
	return out, nil
}

// isUUID reports whether s has the 8-4-4-4-12 hexadecimal form of a UUID.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func parseDetection(file string, n *Node) (*Detection, error) {
	if n.Kind != KindMap {
		return nil, errAt(file, n.Pos, "detection must be a map of search identifiers and a condition")
	}
	d := &Detection{Pos: n.Pos}
	for _, kv := range n.Map {
		switch kv.Key {
		case "condition":
			switch kv.Value.Kind {
			case KindString:
				d.Conditions = append(d.Conditions, Condition{Text: kv.Value.Str, Pos: kv.Value.Pos})
			case KindSeq:
				for _, c := range kv.Value.Seq {
					if c.Kind != KindString {
						return nil, errAt(file, c.Pos, "condition list items must be strings")
					}
					d.Conditions = append(d.Conditions, Condition{Text: c.Str, Pos: c.Pos})
				}
			default:
				return nil, errAt(file, kv.Value.Pos, "condition must be a string or a list of strings")
			}
		case "timeframe":
			return nil, errAt(file, kv.KeyPos, "unsupported: detection.timeframe (Sigma v1 aggregation); use a correlation rule with timespan")
		default:
			s, err := parseSearch(file, kv.Key, kv.KeyPos, kv.Value)
			if err != nil {
				return nil, err
			}
			d.Searches = append(d.Searches, s)
		}
	}
	if len(d.Conditions) == 0 {
		return nil, errAt(file, n.Pos, "detection has no condition")
	}
	if len(d.Searches) == 0 {
		return nil, errAt(file, n.Pos, "detection has no search identifier")
	}
	return d, nil
}

func splitKey(key string) (string, []string) {
	parts := strings.Split(key, "|")
	return parts[0], parts[1:]
}

func parseSearch(file, name string, pos Pos, n *Node) (*Search, error) {
	s := &Search{Name: name, Pos: pos}
	switch n.Kind {
	case KindMap:
		// a map whose only key is "|all" (or "|mods") is a keyword search
		if len(n.Map) == 1 && strings.HasPrefix(n.Map[0].Key, "|") {
			it, err := parseItem(file, n.Map[0])
			if err != nil {
				return nil, err
			}
			s.Keywords = &it
			return s, nil
		}
		items, err := parseMap(file, n)
		if err != nil {
			return nil, err
		}
		s.Maps = [][]FieldItem{items}
	case KindSeq:
		if len(n.Seq) == 0 {
			return nil, errAt(file, n.Pos, "search identifier %q is an empty list", name)
		}
		allMaps, anyMap := true, false
		for _, e := range n.Seq {
			if e.Kind == KindMap {
				anyMap = true
			} else {
				allMaps = false
			}
		}
		switch {
		case allMaps:
			for _, e := range n.Seq {
				items, err := parseMap(file, e)
				if err != nil {
					return nil, err
				}
				s.Maps = append(s.Maps, items)
			}
		case !anyMap:
			for _, e := range n.Seq {
				if e.Kind == KindSeq {
					return nil, errAt(file, e.Pos, "keyword lists cannot nest lists")
				}
			}
			s.Keywords = &FieldItem{Values: n.Seq, IsList: true, Pos: n.Pos}
		default:
			return nil, errAt(file, n.Pos, "search identifier %q mixes maps and plain values in one list", name)
		}
	case KindString, KindInt, KindFloat:
		s.Keywords = &FieldItem{Values: []*Node{n}, Pos: n.Pos}
	case KindNull:
		return nil, errAt(file, pos, "search identifier %q is empty", name)
	default:
		return nil, errAt(file, n.Pos, "search identifier %q must be a map or a list, got a %s", name, n.Kind)
	}
	return s, nil
}

func parseMap(file string, n *Node) ([]FieldItem, error) {
	if len(n.Map) == 0 {
		return nil, errAt(file, n.Pos, "empty map in a search identifier")
	}
	items := make([]FieldItem, 0, len(n.Map))
	for _, kv := range n.Map {
		it, err := parseItem(file, kv)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func parseItem(file string, kv KV) (FieldItem, error) {
	field, mods := splitKey(kv.Key)
	it := FieldItem{Field: field, Modifiers: mods, Pos: kv.KeyPos, ModPos: kv.KeyPos}
	v := kv.Value
	switch v.Kind {
	case KindSeq:
		it.IsList = true
		for _, e := range v.Seq {
			if e.Kind == KindMap || e.Kind == KindSeq {
				return it, errAt(file, e.Pos, "value of %q must be scalars, got a %s", kv.Key, e.Kind)
			}
		}
		it.Values = v.Seq
		if len(v.Seq) == 0 {
			return it, errAt(file, v.Pos, "value list of %q is empty", kv.Key)
		}
	case KindMap:
		return it, errAt(file, v.Pos, "value of %q must be a scalar or a list, got a map", kv.Key)
	default:
		it.Values = []*Node{v}
	}
	return it, nil
}

func parseCorrelation(file string, n *Node) (*Correlation, error) {
	if n.Kind != KindMap {
		return nil, errAt(file, n.Pos, "correlation must be a map")
	}
	c := &Correlation{Pos: n.Pos}
	t := n.Get("type")
	if t == nil {
		return nil, errAt(file, n.Pos, "correlation.type is missing: one of %s", strings.Join(CorrelationTypes, ", "))
	}
	c.Type = t.Str
	known := false
	for _, k := range CorrelationTypes {
		known = known || k == c.Type
	}
	if !known {
		return nil, errAt(file, t.Pos, "unknown correlation type %q: want one of %s", c.Type, strings.Join(CorrelationTypes, ", "))
	}
	rules := n.Get("rules")
	if rules == nil {
		return nil, errAt(file, n.Pos, "correlation.rules is missing: list the ids or names of the rules correlated")
	}
	var err error
	if c.Rules, err = strList(file, rules, "correlation.rules"); err != nil {
		return nil, err
	}
	if rules.Kind == KindSeq {
		for _, e := range rules.Seq {
			c.RulesPos = append(c.RulesPos, e.Pos)
		}
	} else {
		c.RulesPos = []Pos{rules.Pos}
	}
	if len(c.Rules) == 0 {
		return nil, errAt(file, rules.Pos, "correlation.rules is empty")
	}
	if c.GroupBy, err = strList(file, n.Get("group-by"), "correlation.group-by"); err != nil {
		return nil, err
	}
	ts := n.Get("timespan")
	if ts == nil {
		return nil, errAt(file, n.Pos, "correlation.timespan is missing, e.g. timespan: 5m")
	}
	if c.Timespan, err = ParseTimespan(ts.Str); err != nil {
		return nil, &Error{File: file, Pos: ts.Pos, Msg: "bad correlation.timespan", Err: err}
	}
	if al := n.Get("aliases"); al != nil {
		if al.Kind != KindMap {
			return nil, errAt(file, al.Pos, "correlation.aliases must be a map alias -> rule name -> field")
		}
		c.Aliases = map[string]map[string]string{}
		for _, kv := range al.Map {
			if kv.Value.Kind != KindMap {
				return nil, errAt(file, kv.Value.Pos, "alias %q must map rule names to field names", kv.Key)
			}
			m := map[string]string{}
			for _, rv := range kv.Value.Map {
				m[rv.Key] = rv.Value.Str
			}
			c.Aliases[kv.Key] = m
		}
	}
	if cond := n.Get("condition"); cond != nil {
		if cond.Kind != KindMap {
			return nil, errAt(file, cond.Pos, "correlation.condition must be a map such as {gte: 10}")
		}
		c.HasCond = true
		for _, kv := range cond.Map {
			switch kv.Key {
			case "field":
				if c.Cond.Field, err = strList(file, kv.Value, "condition.field"); err != nil {
					return nil, err
				}
			case "gt", "gte", "lt", "lte", "eq", "neq":
				if kv.Value.Kind != KindInt && kv.Value.Kind != KindFloat {
					return nil, errAt(file, kv.Value.Pos, "condition.%s must be a number, got %s", kv.Key, kv.Value.Kind)
				}
				c.Cond.Ops = append(c.Cond.Ops, CorrOp{Op: kv.Key, Value: kv.Value.Float})
			default:
				return nil, errAt(file, kv.KeyPos, "unknown correlation condition %q: want gt, gte, lt, lte, eq, neq or field", kv.Key)
			}
		}
	}
	needsCond := c.Type != "temporal" && c.Type != "temporal_ordered"
	if needsCond && len(c.Cond.Ops) == 0 {
		return nil, errAt(file, n.Pos, "correlation %s needs a condition such as {gte: 10}", c.Type)
	}
	if strings.HasPrefix(c.Type, "value_") && len(c.Cond.Field) == 0 {
		return nil, errAt(file, n.Pos, "correlation %s needs condition.field: the field aggregated", c.Type)
	}
	if c.Type == "temporal_ordered" && len(c.Rules) < 2 {
		return nil, errAt(file, rules.Pos, "temporal_ordered needs at least two rules")
	}
	return c, nil
}

// ParseTimespan parses a Sigma timespan: a positive number followed by one unit
// letter: s, m, h, d, w (week), M (30 days) or y (365 days).
func ParseTimespan(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("%q is not number+unit like 30s, 5m, 1h, 2d", s)
	}
	num, unit := s[:len(s)-1], s[len(s)-1]
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not number+unit like 30s, 5m, 1h, 2d", s)
	}
	var u time.Duration
	switch unit {
	case 's':
		u = time.Second
	case 'm':
		u = time.Minute
	case 'h':
		u = time.Hour
	case 'd':
		u = 24 * time.Hour
	case 'w':
		u = 7 * 24 * time.Hour
	case 'M':
		u = 30 * 24 * time.Hour
	case 'y':
		u = 365 * 24 * time.Hour
	default:
		return 0, fmt.Errorf("%q has unknown unit %q: use s, m, h, d, w, M or y", s, unit)
	}
	d := time.Duration(n) * u
	if d/u != time.Duration(n) || d <= 0 {
		return 0, fmt.Errorf("%q is too long", s)
	}
	return d, nil
}

// Placeholders returns the names of the %name% placeholders r's values
// use under |expand, sorted, each once (as written; Sigma's placeholder
// names are matched without regard to case).
func (r *Rule) Placeholders() []string {
	if r.Detection == nil {
		return nil
	}
	seen := map[string]bool{}
	item := func(it *FieldItem) {
		expand := false
		for _, m := range it.Modifiers {
			if strings.EqualFold(m, "expand") {
				expand = true
			}
		}
		if !expand {
			return
		}
		for _, v := range it.Values {
			if v == nil || v.Kind != KindString {
				continue
			}
			for _, name := range placeholderNames(v.Str) {
				seen[name] = true
			}
		}
	}
	for _, s := range r.Detection.Searches {
		if s.Keywords != nil {
			item(s.Keywords)
		}
		for _, m := range s.Maps {
			for i := range m {
				item(&m[i])
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// placeholderNames are the %name% placeholders in s, as expandPlaceholders
// reads them (\% is a plain percent sign).
func placeholderNames(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '%':
			i++
		case s[i] == '%':
			j := strings.IndexByte(s[i+1:], '%')
			if j < 0 {
				return out
			}
			out = append(out, s[i+1:i+1+j])
			i += j + 1
		}
	}
	return out
}
