package scenarios

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/token"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// ynode is a YAML node with its position, decoded from goccy's AST so that
// every validation error can say file:line:col.
type ynode struct {
	kind  nodeKind
	line  int
	col   int
	str   string // scalars, as written
	keys  []string
	vals  []*ynode
	kpos  []token.Position
	items []*ynode
}

type nodeKind int

const (
	nScalar nodeKind = iota
	nMap
	nSeq
	nNull
)

func (n *ynode) String() string {
	switch n.kind {
	case nMap:
		return "a mapping"
	case nSeq:
		return "a list"
	case nNull:
		return "null"
	}
	return fmt.Sprintf("%q", n.str)
}

func (n *ynode) get(key string) (*ynode, bool) {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i], true
		}
	}
	return nil, false
}

// parseYAML returns the document's root node, within lim.
func parseYAML(data []byte, lim yamlsafe.Limits) (*ynode, error) {
	f, err := yamlsafe.Parse(data, lim)
	if err != nil {
		return nil, err
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return &ynode{kind: nNull, line: 1, col: 1}, nil
	}
	if len(f.Docs) > 1 {
		return nil, fmt.Errorf("a scenario file holds one YAML document; found %d", len(f.Docs))
	}
	n, err := yamlsafe.Tree(f.Docs[0].Body, treeOptions)
	if err != nil {
		return nil, err
	}
	return fromTree(n), nil
}

// treeOptions read a scenario as written: no aliases or merges, scalars as
// their text.
var treeOptions = yamlsafe.TreeOptions{
	AliasRefusal: "YAML aliases (*name) are not supported in scenarios; repeat the value or use repeat/foreach steps",
	MergeRefusal: "YAML merge keys (<<) are not supported in scenarios",
	AsWritten:    true,
}

// fromTree is n as a ynode; a value left empty is where its key is.
func fromTree(n *yamlsafe.Node) *ynode {
	out := &ynode{line: n.Pos.Line, col: n.Pos.Col}
	switch n.Kind {
	case yamlsafe.KindNull:
		out.kind = nNull
	case yamlsafe.KindMap:
		out.kind = nMap
		for _, kv := range n.Map {
			v := fromTree(kv.Value)
			if v.line == 0 {
				v.line, v.col = kv.KeyPos.Line, kv.KeyPos.Col
			}
			out.keys = append(out.keys, kv.Key)
			out.kpos = append(out.kpos, tokenPos(kv.KeyPos.Line, kv.KeyPos.Col))
			out.vals = append(out.vals, v)
		}
	case yamlsafe.KindSeq:
		out.kind = nSeq
		for _, it := range n.Seq {
			out.items = append(out.items, fromTree(it))
		}
	default:
		out.kind, out.str = nScalar, n.Text
	}
	return out
}

