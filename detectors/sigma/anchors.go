package sigma

import (
	"encoding/binary"
	"math/bits"
	"sort"
	"unsafe"
)

// anchorSet finds which of many literals occur in a text, with tables that
// stay small however many literals there are (a field's Aho–Corasick
// table over thousands of literals is megabytes, and a scan of it one
// cache miss per byte):
//
//   - every literal of at least anchorLen bytes has an anchor: one of its
//     anchorLen-byte substrings (chosen so that few literals share one,
//     and of bytes less common in command lines and paths), at an offset
//     in the literal. The text's every anchorLen-byte window is hashed and
//     looked up in a bitmap of the anchors' hashes (a few bits per anchor:
//     tens of kilobytes at most); a window whose bit is set is looked up
//     in a table of the anchors, and each literal anchored there is
//     compared with the text where it would start;
//   - the shorter literals are in an Aho–Corasick automaton of their own
//     (its table is small: they are at most anchorLen-1 bytes deep).
//
// The text is given folded (ASCII letters lower case), as the literals
// are; a literal is reported when it occurs, by its index.
type anchorSet struct {
	lits    []string
	short   *acAutomaton // the literals shorter than anchorLen
	shortID []int32      // short's pattern → literal
	bitmap  []uint64     // bit gramHash(anchor, bshift) of every anchor
	bshift  uint         // 64 - log2 of the bitmap's bits
	slots   []anchorSlot // open addressing on the anchor, by slotHash
	sshift  uint
	ents    []anchorEnt // the literals of each anchor (slot lo:hi)
}

// anchorSlot: the anchor gram's literals are ents[lo:hi]; hi == 0: empty.
type anchorSlot struct {
	gram   uint32
	lo, hi int32
}

// anchorEnt: literal lit has its anchor at offset off.
type anchorEnt struct {
	lit, off int32
}

const anchorLen = 4

// gramHash mixes every bit of g into the high bits of a 64-bit product,
// and returns the top 64-shift of them (a bit of the bitmap).
func gramHash(g uint32, shift uint) uint64 { return uint64(g) * 0x9E3779B97F4A7C15 >> (shift & 63) }

// bitSet reports whether bit h of bm is set, without a bounds check: h
// is a gramHash, below the bitmap's bits (len(bm)*64 = 1<<(64-shift)).
func bitSet(bm []uint64, h uint64) bool {
	w := *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(bm)), h>>6*8))
	return w&(1<<(h&63)) != 0
}

func slotHash(g uint32) uint32 { return (g ^ g>>15) * 0x85EBCA77 }

// gramCost weighs a candidate anchor: bytes common in command lines and
// paths cost more.
func gramCost(s string) int {
	c := 0
	for i := 0; i < anchorLen; i++ {
		switch b := s[i]; {
		case b == ' ' || b == '\\' || b == '.' || b == '-' || b == '/' || b == ':' || b == '"':
			c += 6
		case b == 'e' || b == 't' || b == 'a' || b == 'o' || b == 'i' || b == 'n' || b == 's' || b == 'r' || b == 'l' || b == 'c' || b == 'x' || b == 'm' || b == 'd' || b == 'w':
			c += 4
		case b >= 'a' && b <= 'z' || b >= '0' && b <= '9':
			c += 2
		default:
			c++
		}
	}
	return c
}

