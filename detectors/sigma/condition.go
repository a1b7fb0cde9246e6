package sigma

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// CondExpr is a parsed condition expression.
type CondExpr interface {
	String() string
}

// CondIdent names one search identifier.
type CondIdent struct{ Name string }

// CondAnd is a conjunction.
type CondAnd struct{ L, R CondExpr }

// CondOr is a disjunction.
type CondOr struct{ L, R CondExpr }

// CondNot is a negation.
type CondNot struct{ X CondExpr }

// CondOf is "N of pattern", "all of pattern", "1 of them", "all of them".
type CondOf struct {
	All     bool
	N       int
	Pattern string // "" means them
}

func (c CondIdent) String() string { return c.Name }
func (c CondAnd) String() string   { return "(" + c.L.String() + " and " + c.R.String() + ")" }
func (c CondOr) String() string    { return "(" + c.L.String() + " or " + c.R.String() + ")" }
func (c CondNot) String() string   { return "not " + c.X.String() }
func (c CondOf) String() string {
	q := strconv.Itoa(c.N)
	if c.All {
		q = "all"
	}
	p := c.Pattern
	if p == "" {
		p = "them"
	}
	return q + " of " + p
}

// CondError is a condition syntax error at a byte offset of the condition.
type CondError struct {
	Offset int
	Msg    string
}

func (e *CondError) Error() string { return fmt.Sprintf("column %d: %s", e.Offset+1, e.Msg) }

type ctok struct {
	s   string
	off int
}

func lexCondition(s string) ([]ctok, error) {
	var toks []ctok
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, ctok{s[i : i+1], i})
			i++
		case c == '|':
			return nil, &CondError{i, "aggregation expressions (| count() by ..., | near) are Sigma v1 and not supported: write a correlation rule"}
		case isIdentByte(c):
			j := i
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			toks = append(toks, ctok{s[i:j], i})
			i = j
		default:
			return nil, &CondError{i, fmt.Sprintf("unexpected character %q", c)}
		}
	}
	return toks, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '*' || c == '-' || c == '.' || c == '?' || c == '@' || c == '$' ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c >= 0x80
}

type condParser struct {
	toks []ctok
	i    int
	n    int // length of the text, for end-of-input errors
	d    int
}

// ParseCondition parses a Sigma condition. Precedence, least to most binding:
// or, and, not, "x of", parentheses. Keywords are case-insensitive.
func ParseCondition(s string) (CondExpr, error) {
	toks, err := lexCondition(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, &CondError{0, "empty condition"}
	}
	p := &condParser{toks: toks, n: len(s)}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		t := p.toks[p.i]
		return nil, &CondError{t.off, fmt.Sprintf("unexpected %q: expected and, or, or end of condition", t.s)}
	}
	return e, nil
}

func (p *condParser) peek() (ctok, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return ctok{off: p.n}, false
}

func (p *condParser) isKw(kw string) bool {
	t, ok := p.peek()
	return ok && strings.EqualFold(t.s, kw)
}

func (p *condParser) or() (CondExpr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKw("or") {
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = CondOr{l, r}
	}
	return l, nil
}

func (p *condParser) and() (CondExpr, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.isKw("and") {
		p.i++
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = CondAnd{l, r}
	}
	return l, nil
}

func (p *condParser) not() (CondExpr, error) {
	if p.isKw("not") {
		p.i++
		p.d++
		defer func() { p.d-- }()
		if p.d > 200 {
			t, _ := p.peek()
			return nil, &CondError{t.off, "condition nested too deeply"}
		}
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return CondNot{x}, nil
	}
	return p.primary()
}

func isReserved(s string) bool {
	switch strings.ToLower(s) {
	case "and", "or", "not", "of", "them", "(", ")":
		return true
	}
	return false
}

func (p *condParser) primary() (CondExpr, error) {
	t, ok := p.peek()
	if !ok {
		return nil, &CondError{t.off, "unexpected end of condition: expected a search identifier, not, x of, or ("}
	}
	if t.s == "(" {
		p.i++
		p.d++
		defer func() { p.d-- }()
		if p.d > 200 {
			return nil, &CondError{t.off, "condition nested too deeply"}
		}
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		c, ok := p.peek()
		if !ok || c.s != ")" {
			return nil, &CondError{c.off, "missing ) to close the ( at column " + strconv.Itoa(t.off+1)}
		}
		p.i++
		return e, nil
	}
	// quantifier?
	if p.i+1 < len(p.toks) && strings.EqualFold(p.toks[p.i+1].s, "of") {
		q := strings.ToLower(t.s)
		of := CondOf{}
		switch {
		case q == "all":
			of.All = true
		case q == "any":
			of.N = 1
		default:
			n, err := strconv.Atoi(q)
			if err != nil || n < 1 {
				return nil, &CondError{t.off, fmt.Sprintf("%q before 'of' must be 1, all, or a positive number", t.s)}
			}
			of.N = n
		}
		p.i += 2
		target, ok := p.peek()
		if !ok || target.s == "(" || target.s == ")" || (isReserved(target.s) && !strings.EqualFold(target.s, "them")) {
			return nil, &CondError{target.off, "expected a search identifier pattern or 'them' after 'of'"}
		}
		p.i++
		if !strings.EqualFold(target.s, "them") {
			of.Pattern = target.s
		}
		return of, nil
	}
	if t.s == ")" || isReserved(t.s) {
		return nil, &CondError{t.off, fmt.Sprintf("unexpected %q: expected a search identifier, not, x of, or (", t.s)}
	}
	p.i++
	return CondIdent{t.s}, nil
}

// resolveOf returns the search identifiers selected by an "of" pattern.
func resolveOf(pattern string, names []string) []string {
	var out []string
	for _, n := range names {
		if pattern == "" {
			if !strings.HasPrefix(n, "_") {
				out = append(out, n)
			}
			continue
		}
		if ok, _ := path.Match(escapeMatch(pattern), n); ok {
			out = append(out, n)
		}
	}
	return out
}

// escapeMatch keeps * as wildcard and escapes path.Match's other metacharacters.
func escapeMatch(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(p[i])
	}
	return b.String()
}
