package sigma

import (
	"sort"
	"strings"
	"unsafe"
)

// acAutomaton is an Aho–Corasick automaton over bytes: it reports every
// pattern occurring in a text in one pass. ASCII letters of the text are
// matched as lower case (patterns are given folded); every other byte is
// matched as is.
//
// It is in two parts, so that its hot part stays small however many
// patterns there are:
//
//   - a deterministic automaton (one table lookup per byte of text) over
//     the patterns cut to their first k bytes: its states are the trie's
//     nodes of depth ≤ k, its columns the byte classes (the bytes on the
//     trie's edges down to depth k; every other byte is one class). k is
//     the largest depth whose table fits maxDFA bytes.
//   - the full trie, in flat arrays, for the patterns longer than k: where
//     the automaton is at a node of depth k, the text from that point is
//     walked down the trie as far as it goes (no failure links are needed:
//     every occurrence of a pattern longer than k starts with its first k
//     bytes, where the automaton stands at that node of depth k).
//
// Nodes are numbered breadth first, children in byte order, so that the
// nodes of depth ≤ k come first and a node's children are consecutive.
type acAutomaton struct {
	class [256]uint8 // byte → column (0: no pattern has the byte)
	ncls  int
	// dfa[e&offMask + class] is the entry of the next state, where an
	// entry is the state's row offset (state*ncls) with its flags
	// (flagOut, flagDeep) in the top bits; states are the nodes of depth ≤ k
	dfa    []uint32
	flag   []uint8 // per state: flagOut, flagDeep
	skip   int     // ≥ 0: the only byte leading out of the root (not a letter)
	emit   []int32 // per state: emit[emitAt[s]:emitAt[s+1]] patterns ending here or on its fail chain
	emitAt []int32
	// the full trie
	key   []byte  // per node: the byte of its incoming edge
	kids  []int32 // per node: its first child; kids[n+1] ends its children (len nodes+1)
	out   []int32 // per node: out[outAt[n]:outAt[n+1]] patterns ending exactly here
	outAt []int32
	depth int // k
}

const (
	flagOut  = 1 // patterns end at this state or on its fail chain
	flagDeep = 2 // a node of depth k with children: walk the trie

	flagShift = 30
	offMask   = 1<<flagShift - 1
	flagMin   = 1 << flagShift // the entries with a flag are those ≥ flagMin
)

// maxDFA bounds the bytes of an automaton's deterministic table.
var maxDFA = 4 << 20

// SetAutomatonTableLimit sets the bytes the deterministic table of each of
// a prefilter's automata may take (default 4 MiB; the first level is
// always in the table) and returns the previous limit. A smaller table
// leaves more of each scan to the trie walk; the prefilter's results are
// the same. It applies to prefilters built afterwards; not safe to call
// while one is being built.
func SetAutomatonTableLimit(n int) int {
	prev := maxDFA
	maxDFA = n
	return prev
}

// newAC builds the automaton for pats; pattern i is reported as i. Empty
// patterns are ignored.
func newAC(pats []string) *acAutomaton { return newACLimit(pats, maxDFA) }

// tnode is a trie node while building.
type tnode struct {
	keys  []byte
	next  []int32
	out   []int32
	depth int32
}

