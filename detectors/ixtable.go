package detectors

import "math/bits"

// ixTable finds an index value's bucket: open addressing over a table of
// a power of two slots, hashed on the value's length and its first and
// last eight bytes (index values are short, distinct action names). Each
// slot holds those of its key: a value of at most 16 bytes (most action
// names) is the key when they are equal; longer ones are compared in
// full. It answers as a map[string]*bucket of the same buckets does, in
// fewer instructions.
type ixTable struct {
	slots  []ixSlot
	shift  uint // 64 - log2(len(slots))
	misses int  // entries of noBucket held
}

// ixSlot is a bucket with the length and the first and last eight bytes
// of its key (ixWords); b nil: empty.
type ixSlot struct {
	n          int
	head, tail uint64
	b          *bucket
}

// maxMisses bounds the values without a bucket the table remembers.
const maxMisses = 32

func newIxTable(index map[string]*bucket) ixTable {
	n := 8
	for n < 2*(len(index)+maxMisses) {
		n *= 2
	}
	t := ixTable{slots: make([]ixSlot, n), shift: uint(64 - bits.TrailingZeros(uint(n)))}
	for _, b := range index {
		t.put(b)
	}
	return t
}

func (t *ixTable) put(b *bucket) {
	mask := uint64(len(t.slots) - 1)
	head, tail := ixWords(b.key)
	i := ixHash(len(b.key), head, tail) >> t.shift
	for t.slots[i].b != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = ixSlot{n: len(b.key), head: head, tail: tail, b: b}
}

// addMiss remembers that s selects no bucket, as is or lower-cased (get
// returns a bucket with miss set for it then), for the first maxMisses such values.
// The table keeps at least half of its slots empty.
func (t *ixTable) addMiss(s string) {
	if t.misses >= maxMisses || len(t.slots) == 0 {
		return
	}
	t.misses++
	t.put(&bucket{key: s, miss: true})
}

// get returns the bucket whose key is s (a bucket with miss set: s is
// known to select none), nil when none is known.
func (t *ixTable) get(s string) *bucket {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	n := len(s)
	head, tail := ixWords(s)
	for i := ixHash(n, head, tail) >> t.shift; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.b == nil {
			return nil
		}
		if sl.n == n && sl.head == head && sl.tail == tail && (n <= 16 || sl.b.key == s) {
			return sl.b
		}
	}
}

// ixWords returns the first and last eight bytes of s (little endian);
// a shorter s is all in head.
func ixWords(s string) (head, tail uint64) {
	n := len(s)
	if n >= 8 {
		return le64(s[:8]), le64(s[n-8:])
	}
	for i := n - 1; i >= 0; i-- {
		head = head<<8 | uint64(s[i])
	}
	return head, 0
}

func ixHash(n int, head, tail uint64) uint64 {
	const m = 0x9e3779b97f4a7c15
	h := uint64(n) * m
	h = (h ^ head) * m
	h = (h ^ tail) * m
	return h ^ h>>29
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
