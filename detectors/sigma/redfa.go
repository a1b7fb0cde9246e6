package sigma

import (
	"regexp"
	"regexp/syntax"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// reM matches a value against a regular expression (regexp.MatchString).
// ASCII values go through a deterministic automaton built lazily from the
// expression's program, one table lookup per byte; other values, and
// expressions it does not cover (empty-width assertions: ^, $, \b ...),
// use the regexp package.
type reM struct {
	re  *regexp.Regexp
	dfa *reDFA          // nil: not covered
	pre *rePrefixSearch // when dfa is nil: the literal prefixes (regex.go), or nil
	// a byte every match contains (reNeed), -1: none known; a value
	// without it (most values of most fields) is decided by one IndexByte
	need int
}

func newReM(re *regexp.Regexp) *reM {
	m := &reM{re: re, dfa: newReDFA(re.String()), need: -1}
	if m.dfa == nil {
		m.pre = newRePrefixSearch(re)
	}
	if sre, err := syntax.Parse(re.String(), syntax.Perl); err == nil {
		m.need = reNeed(sre)
	}
	return m
}

func (m *reM) match(v any, _ Event) bool {
	s, ok := v.(string)
	if !ok {
		if s, ok = toString(v); !ok {
			return false
		}
	}
	if m.need >= 0 && strings.IndexByte(s, byte(m.need)) < 0 {
		return false
	}
	if m.dfa != nil && isASCII(s) {
		if r, ok := m.dfa.match(s); ok {
			return r
		}
	} else if m.pre != nil && isASCII(s) {
		return m.pre.match(s)
	}
	return m.re.MatchString(s)
}

// reNeed returns a byte that every string re matches contains, -1 when
// it finds none. Only ASCII non-letters are considered: they match only
// themselves, with or without (?i) (a letter also matches its other case,
// and k and s non-ASCII runes; no rune folds to an ASCII non-letter), and
// in UTF-8 their byte is only ever that rune. Of several, one less common
// in text than spaces, dots, dashes and digits is preferred.
func reNeed(re *syntax.Regexp) int {
	set := reNeeded(re)
	need := -1
	for c := 0; c < utf8.RuneSelf; c++ {
		if set[c>>6]&(1<<(c&63)) == 0 {
			continue
		}
		if common := strings.IndexByte(" .-0123456789", byte(c)) >= 0; !common {
			return c
		}
		if need < 0 {
			need = c
		}
	}
	return need
}

// reNeeded returns the set of ASCII non-letters (bit c of word c/64) that
// every string re matches contains.
func reNeeded(re *syntax.Regexp) [2]uint64 {
	var set [2]uint64
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r < utf8.RuneSelf && !('a' <= r|0x20 && r|0x20 <= 'z') {
				set[r>>6] |= 1 << (r & 63)
			}
		}
	case syntax.OpCapture, syntax.OpPlus:
		return reNeeded(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return reNeeded(re.Sub[0])
		}
	case syntax.OpConcat: // what one of them needs
		for _, sub := range re.Sub {
			s := reNeeded(sub)
			set[0], set[1] = set[0]|s[0], set[1]|s[1]
		}
	case syntax.OpAlternate: // what all of them need
		set = [2]uint64{^uint64(0), ^uint64(0)}
		for _, sub := range re.Sub {
			s := reNeeded(sub)
			set[0], set[1] = set[0]&s[0], set[1]&s[1]
		}
	}
	return set
}