func newACLimit(pats []string, limit int) *acAutomaton {
	// the trie
	t := []tnode{{}}
	child := func(s int32, c byte) int32 {
		n := &t[s]
		k := sort.Search(len(n.keys), func(i int) bool { return n.keys[i] >= c })
		if k < len(n.keys) && n.keys[k] == c {
			return n.next[k]
		}
		id := int32(len(t))
		n.keys = append(n.keys, 0)
		n.next = append(n.next, 0)
		copy(n.keys[k+1:], n.keys[k:])
		copy(n.next[k+1:], n.next[k:])
		n.keys[k], n.next[k] = c, id
		t = append(t, tnode{depth: n.depth + 1})
		return id
	}
	a := &acAutomaton{}
	for i, p := range pats {
		if p == "" {
			continue
		}
		s := int32(0)
		for j := 0; j < len(p); j++ {
			s = child(s, p[j])
		}
		t[s].out = append(t[s].out, int32(i))
	}
	// breadth-first numbering (children in byte order)
	order := make([]int32, 0, len(t)) // new id → old id
	newID := make([]int32, len(t))
	order = append(order, 0)
	for i := 0; i < len(order); i++ {
		for _, c := range t[order[i]].next {
			newID[c] = int32(len(order))
			order = append(order, c)
		}
	}
	n := len(order)
	a.key = make([]byte, n)
	a.kids = make([]int32, n+1)
	a.outAt = make([]int32, n+1)
	next := int32(1)
	for id, old := range order {
		a.kids[id] = next
		next += int32(len(t[old].next))
		for k, c := range t[old].next {
			a.key[newID[c]] = t[old].keys[k]
		}
		a.outAt[id] = int32(len(a.out))
		a.out = append(a.out, t[old].out...)
	}
	a.kids[n] = next
	a.outAt[n] = int32(len(a.out))
	// k: the deepest level whose nodes' table fits the limit (at least 1);
	// its columns are the bytes on the edges down to depth k
	states, k := 1, 0
	var used, chosen [256]bool
	nused := 0
	for id := 1; id <= n; id++ {
		if id == n || t[order[id]].depth != t[order[id-1]].depth {
			d := t[order[id-1]].depth
			ncls := min(nused+1, 256)
			if d > 1 && (id*ncls > offMask || id*ncls*4 > limit) {
				break // depth 1 always (at most 257 states)
			}
			states, k, chosen = id, int(d), used
		}
		if id < n && !used[a.key[id]] {
			used[a.key[id]] = true
			nused++
		}
	}
	// byte classes: the text's bytes are folded as they are read
	var col [256]uint8
	a.ncls = 1
	for c := 0; c < 256; c++ {
		if chosen[c] && a.ncls < 256 {
			col[c] = uint8(a.ncls)
			a.ncls++
		}
	}
	if a.ncls == 256 { // (nearly) every byte is used: one column each
		for c := 0; c < 256; c++ {
			col[c] = uint8(c)
		}
	}
	for c := 0; c < 256; c++ {
		a.class[c] = col[lowerASCII(byte(c))]
	}
	a.depth = k
	// failure links of the states (their targets are shallower, so states
	// too), and the table, breadth first: a missing edge goes where the
	// failure state's goes
	fail := make([]int32, states)
	a.dfa = make([]uint32, states*a.ncls)
	a.flag = make([]uint8, states)
	a.emitAt = make([]int32, states+1)
	var emits [][]int32 = make([][]int32, states)
	for s := 0; s < states; s++ {
		row := a.dfa[s*a.ncls : (s+1)*a.ncls]
		if s > 0 {
			copy(row, a.dfa[int(fail[s])*a.ncls:int(fail[s]+1)*a.ncls])
		}
		for ch := a.kids[s]; ch < a.kids[s+1]; ch++ {
			if int(ch) >= states {
				break
			}
			cl := col[a.key[ch]]
			if s > 0 {
				fail[ch] = int32(a.dfa[int(fail[s])*a.ncls+int(cl)])
			}
			row[cl] = uint32(ch)
		}
		e := append([]int32{}, a.out[a.outAt[s]:a.outAt[s+1]]...)
		if s > 0 {
			e = append(e, emits[fail[s]]...)
		}
		emits[s] = e
		if len(e) > 0 {
			a.flag[s] |= flagOut
		}
		if a.kids[s] < a.kids[s+1] && int(a.kids[s+1]-1) >= states {
			a.flag[s] |= flagDeep
		}
	}
	// the table holds states; make them entries
	for i, s := range a.dfa {
		a.dfa[i] = s*uint32(a.ncls) | uint32(a.flag[s])<<flagShift
	}
	a.skip = -1
	if a.kids[1]-a.kids[0] == 1 {
		if c := a.key[1]; c == lowerASCII(c) && (c < 'a' || c > 'z') {
			a.skip = int(c)
		}
	}
	for s, e := range emits {
		a.emitAt[s] = int32(len(a.emit))
		a.emit = append(a.emit, e...)
	}
	a.emitAt[states] = int32(len(a.emit))
	return a
}

// step is the transition of the deterministic part from entry e on byte c.
func (a *acAutomaton) step(e uint32, c byte) uint32 {
	return a.dfa[int(e&offMask)+int(a.class[c])]
}

// state is the state of entry e.
func (a *acAutomaton) state(e uint32) int { return int(e&offMask) / a.ncls }

// child returns the trie child of node n for byte c, -1 when none (a
// node's children are sorted by byte).
func (a *acAutomaton) child(n int32, c byte) int32 {
	for ch := a.kids[n]; ch < a.kids[n+1]; ch++ {
		if k := a.key[ch]; k >= c {
			if k == c {
				return ch
			}
			break
		}
	}
	return -1
}

