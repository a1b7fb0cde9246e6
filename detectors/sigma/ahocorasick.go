package sigma

import "sort"

// acAutomaton is an Aho–Corasick automaton over bytes: it reports every
// pattern occurring in a text in one pass. Patterns are matched byte for
// byte (the caller folds case). The root has a dense transition table;
// deeper states keep sorted sparse edges, which keeps a 20,000-pattern
// automaton small.
type acAutomaton struct {
	root  [256]int32 // root transitions (every byte: a state, 0 = root)
	nodes []acNode
	rows  [][256]int32 // full transitions of the shallow states (acNode.row)
	emits []bool       // per state: a pattern ends here or on its fail chain
}

type acNode struct {
	keys  []byte  // sorted edge labels
	next  []int32 // edge targets
	fail  int32
	out   []int32 // patterns ending here
	dict  int32   // nearest state on the fail chain with out (-1: none)
	depth int32
	row   int32 // 1 + index in rows: a dense row (depth-1 states)
}

// newAC builds the automaton for pats; pattern i is reported as i. Empty
// patterns are ignored.
func newAC(pats []string) *acAutomaton {
	a := &acAutomaton{nodes: []acNode{{dict: -1}}}
	for i, p := range pats {
		if p == "" {
			continue
		}
		s := int32(0)
		for j := 0; j < len(p); j++ {
			s = a.child(s, p[j], true)
		}
		a.nodes[s].out = append(a.nodes[s].out, int32(i))
	}
	// breadth-first: fail links and dictionary links
	queue := make([]int32, 0, len(a.nodes))
	for c := 0; c < 256; c++ {
		if t := a.child(0, byte(c), false); t > 0 {
			a.root[c] = t
			a.nodes[t].fail = 0
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		n := &a.nodes[s]
		f := n.fail
		if len(a.nodes[f].out) > 0 {
			n.dict = f
		} else {
			n.dict = a.nodes[f].dict
		}
		for k, c := range n.keys {
			t := n.next[k]
			a.nodes[t].fail = a.step(f, c)
			queue = append(queue, t)
		}
	}
	// the shallow states are where most bytes of a text lead: give them
	// dense rows (depth 1, then depth 2 while there are at most maxRows),
	// computed in breadth-first order so that each uses rows already right
	var rows [][256]int32
	level := make([]int32, 0, 256)
	for c := 0; c < 256; c++ {
		if s := a.root[c]; s != 0 {
			level = append(level, s)
		}
	}
	for depth := 1; depth <= 2 && len(rows)+len(level) <= maxRows; depth++ {
		var next []int32
		for _, s := range level {
			var row [256]int32
			for d := 0; d < 256; d++ {
				row[d] = a.step(s, byte(d))
			}
			rows = append(rows, row)
			a.rows = rows
			a.nodes[s].row = int32(len(rows))
			next = append(next, a.nodes[s].next...)
		}
		level = next
	}
	a.rows = rows
	a.emits = make([]bool, len(a.nodes))
	for i := range a.nodes {
		a.emits[i] = len(a.nodes[i].out) > 0 || a.nodes[i].dict > 0
	}
	return a
}

// child returns the target of s's edge c, creating it if asked (else -1).
func (a *acAutomaton) child(s int32, c byte, create bool) int32 {
	n := &a.nodes[s]
	k := sort.Search(len(n.keys), func(i int) bool { return n.keys[i] >= c })
	if k < len(n.keys) && n.keys[k] == c {
		return n.next[k]
	}
	if !create {
		return -1
	}
	t := int32(len(a.nodes))
	depth := n.depth + 1
	n.keys = append(n.keys, 0)
	n.next = append(n.next, 0)
	copy(n.keys[k+1:], n.keys[k:])
	copy(n.next[k+1:], n.next[k:])
	n.keys[k], n.next[k] = c, t
	a.nodes = append(a.nodes, acNode{dict: -1, depth: depth})
	return t
}

// maxRows bounds the dense rows of an automaton (1 KiB each).
const maxRows = 2048

// step is the transition from s on c, following fail links.
func (a *acAutomaton) step(s int32, c byte) int32 {
	for s != 0 {
		n := &a.nodes[s]
		if n.row != 0 {
			return a.rows[n.row-1][c]
		}
		for k, kc := range n.keys {
			if kc == c {
				return n.next[k]
			}
			if kc > c {
				break
			}
		}
		s = n.fail
	}
	return a.root[c]
}

// scan calls found with the index of every pattern occurring in text (a
// pattern occurring several times may be reported several times).
func scanAC[T ~string | ~[]byte](a *acAutomaton, text T, found func(int32)) {
	s := int32(0)
	for i := 0; i < len(text); i++ {
		s = a.step(s, text[i])
		if !a.emits[s] {
			continue
		}
		n := &a.nodes[s]
		for _, p := range n.out {
			found(p)
		}
		for d := n.dict; d > 0; d = a.nodes[d].dict {
			for _, p := range a.nodes[d].out {
				found(p)
			}
		}
	}
}

// size is an estimate of the bytes the automaton holds.
func (a *acAutomaton) size() int {
	b := 256*4 + len(a.nodes)*(int(unsafeSizeofNode)+1) + 1024*len(a.rows)
	for i := range a.nodes {
		n := &a.nodes[i]
		b += cap(n.keys) + 4*cap(n.next) + 4*cap(n.out)
	}
	return b
}

const unsafeSizeofNode = 24 + 24 + 4 + 24 + 4 + 4 + 4