// newAnchorSet builds the set of lits (folded); empty literals are
// ignored.
func newAnchorSet(lits []string) *anchorSet {
	a := &anchorSet{lits: lits}
	var short []string
	order := make([]int, 0, len(lits))
	for i, l := range lits {
		switch {
		case l == "":
		case len(l) < anchorLen:
			short = append(short, l)
			a.shortID = append(a.shortID, int32(i))
		default:
			order = append(order, i)
		}
	}
	if len(short) > 0 {
		a.short = newAC(short)
	}
	// the literals with the fewest choices first
	sort.SliceStable(order, func(x, y int) bool { return len(lits[order[x]]) < len(lits[order[y]]) })
	type pick struct {
		gram     uint32
		lit, off int32
	}
	picks := make([]pick, 0, len(order))
	// how many literals have each gram: a gram common among the literals
	// (".exe", "\\win") is likely common in the texts too
	freq := map[uint32]int{}
	seen := map[uint32]int{}
	for k, i := range order {
		l := lits[i]
		for o := 0; o+anchorLen <= len(l); o++ {
			if g := le32(l[o:]); seen[g] != k+1 {
				seen[g] = k + 1
				freq[g]++
			}
		}
	}
	load := map[uint32]int{}
	for _, i := range order {
		l := lits[i]
		best, cost := 0, -1
		for o := 0; o+anchorLen <= len(l); o++ {
			g := le32(l[o:])
			c := (load[g] + freq[g]) * gramCost(l[o:])
			if cost < 0 || c < cost {
				best, cost = o, c
			}
		}
		g := le32(l[best:])
		load[g]++
		picks = append(picks, pick{g, int32(i), int32(best)})
	}
	if len(picks) == 0 {
		return a
	}
	sort.Slice(picks, func(x, y int) bool {
		if picks[x].gram != picks[y].gram {
			return picks[x].gram < picks[y].gram
		}
		return picks[x].lit < picks[y].lit
	})
	grams := len(load)
	// about 1 bit in 32 set: a window not an anchor passes the bitmap
	// about 3% of the time
	lb := min(max(9, bits.Len(uint(grams*32-1))), 32)
	a.bitmap = make([]uint64, 1<<lb/64)
	a.bshift = uint(64 - lb)
	ls := max(2, bits.Len(uint(grams*2-1)))
	a.slots = make([]anchorSlot, 1<<ls)
	a.sshift = uint(32 - ls)
	a.ents = make([]anchorEnt, len(picks))
	for i := 0; i < len(picks); {
		g := picks[i].gram
		j := i
		for ; j < len(picks) && picks[j].gram == g; j++ {
			a.ents[j] = anchorEnt{picks[j].lit, picks[j].off}
		}
		h := gramHash(g, a.bshift)
		a.bitmap[h>>6] |= 1 << (h & 63)
		s := slotHash(g) >> a.sshift
		for a.slots[s].hi != 0 {
			s = (s + 1) & uint32(len(a.slots)-1)
		}
		a.slots[s] = anchorSlot{g, int32(i), int32(j)}
		i = j
	}
	return a
}

// le32 is the little-endian value of s's first four bytes.
func le32[T ~string | ~[]byte](s T) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// scanLong appends to out the literals of at least anchorLen bytes in t
// (folded); a literal occurring several times may be appended several
// times.
func (a *anchorSet) scanLong(t []byte, out []int32) []int32 {
	if len(a.slots) == 0 {
		return out
	}
	for i := 0; i+anchorLen <= len(t); i++ {
		if i = a.nextSet(t, i); i+anchorLen > len(t) {
			break
		}
		out = a.verify(t, i, le32(t[i:]), out)
	}
	return out
}

// nextSet returns the offset, from i, of the first window of t whose bit
// is set (len(t): none). Eight bytes are read at once, the five windows
// they hold tested one after the other (not rolled a byte at a time). It
// is not inlined: in a loop without calls its variables stay in
// registers.
//
//go:noinline
func (a *anchorSet) nextSet(t []byte, i int) int {
	bm, sh := a.bitmap, a.bshift
	i = max(i, 0)
	for ; i+8 <= len(t); i += 5 {
		x := binary.LittleEndian.Uint64(t[i:])
		switch {
		case bitSet(bm, gramHash(uint32(x), sh)):
			return i
		case bitSet(bm, gramHash(uint32(x>>8), sh)):
			return i + 1
		case bitSet(bm, gramHash(uint32(x>>16), sh)):
			return i + 2
		case bitSet(bm, gramHash(uint32(x>>24), sh)):
			return i + 3
		case bitSet(bm, gramHash(uint32(x>>32), sh)):
			return i + 4
		}
	}
	for ; i+anchorLen <= len(t); i++ {
		if bitSet(bm, gramHash(le32(t[i:]), sh)) {
			return i
		}
	}
	return len(t)
}

// verify: the window of t at i is g, whose bit is set; the literals
// anchored at g that occur there.
func (a *anchorSet) verify(t []byte, i int, g uint32, out []int32) []int32 {
	mask := uint32(len(a.slots) - 1)
	for s := slotHash(g) >> a.sshift; ; s = (s + 1) & mask {
		sl := &a.slots[s]
		if sl.hi == 0 {
			return out
		}
		if sl.gram != g {
			continue
		}
		for _, e := range a.ents[sl.lo:sl.hi] {
			l := a.lits[e.lit]
			j := i - int(e.off)
			if j >= 0 && j+len(l) <= len(t) && string(t[j:j+len(l)]) == l {
				out = append(out, e.lit)
			}
		}
		return out
	}
}

// scan appends to out every literal in t (folded).
func (a *anchorSet) scan(t []byte, out []int32) []int32 {
	if a.short != nil {
		out = a.short.appendAll(t, a.shortID, out)
	}
	return a.scanLong(t, out)
}

// size is an estimate of the bytes the set holds (the literals are the
// prefilter's).
func (a *anchorSet) size() int {
	b := 8*len(a.bitmap) + 12*len(a.slots) + 8*len(a.ents) + 4*len(a.shortID)
	if a.short != nil {
		b += a.short.size()
	}
	return b
}