// Error is one problem in a scenario file.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
	Hint string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	if e.Line == 0 { // the whole file (too large)
		s = fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Errors is every problem found in a file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// decoder turns nodes into typed values, collecting errors.
type decoder struct {
	file string
	errs Errors
}

func (d *decoder) errf(n *ynode, hint, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.line, n.col
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (d *decoder) sorted() Errors {
	sort.SliceStable(d.errs, func(i, j int) bool {
		if d.errs[i].Line != d.errs[j].Line {
			return d.errs[i].Line < d.errs[j].Line
		}
		return d.errs[i].Col < d.errs[j].Col
	})
	return d.errs
}

// fields checks a mapping's keys against the allowed set and returns a
// getter. Unknown keys are errors with the nearest known name as a hint.
func (d *decoder) fields(n *ynode, what string, allowed ...string) (func(string) (*ynode, bool), bool) {
	if n == nil || n.kind != nMap {
		if n == nil || n.kind == nNull {
			return func(string) (*ynode, bool) { return nil, false }, true
		}
		d.errf(n, "", "%s must be a mapping, got %s", what, n)
		return func(string) (*ynode, bool) { return nil, false }, false
	}
	for i, k := range n.keys {
		ok := false
		for _, a := range allowed {
			if a == k {
				ok = true
				break
			}
		}
		if !ok {
			kn := &ynode{line: n.kpos[i].Line, col: n.kpos[i].Column}
			d.errf(kn, suggest(k, allowed), "unknown key %q in %s", k, what)
		}
	}
	return n.get, true
}

func (d *decoder) str(n *ynode, what string) string {
	if n == nil || n.kind == nNull {
		return ""
	}
	if n.kind != nScalar {
		d.errf(n, "", "%s must be a string, got %s", what, n)
		return ""
	}
	return n.str
}

func (d *decoder) strList(n *ynode, what string) []string {
	if n == nil || n.kind == nNull {
		return nil
	}
	if n.kind == nScalar {
		return []string{n.str}
	}
	if n.kind != nSeq {
		d.errf(n, "", "%s must be a string or a list of strings, got %s", what, n)
		return nil
	}
	var out []string
	for _, it := range n.items {
		out = append(out, d.str(it, what+" item"))
	}
	return out
}

func (d *decoder) integer(n *ynode, what string, min, max int64) int64 {
	if n == nil || n.kind == nNull {
		return 0
	}
	if n.kind != nScalar {
		d.errf(n, "", "%s must be a number, got %s", what, n)
		return 0
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.str, "_", ""), 10, 64)
	if err != nil {
		d.errf(n, "", "%s must be a whole number, got %q", what, n.str)
		return 0
	}
	if v < min || v > max {
		d.errf(n, "", "%s must be between %d and %d, got %d", what, min, max, v)
	}
	return v
}

func (d *decoder) float(n *ynode, what string, min, max float64) float64 {
	if n == nil || n.kind == nNull {
		return 0
	}
	v, err := strconv.ParseFloat(n.str, 64)
	if n.kind != nScalar || err != nil {
		d.errf(n, "", "%s must be a number, got %s", what, n)
		return 0
	}
	if math.IsNaN(v) || v < min || v > max {
		d.errf(n, "", "%s must be between %s and %s, got %s", what, strconv.FormatFloat(min, 'f', -1, 64), strconv.FormatFloat(max, 'f', -1, 64), n.str)
		return 0
	}
	return v
}

func (d *decoder) boolean(n *ynode, what string) bool {
	if n == nil || n.kind == nNull {
		return false
	}
	switch strings.ToLower(n.str) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	d.errf(n, "", "%s must be true or false, got %s", what, n)
	return false
}

// duration parses Go durations plus days ("1d", "1d12h").
func (d *decoder) duration(n *ynode, what string) time.Duration {
	if n == nil || n.kind == nNull {
		return 0
	}
	v, err := parseDuration(n.str)
	if err != nil || n.kind != nScalar {
		d.errf(n, `durations look like "90s", "15m", "2h30m" or "1d"`, "%s: %v", what, err)
		return 0
	}
	if v < 0 {
		d.errf(n, "", "%s must not be negative", what)
	}
	return v
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		if n > maxDays {
			// n days past 292 years wrapped round: "200000d" read as
			// negative.
			return 0, fmt.Errorf("duration %q is too long (at most %dd)", s, maxDays)
		}
		days = n
		s = s[i+1:]
		if s == "" {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	total := time.Duration(days)*24*time.Hour + v
	if v > 0 && total < 0 {
		return 0, fmt.Errorf("duration %q is too long (at most %dd)", s, maxDays)
	}
	return total, nil
}

// maxDays is the most days a time.Duration holds.
const maxDays = int64(math.MaxInt64 / int64(24*time.Hour))

// suggest returns a hint naming the nearest allowed word.
func suggest(got string, allowed []string) string {
	best, bestD := "", 1<<30
	for _, a := range allowed {
		if d := levenshtein(strings.ToLower(got), strings.ToLower(a)); d < bestD {
			best, bestD = a, d
		}
	}
	if best != "" && bestD <= max(2, len(got)/3) {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "known: " + strings.Join(allowed, ", ")
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func tokenPos(line, col int) token.Position { return token.Position{Line: line, Column: col} }
