package sigma

import (
	"sort"
	"strings"
)

// multiAnchoredM matches when the value equals (pExact), starts with
// (pPrefix) or ends with (pSuffix) any of several lower-case ASCII
// literals, case-insensitively: ASCII values by one walk of a trie of the
// literals (reversed for pSuffix) from the value's start (end), as far as
// the value agrees with some literal, instead of one comparison per
// literal.
type multiAnchoredM struct {
	kind int
	lits []string
	// the trie: node n's edges are key[lo[n]:lo[n+1]] (sorted) to
	// next[lo[n]:lo[n+1]]; end[n]: a literal ends at n
	lo   []int32
	key  []byte
	next []int32
	end  []bool
}

func newMultiAnchored(kind int, lits []string) *multiAnchoredM {
	m := &multiAnchoredM{kind: kind, lits: lits}
	kids := []map[byte]int32{{}}
	ends := []bool{false}
	for _, l := range lits {
		n := int32(0)
		for i := 0; i < len(l); i++ {
			c := l[i]
			if kind == pSuffix {
				c = l[len(l)-1-i]
			}
			to, ok := kids[n][c]
			if !ok {
				to = int32(len(kids))
				kids[n][c] = to
				kids = append(kids, map[byte]int32{})
				ends = append(ends, false)
			}
			n = to
		}
		ends[n] = true
	}
	m.end = ends
	for _, k := range kids {
		m.lo = append(m.lo, int32(len(m.key)))
		cs := make([]byte, 0, len(k))
		for c := range k {
			cs = append(cs, c)
		}
		sort.Slice(cs, func(i, j int) bool { return cs[i] < cs[j] })
		for _, c := range cs {
			m.key = append(m.key, c)
			m.next = append(m.next, k[c])
		}
	}
	m.lo = append(m.lo, int32(len(m.key)))
	return m
}

func (m *multiAnchoredM) match(v any, _ Event) bool {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case bool: // as strM
		s = "false"
		if x {
			s = "true"
		}
	default:
		var ok bool
		if s, ok = toString(v); !ok {
			return false
		}
	}
	// the trie walk, byte by byte, until a byte is not ASCII: the value's
	// ASCII prefix (suffix) is the lower-cased value's, so a walk that
	// stops on an ASCII byte or ends on ASCII bytes decides
	n := int32(0)
	for i := 0; i < len(s); i++ {
		var c byte
		if m.kind == pSuffix {
			c = s[len(s)-1-i]
		} else {
			c = s[i]
		}
		if c >= 0x80 {
			return m.matchLower(s)
		}
		c = lowerASCII(c)
		next := int32(-1)
		for e := m.lo[n]; e < m.lo[n+1]; e++ {
			if k := m.key[e]; k >= c {
				if k == c {
					next = m.next[e]
				}
				break
			}
		}
		if next < 0 {
			return false
		}
		n = next
		if m.end[n] && m.kind != pExact {
			return true
		}
	}
	return m.end[n]
}

// matchLower is match for a value that is not ASCII: lower-cased, then
// compared (as pattern.match).
func (m *multiAnchoredM) matchLower(s string) bool {
	ls := strings.ToLower(s)
	for _, l := range m.lits {
		switch {
		case m.kind == pExact && ls == l,
			m.kind == pPrefix && strings.HasPrefix(ls, l),
			m.kind == pSuffix && strings.HasSuffix(ls, l):
			return true
		}
	}
	return false
}
