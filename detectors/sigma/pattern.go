package sigma

import (
	"strings"
	"unicode/utf8"
)

// token kinds of a Sigma string
const (
	tLit  = iota // literal text
	tStar        // * : any run of characters
	tOne         // ? : exactly one character
)

type tok struct {
	kind int
	s    string
}

// sstring is a Sigma string value: literal text with wildcards.
type sstring []tok

// parseSigmaString applies Sigma's escape rules: \* \? \\ escape; a backslash before
// anything else is a plain backslash.
func parseSigmaString(s string) sstring {
	var out sstring
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, tok{kind: tLit, s: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\') {
				lit.WriteByte(s[i+1])
				i++
			} else {
				lit.WriteByte('\\')
			}
		case '*':
			flush()
			if len(out) == 0 || out[len(out)-1].kind != tStar {
				out = append(out, tok{kind: tStar})
			}
		case '?':
			flush()
			out = append(out, tok{kind: tOne})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out
}

func literal(s string) sstring {
	if s == "" {
		return nil
	}
	return sstring{{kind: tLit, s: s}}
}

func (s sstring) hasWildcards() bool {
	for _, t := range s {
		if t.kind != tLit {
			return true
		}
	}
	return false
}

// plain returns the text of s when it has no wildcards.
func (s sstring) plain() string {
	var b strings.Builder
	for _, t := range s {
		b.WriteString(t.s)
	}
	return b.String()
}

func (s sstring) startsWithStar() bool { return len(s) > 0 && s[0].kind == tStar }
func (s sstring) endsWithStar() bool   { return len(s) > 0 && s[len(s)-1].kind == tStar }

func (s sstring) wrap(before, after bool) sstring {
	out := make(sstring, 0, len(s)+2)
	if before && !s.startsWithStar() {
		out = append(out, tok{kind: tStar})
	}
	out = append(out, s...)
	if after && !out.endsWithStar() {
		out = append(out, tok{kind: tStar})
	}
	return out
}

// mapLiterals transforms the literal parts of s.
func (s sstring) mapLiterals(f func(string) string) sstring {
	out := make(sstring, len(s))
	for i, t := range s {
		if t.kind == tLit {
			t.s = f(t.s)
		}
		out[i] = t
	}
	return out
}

// pattern is a compiled string matcher.
type pattern struct {
	kind  int // pExact, pPrefix, pSuffix, pContains, pGlob, pAny
	lit   string
	toks  sstring
	segs  []sstring
	cased bool
}

const (
	pExact = iota
	pPrefix
	pSuffix
	pContains
	pGlob
	pAny // "*"
)

func compilePattern(s sstring, cased bool) *pattern {
	if !cased {
		s = s.mapLiterals(strings.ToLower)
	}
	p := &pattern{toks: s, cased: cased}
	switch {
	case len(s) == 0:
		p.kind, p.lit = pExact, ""
	case len(s) == 1 && s[0].kind == tLit:
		p.kind, p.lit = pExact, s[0].s
	case len(s) == 1 && s[0].kind == tStar:
		p.kind = pAny
	case len(s) == 2 && s[0].kind == tLit && s[1].kind == tStar:
		p.kind, p.lit = pPrefix, s[0].s
	case len(s) == 2 && s[0].kind == tStar && s[1].kind == tLit:
		p.kind, p.lit = pSuffix, s[1].s
	case len(s) == 3 && s[0].kind == tStar && s[1].kind == tLit && s[2].kind == tStar:
		p.kind, p.lit = pContains, s[1].s
	default:
		p.kind = pGlob
		p.segs = splitSegs(s)
	}
	return p
}

func isASCII(s string) bool {
	// eight bytes at a time: values are mostly short ASCII strings read
	// by several matchers
	n := len(s)
	if n < 8 {
		for i := 0; i < n; i++ {
			if s[i] >= utf8.RuneSelf {
				return false
			}
		}
		return true
	}
	// the last eight bytes (overlapping the words before them) instead of
	// a byte loop over the rest
	w := load64(s[n-8:])
	for i := 0; i+8 <= n; i += 8 {
		w |= load64(s[i : i+8])
	}
	return w&0x8080808080808080 == 0
}

func load64(t string) uint64 {
	_ = t[7]
	return uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
		uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
}

// match reports whether v matches. Case-insensitive patterns hold lower-cased
// literals; ASCII values are folded byte by byte without allocating.
func (p *pattern) match(v string) bool {
	fold := !p.cased
	if fold {
		switch p.kind {
		case pExact, pPrefix:
			// decided on the ASCII bytes read, without testing the whole
			// value first (see foldPrefix)
			if m, ok := foldPrefix(v, p.lit, p.kind == pExact); ok {
				return m
			}
		case pSuffix:
			// a suffix of ASCII bytes is the lower-cased value's,
			// lower-cased byte by byte, whatever the rest of the value
			if n := len(p.lit); len(v) >= n && isASCII(v[len(v)-n:]) {
				return eqFold(v[len(v)-n:], p.lit, true)
			}
		}
	}
	if fold && !isASCII(v) {
		v = strings.ToLower(v)
		fold = false
	}
	switch p.kind {
	case pAny:
		return true
	case pExact:
		return len(v) == len(p.lit) && eqFold(v, p.lit, fold)
	case pPrefix:
		return len(v) >= len(p.lit) && eqFold(v[:len(p.lit)], p.lit, fold)
	case pSuffix:
		return len(v) >= len(p.lit) && eqFold(v[len(v)-len(p.lit):], p.lit, fold)
	case pContains:
		return indexFold(v, p.lit, fold) >= 0
	}
	return globMatch(p.segs, v, fold)
}