// deep walks the trie from state s (a node of depth k) over text[i:],
// calling found for the patterns ending on the way.
func (a *acAutomaton) deep(s int, text string, i int, found func(int32)) {
	n := int32(s)
	for ; i < len(text); i++ {
		if n = a.child(n, lowerASCII(text[i])); n < 0 {
			return
		}
		for _, p := range a.out[a.outAt[n]:a.outAt[n+1]] {
			found(p)
		}
	}
}

// scanAC calls found with the index of every pattern occurring in text (a
// pattern occurring several times may be reported several times).
func scanAC[T ~string | ~[]byte](a *acAutomaton, text T, found func(int32)) {
	e := uint32(0)
	for i := 0; i < len(text); i++ {
		if e == 0 && a.skip >= 0 {
			j := strings.IndexByte(string(text[i:]), byte(a.skip))
			if j < 0 {
				return
			}
			i += j
		}
		e = a.step(e, text[i])
		if e>>flagShift != 0 {
			s := a.state(e)
			if e&(flagOut<<flagShift) != 0 {
				for _, p := range a.emit[a.emitAt[s]:a.emitAt[s+1]] {
					found(p)
				}
			}
			if e&(flagDeep<<flagShift) != 0 {
				a.deep(s, string(text), i+1, found)
			}
		}
	}
}

// appendAll appends ids[p] to out for every pattern p occurring in text
// (as scanAC, without a call per byte or per pattern found).
func (a *acAutomaton) appendAll(text []byte, ids, out []int32) []int32 {
	t := unsafe.String(unsafe.SliceData(text), len(text))
	e := uint32(0)
	for i := 0; i < len(t); {
		if a.skip >= 0 {
			i, e = a.nextSkip(t, i, e)
		} else {
			i, e, _ = a.next(t, i, e)
		}
		if e>>flagShift == 0 {
			break
		}
		s := a.state(e)
		if e&(flagOut<<flagShift) != 0 {
			for _, p := range a.emit[a.emitAt[s]:a.emitAt[s+1]] {
				out = append(out, ids[p])
			}
		}
		if e&(flagDeep<<flagShift) != 0 {
			out = a.deepAppend(s, text, i, ids, out)
		}
	}
	return out
}

// next steps the automaton from entry e over text[i:] to the first
// flagged entry (flagOut, flagDeep): it returns the index after the byte
// that led to it and the entry, or len(text) and the last entry, not
// flagged; and the bytes read, or-ed (≥ 0x80: the text is not ASCII). It
// is not inlined: in a loop without calls its variables stay in
// registers.
//
//go:noinline
func (a *acAutomaton) next(text string, i int, e uint32) (int, uint32, byte) {
	dfa, class := a.dfa, &a.class
	var or byte
	// an entry below flagMin is the state's row offset alone
	for e &= offMask; i < len(text); i++ {
		c := text[i]
		or |= c
		if e = dfa[e+uint32(class[c])]; e >= flagMin {
			return i + 1, e, or
		}
	}
	return i, e, or
}

// nextSkip is next for an automaton with a skip byte: from the root, to
// the next skip byte. It does not tell whether the text is ASCII.
func (a *acAutomaton) nextSkip(text string, i int, e uint32) (int, uint32) {
	for i < len(text) {
		if e == 0 {
			j := strings.IndexByte(text[i:], byte(a.skip))
			if j < 0 {
				return len(text), 0
			}
			i += j
		}
		e = a.dfa[int(e&offMask)+int(a.class[text[i]])]
		i++
		if e>>flagShift != 0 {
			return i, e
		}
	}
	return i, e
}

// deepAppend is deep, appending ids[p] to out for each pattern p found.
func (a *acAutomaton) deepAppend(s int, text []byte, i int, ids, out []int32) []int32 {
	n := int32(s)
	for ; i < len(text); i++ {
		if n = a.child(n, lowerASCII(text[i])); n < 0 {
			return out
		}
		for _, p := range a.out[a.outAt[n]:a.outAt[n+1]] {
			out = append(out, ids[p])
		}
	}
	return out
}

// size is an estimate of the bytes the automaton holds.
func (a *acAutomaton) size() int {
	return 256 + 4*len(a.dfa) + len(a.flag) + 4*(len(a.emit)+len(a.emitAt)) +
		len(a.key) + 4*(len(a.kids)+len(a.out)+len(a.outAt))
}
