package detectors

import "math/bits"

// ixTable finds an index value's bucket: open addressing over a table of
// a power of two slots, hashed on the value's length and its first and
// last eight bytes (index values are short, distinct action names), the
// key compared in full. It answers as a map[string]*bucket of the same
// buckets does, in fewer instructions.
type ixTable struct {
	slots  []*bucket
	shift  uint // 64 - log2(len(slots))
	misses int  // entries of noBucket held
}

// maxMisses bounds the values without a bucket the table remembers.
const maxMisses = 32

func newIxTable(index map[string]*bucket) ixTable {
	n := 8
	for n < 2*(len(index)+maxMisses) {
		n *= 2
	}
	t := ixTable{slots: make([]*bucket, n), shift: uint(64 - bits.TrailingZeros(uint(n)))}
	mask := uint64(n - 1)
	for k, b := range index {
		i := ixHash(k) >> t.shift
		for t.slots[i] != nil {
			i = (i + 1) & mask
		}
		t.slots[i] = b
	}
	return t
}

// addMiss remembers that s selects no bucket, as is or lower-cased (get
// returns a bucket with miss set for it then), for the first maxMisses such values.
// The table keeps at least half of its slots empty.
func (t *ixTable) addMiss(s string) {
	if t.misses >= maxMisses || len(t.slots) == 0 {
		return
	}
	t.misses++
	mask := uint64(len(t.slots) - 1)
	i := ixHash(s) >> t.shift
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = &bucket{key: s, miss: true}
}

// get returns the bucket whose key is s (a bucket with miss set: s is
// known to select none), nil when none is known.
func (t *ixTable) get(s string) *bucket {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := ixHash(s) >> t.shift; ; i = (i + 1) & mask {
		b := t.slots[i]
		if b == nil || b.key == s {
			return b
		}
	}
}

func ixHash(s string) uint64 {
	const m = 0x9e3779b97f4a7c15
	h := uint64(len(s)) * m
	if n := len(s); n >= 8 {
		h = (h ^ le64(s[:8])) * m
		h = (h ^ le64(s[n-8:])) * m
	} else {
		for i := 0; i < n; i++ {
			h = (h ^ uint64(s[i])) * m
		}
	}
	return h ^ h>>29
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