// reDFA decides whether an ASCII string contains a match of an expression
// without empty-width assertions: its states are sets of the program's
// instructions (the subset construction, made as the text needs them),
// and every state also holds the program's start, so that a match may
// start anywhere (an unanchored search). The text matches as soon as a
// state holds the match instruction.
type reDFA struct {
	mu     sync.Mutex
	prog   *syntax.Prog
	states []reState
	// per state and ASCII byte: the next state + 1; 0: not built yet; -1:
	// a state holding the match instruction
	next  []int32
	byKey map[string]int32
	start int32
	full  bool // maxReStates, maxReInsts or reDFAMemory reached: the regexp package decides
	share *reShare
	insts int // the instructions held by the states
	// the bytes on which the start state goes elsewhere, and the only one
	// (-1: several): from the start state, the text is skipped to the next
	leave [2]uint64
	skip  int
	// when the start state leaves on exactly two bytes (a letter in
	// either case): those bytes (skip is -2)
	two [2]byte
	// scratch of state
	seen  []uint32 // per instruction: the generation it was added in
	gen   uint32
	stack []uint32
	set   []uint32
}

type reState struct {
	insts []uint32 // the consuming instructions, sorted
	match bool
}

// maxReStates bounds the states of one expression's automaton (each takes
// about 0.5 KiB), maxReInsts the instructions its states hold together
// (8 bytes each, with the key: `.{1000,}` has states of up to a thousand);
// beyond either the regexp package decides.
const (
	maxReStates = 1024
	maxReInsts  = 1 << 16
)

// reDFAMemory is what every automaton of the process may hold together
// (their states' tables and instructions, as reStateBytes counts them):
// values chosen to grow them all (an event stream made to) cannot take
// more. An automaton that would pass it stops growing, and the regexp
// package decides for it; an automaton's share is given back when it is
// garbage-collected with its rules.
var reDFAMemory = struct {
	sync.Mutex
	left int64
}{left: 64 << 20}

// reStateBytes is what a state of n instructions holds: its row of the
// table, its instructions and its key in byKey (with map overhead).
func reStateBytes(n int) int64 { return int64(utf8.RuneSelf*4 + 8*n + 64) }

// reShare is an automaton's share of reDFAMemory.
type reShare struct{ n int64 }

func (sh *reShare) take(n int64) bool {
	reDFAMemory.Lock()
	defer reDFAMemory.Unlock()
	if reDFAMemory.left < n {
		return false
	}
	reDFAMemory.left -= n
	sh.n += n
	return true
}

func giveBack(sh *reShare) {
	reDFAMemory.Lock()
	reDFAMemory.left += sh.n
	reDFAMemory.Unlock()
}

func newReDFA(expr string) *reDFA {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil
	}
	for _, in := range prog.Inst {
		if in.Op == syntax.InstEmptyWidth {
			return nil
		}
	}
	d := &reDFA{prog: prog, byKey: map[string]int32{}, seen: make([]uint32, len(prog.Inst)), share: &reShare{}}
	runtime.AddCleanup(d, giveBack, d.share)
	d.start = d.state(nil, 0, false)
	if d.full {
		return nil
	}
	// the start state's transitions, made now: the text is skipped to
	// the next byte that leaves it
	n := 0
	for c := 0; c < utf8.RuneSelf; c++ {
		to := d.state(d.states[d.start].insts, rune(c), true)
		if d.full {
			return nil
		}
		next := to + 1
		if d.states[to].match {
			next = -1
		}
		d.next[int(d.start)<<7|c] = next
		if to != d.start {
			d.leave[c>>6] |= 1 << (c & 63)
			if n < 2 {
				d.two[n] = byte(c)
			}
			d.skip = c
			n++
		}
	}
	switch n {
	case 1:
	case 2:
		d.skip = -2
	default:
		d.skip = -1
	}
	return d
}

