package sigma

import (
	"regexp"
	"regexp/syntax"
)

// rePrefixSearch decides an expression on ASCII values the regexp package
// would try at every position (it finds no literal prefix under (?i)): it
// looks for the literal prefixes every match starts with (case-folded as
// the expression says) and runs the expression, anchored, only where one
// of them is found — not at all when the prefix is itself a match. The
// result is the same: the expression has no assertion that looks behind
// (^, \b), so it matches the value exactly when it matches, anchored, a
// suffix of it that starts with one of the prefixes. reM uses it for the
// expressions its automaton does not cover ($).
type rePrefixSearch struct {
	anch  *regexp.Regexp // ^(?:re)
	pfx   []rePrefix     // one of them begins every match
	first [256]bool      // the bytes a prefix can start with
}

// rePrefix: a byte string where position j is lo[j] or up[j] (a letter
// under (?i): its two cases; otherwise twice the same byte). full: the
// string is itself a match, the expression need not run after it.
type rePrefix struct {
	lo, up string
	full   bool
}

const (
	maxRePrefixes = 16
	maxRePrefix   = 16
)

// newRePrefixSearch returns nil when the expression looks behind or has
// no literal prefixes.
func newRePrefixSearch(re *regexp.Regexp) *rePrefixSearch {
	tree, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil || looksBehind(tree) {
		return nil
	}
	pfx, _, ok := rePrefixes(tree)
	if !ok || len(pfx) == 0 {
		return nil
	}
	for _, p := range pfx {
		if p.lo == "" {
			return nil
		}
	}
	anch, err := regexp.Compile(`^(?:` + re.String() + `)`)
	if err != nil {
		return nil
	}
	m := &rePrefixSearch{anch: anch, pfx: pfx}
	for _, p := range pfx {
		m.first[p.lo[0]], m.first[p.up[0]] = true, true
	}
	return m
}

// match decides an ASCII value.
func (m *rePrefixSearch) match(s string) bool {
	for i := 0; i < len(s); i++ {
		if !m.first[s[i]] {
			continue
		}
		for _, p := range m.pfx {
			if p.at(s[i:]) {
				if p.full || m.anch.MatchString(s[i:]) {
					return true
				}
				break
			}
		}
	}
	return false
}

func (p rePrefix) at(s string) bool {
	if len(s) < len(p.lo) {
		return false
	}
	for j := 0; j < len(p.lo); j++ {
		if c := s[j]; c != p.lo[j] && c != p.up[j] {
			return false
		}
	}
	return true
}

// looksBehind reports whether the expression has an assertion about what
// comes before a position (beginning of text or line, word boundary).
func looksBehind(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpBeginText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, sub := range re.Sub {
		if looksBehind(sub) {
			return true
		}
	}
	return false
}

// rePrefixes returns byte strings, one of which begins every match of re
// on an ASCII text (ok false: none found). complete says that re matches
// exactly these strings, so that what follows re in a concatenation can
// extend them.
func rePrefixes(re *syntax.Regexp) (out []rePrefix, complete, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		lo, up := make([]byte, 0, len(re.Rune)), make([]byte, 0, len(re.Rune))
		for _, r := range re.Rune {
			if r >= 0x80 {
				return nil, false, false
			}
			c, d := byte(r), byte(r)
			if re.Flags&syntax.FoldCase != 0 {
				switch {
				case 'a' <= c && c <= 'z':
					d = c - 32
				case 'A' <= c && c <= 'Z':
					c = d + 32
				}
			}
			lo, up = append(lo, c), append(up, d)
		}
		if len(lo) == 0 {
			return nil, false, false
		}
		complete = true
		if len(lo) > maxRePrefix {
			lo, up, complete = lo[:maxRePrefix], up[:maxRePrefix], false
		}
		return []rePrefix{{string(lo), string(up), complete}}, complete, true
	case syntax.OpCharClass:
		// its ASCII members (other runes cannot match an ASCII text)
		var in [128]bool
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1] && r < 0x80; r++ {
				if !in[r] {
					in[r] = true
					n++
				}
			}
		}
		if n == 0 || n > maxRePrefixes {
			return nil, false, false
		}
		for c := byte(0); c < 0x80; c++ {
			if !in[c] {
				continue
			}
			if 'a' <= c && c <= 'z' && in[c-32] {
				out = append(out, rePrefix{string(c), string(c - 32), true})
				continue
			}
			if 'A' <= c && c <= 'Z' && in[c+32] {
				continue // with its lower case
			}
			out = append(out, rePrefix{string(c), string(c), true})
		}
		return out, true, true
	case syntax.OpCapture:
		return rePrefixes(re.Sub[0])
	case syntax.OpQuest:
		// x? is "" or x: the empty prefix is extended by what follows
		out, complete, ok = rePrefixes(re.Sub[0])
		if !ok || len(out)+1 > maxRePrefixes {
			return nil, false, false
		}
		return append([]rePrefix{{full: true}}, out...), complete, true
	case syntax.OpPlus:
		// x+ begins with x; x itself is a match of x+
		out, _, ok = rePrefixes(re.Sub[0])
		return out, false, ok
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false, false
		}
		out, _, ok = rePrefixes(re.Sub[0])
		if re.Min > 1 {
			out = notFull(out)
		}
		return out, false, ok
	case syntax.OpAlternate:
		complete = true
		for _, sub := range re.Sub {
			p, c, ok := rePrefixes(sub)
			if !ok || len(out)+len(p) > maxRePrefixes {
				return nil, false, false
			}
			out = append(out, p...)
			complete = complete && c
		}
		return out, complete, len(out) > 0
	case syntax.OpEmptyMatch:
		return []rePrefix{{full: true}}, true, true
	case syntax.OpConcat:
		acc := []rePrefix{{full: true}}
		for _, sub := range re.Sub {
			p, c, ok := rePrefixes(sub)
			if !ok || len(acc)*len(p) > maxRePrefixes {
				if hasEmpty(acc) {
					return nil, false, false
				}
				return notFull(acc), false, true
			}
			next := make([]rePrefix, 0, len(acc)*len(p))
			full := true
			for _, a := range acc {
				for _, b := range p {
					x := rePrefix{a.lo + b.lo, a.up + b.up, a.full && b.full}
					if len(x.lo) > maxRePrefix {
						x.lo, x.up, x.full, full = x.lo[:maxRePrefix], x.up[:maxRePrefix], false, false
					}
					next = append(next, x)
				}
			}
			acc = next
			if !c || !full {
				if sub != re.Sub[len(re.Sub)-1] {
					acc = notFull(acc) // what follows must match too
				}
				return acc, false, true
			}
		}
		return acc, true, true
	}
	return nil, false, false
}

func hasEmpty(ps []rePrefix) bool {
	for _, p := range ps {
		if p.lo == "" {
			return true
		}
	}
	return false
}

// notFull marks prefixes as not matches by themselves.
func notFull(ps []rePrefix) []rePrefix {
	out := make([]rePrefix, len(ps))
	for i, p := range ps {
		p.full = false
		out[i] = p
	}
	return out
}