// foldPrefix compares v, case-insensitively, with the lower-cased literal
// lit: whether lit is v (exact) or begins v, as match decides it after
// lower-casing v. ok is false when that depends on a non-ASCII byte of v:
// the caller lower-cases v then. Lower-casing maps ASCII bytes one to one
// and every other rune to a non-empty string, from left to right, so an
// ASCII prefix of v decides a mismatch in it, and a longer v folded to lit
// plus something is not lit.
func foldPrefix(v, lit string, exact bool) (match, ok bool) {
	n := min(len(v), len(lit))
	for i := 0; i < n; i++ {
		c := v[i]
		if c >= utf8.RuneSelf {
			return false, false
		}
		if lowerASCII(c) != lit[i] {
			return false, true
		}
	}
	if len(v) >= len(lit) {
		// lit begins v (folded); v is lit only if nothing follows
		return !exact || len(v) == len(lit), true
	}
	// v (all ASCII) is shorter than lit
	return false, true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 32
	}
	return c
}

// eqFold compares v with the (lower-cased if fold) literal lit of equal length.
func eqFold(v, lit string, fold bool) bool {
	if !fold {
		return v == lit
	}
	for i := 0; i < len(v); i++ {
		if lowerASCII(v[i]) != lit[i] {
			return false
		}
	}
	return true
}

func indexFold(v, lit string, fold bool) int {
	if !fold {
		return strings.Index(v, lit)
	}
	if len(lit) == 0 {
		return 0
	}
	// jump from one occurrence of a byte of lit that folding leaves alone
	// (not a letter; lit is lower-cased) to the next
	for j := 0; j < len(lit); j++ {
		if c := lit[j]; c < 'a' || c > 'z' {
			end := len(v) - len(lit) + j + 1 // c at v[i] with i < end
			for i := j; i < end; i++ {
				k := strings.IndexByte(v[i:end], c)
				if k < 0 {
					return -1
				}
				i += k
				if eqFold(v[i-j:i-j+len(lit)], lit, true) {
					return i - j
				}
			}
			return -1
		}
	}
	first := lit[0]
	for i := 0; i+len(lit) <= len(v); i++ {
		if lowerASCII(v[i]) == first && eqFold(v[i:i+len(lit)], lit, true) {
			return i
		}
	}
	return -1
}

// segment: a run of literal and ? tokens between stars.
// matchSegAt matches seg at v[i:] and returns the end offset or -1.
func matchSegAt(seg sstring, v string, i int, fold bool) int {
	for _, t := range seg {
		if t.kind == tOne {
			if i >= len(v) {
				return -1
			}
			_, n := utf8.DecodeRuneInString(v[i:])
			i += n
			continue
		}
		if len(v)-i < len(t.s) || !eqFold(v[i:i+len(t.s)], t.s, fold) {
			return -1
		}
		i += len(t.s)
	}
	return i
}

// globMatch matches tokens with * and ?. Segments between stars are matched
// leftmost-first, which is exact for this pattern language.
func splitSegs(toks sstring) []sstring {
	var segs []sstring
	start := 0
	for i, t := range toks {
		if t.kind == tStar {
			segs = append(segs, toks[start:i])
			start = i + 1
		}
	}
	return append(segs, toks[start:])
}

func globMatch(segs []sstring, v string, fold bool) bool {
	if len(segs) == 1 { // no star
		return matchSegAt(segs[0], v, 0, fold) == len(v)
	}
	// first segment anchored at start
	pos := matchSegAt(segs[0], v, 0, fold)
	if pos < 0 {
		return false
	}
	// middle segments leftmost
	for _, seg := range segs[1 : len(segs)-1] {
		if len(seg) == 0 {
			continue
		}
		found := -1
		for i := pos; i <= len(v); i++ {
			if seg[0].kind == tLit { // jump to the next occurrence of its first literal
				k := indexFold(v[i:], seg[0].s, fold)
				if k < 0 {
					break
				}
				i += k
			}
			if e := matchSegAt(seg, v, i, fold); e >= 0 {
				found = e
				break
			}
		}
		if found < 0 {
			return false
		}
		pos = found
	}
	last := segs[len(segs)-1]
	if len(last) == 0 {
		return true
	}
	for i := len(v); i >= pos; i-- {
		if matchSegAt(last, v, i, fold) == len(v) {
			return true
		}
	}
	return false
}