// match reports whether s (ASCII) contains a match; ok false: the
// automaton cannot tell (it is full, or in use by another goroutine).
func (d *reDFA) match(s string) (matched, ok bool) {
	if !d.mu.TryLock() {
		return false, false
	}
	defer d.mu.Unlock()
	if d.full {
		return false, false
	}
	if d.states[d.start].match {
		return true, true
	}
	st := d.start
	p0, p1 := -1, -1 // skip -2: the next d.two[0], d.two[1] at or after them (len(s): none)
	for i := 0; i < len(s); i++ {
		if st == d.start {
			if d.skip >= 0 {
				j := strings.IndexByte(s[i:], byte(d.skip))
				if j < 0 {
					return false, true
				}
				i += j
			} else if d.skip == -2 {
				if p0 < i {
					p0 = indexFrom(s, i, d.two[0])
				}
				if p1 < i {
					p1 = indexFrom(s, i, d.two[1])
				}
				i = min(p0, p1)
				if i == len(s) {
					return false, true
				}
			} else {
				for i < len(s) && d.leave[s[i]>>6]&(1<<(s[i]&63)) == 0 {
					i++
				}
				if i == len(s) {
					return false, true
				}
			}
		}
		c := s[i]
		n := d.next[int(st)<<7|int(c)]
		if n <= 0 {
			if n < 0 {
				return true, true
			}
			to := d.state(d.states[st].insts, rune(c), true)
			if d.full {
				return false, false
			}
			n = to + 1
			if d.states[to].match {
				n = -1
			}
			d.next[int(st)<<7|int(c)] = n
			if n < 0 {
				return true, true
			}
		}
		st = n - 1
	}
	return false, true
}

// indexFrom returns the index of the first c in s at or after i, len(s)
// when there is none.
func indexFrom(s string, i int, c byte) int {
	if j := strings.IndexByte(s[i:], c); j >= 0 {
		return i + j
	}
	return len(s)
}

// state returns the state of the instructions following those of from
// that consume r (none when !consume), plus the program's start, with
// their closures.
func (d *reDFA) state(from []uint32, r rune, consume bool) int32 {
	d.gen++
	if d.gen == 0 {
		clear(d.seen)
		d.gen = 1
	}
	d.set = d.set[:0]
	match := false
	add := func(pc uint32) {
		d.stack = append(d.stack[:0], pc)
		for len(d.stack) > 0 {
			pc := d.stack[len(d.stack)-1]
			d.stack = d.stack[:len(d.stack)-1]
			if d.seen[pc] == d.gen {
				continue
			}
			d.seen[pc] = d.gen
			in := &d.prog.Inst[pc]
			switch in.Op {
			case syntax.InstAlt, syntax.InstAltMatch:
				d.stack = append(d.stack, in.Arg, in.Out)
			case syntax.InstCapture, syntax.InstNop:
				d.stack = append(d.stack, in.Out)
			case syntax.InstMatch:
				match = true
			case syntax.InstFail:
			default: // InstRune, InstRune1, InstRuneAny, InstRuneAnyNotNL
				d.set = append(d.set, pc)
			}
		}
	}
	if consume {
		for _, pc := range from {
			in := &d.prog.Inst[pc]
			var ok bool
			switch in.Op {
			case syntax.InstRuneAny:
				ok = true
			case syntax.InstRuneAnyNotNL:
				ok = r != '\n'
			default:
				ok = in.MatchRune(r)
			}
			if ok {
				add(in.Out)
			}
		}
	}
	add(uint32(d.prog.Start))
	slices.Sort(d.set)
	key := make([]byte, 0, 4*len(d.set)+1)
	if match {
		key = append(key, 1)
	} else {
		key = append(key, 0)
	}
	for _, pc := range d.set {
		key = append(key, byte(pc), byte(pc>>8), byte(pc>>16), byte(pc>>24))
	}
	if id, ok := d.byKey[string(key)]; ok {
		return id
	}
	if len(d.states) >= maxReStates || d.insts+len(d.set) > maxReInsts || !d.share.take(reStateBytes(len(d.set))) {
		d.full = true
		return 0
	}
	d.insts += len(d.set)
	id := int32(len(d.states))
	d.states = append(d.states, reState{insts: slices.Clone(d.set), match: match})
	d.next = append(d.next, make([]int32, utf8.RuneSelf)...)
	d.byKey[string(key)] = id
	return id
}
