package correlation

import (
	"hash/maphash"
)

// keySeed seeds the hashes of group keys (the same for every State, so
// that a caller feeding several correlations one key hashes it once: see
// HashKey and Input.KeyHash).
var keySeed = maphash.MakeSeed()

// HashKey returns the hash of a group key given as bytes, for
// Input.KeyHash.
func HashKey(key []byte) uint64 { return maphash.Bytes(keySeed, key) }

// gtable holds a State's groups by key: open addressing with linear
// probing over a power of two of slots, each with its group's hash
// (compared before the key), deletions shifting the following entries
// back (no tombstones). It is never iterated: the order of its slots does
// not show in the results.
type gtable struct {
	slots []gslot
	n     int
}

type gslot struct {
	h uint64
	g *group // nil: empty
}

func (t *gtable) len() int { return t.n }

// get returns the group of key (hash h), nil when none.
func (t *gtable) get(key string, h uint64) *group { return gtLookup(t, key, h) }

// getBytes is get for a key given as bytes.
func (t *gtable) getBytes(key []byte, h uint64) *group { return gtLookup(t, key, h) }

func gtLookup[K ~string | ~[]byte](t *gtable, key K, h uint64) *group {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.g == nil {
			return nil
		}
		if sl.h == h && sl.g.key == string(key) {
			return sl.g
		}
	}
}

// put adds g (not held yet; g.h is the hash of g.key).
func (t *gtable) put(g *group) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	i := g.h & mask
	for t.slots[i].g != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = gslot{h: g.h, g: g}
	t.n++
}

func (t *gtable) grow() {
	old := t.slots
	n := max(16, 2*len(old))
	t.slots = make([]gslot, n)
	mask := uint64(n - 1)
	for _, sl := range old {
		if sl.g == nil {
			continue
		}
		i := sl.h & mask
		for t.slots[i].g != nil {
			i = (i + 1) & mask
		}
		t.slots[i] = sl
	}
}

// del removes g if it is held.
func (t *gtable) del(g *group) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := g.h & mask
	for {
		sl := t.slots[i]
		if sl.g == nil {
			return // not held
		}
		if sl.g == g {
			break
		}
		i = (i + 1) & mask
	}
	// shift back the entries after i that probing would no longer reach
	t.slots[i] = gslot{}
	t.n--
	for j := (i + 1) & mask; t.slots[j].g != nil; j = (j + 1) & mask {
		k := t.slots[j].h & mask // where that entry's probe starts
		// it stays if k lies cyclically in (i, j]
		if (i < j && i < k && k <= j) || (i > j && (i < k || k <= j)) {
			continue
		}
		t.slots[i], t.slots[j] = t.slots[j], gslot{}
		i = j
	}
}
