package corpus

import "math/bits"

// Everything random in the corpus comes from a key: a 64-bit value derived
// by hashing the seed and the names of what is being generated (an address, a
// folder, a UID ...). A key seeds a small splitmix64 generator. Both are
// written here rather than taken from math/rand so that the byte stream
// cannot change with the Go release.

type key uint64

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	golden    = 0x9e3779b97f4a7c15
)

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func seedKey(seed int64) key { return key(mix64(uint64(seed) ^ 0x6d61696c6472696c)) }

// str derives a child key named by s.
func (k key) str(s string) key {
	h := uint64(fnvOffset) ^ uint64(k)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return key(mix64(h ^ uint64(len(s))*golden))
}

// num derives a child key named by n.
func (k key) num(n uint64) key { return key(mix64(uint64(k) ^ mix64(n+golden))) }

func (k key) rng() rng { return rng{s: uint64(k)} }

// hex returns 2*n lowercase hex digits (n ≤ 16) drawn from k.
func (k key) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*n)
	a, c := mix64(uint64(k)^1), mix64(uint64(k)^2)
	for i := 0; i < n; i++ {
		v := a
		if i >= 8 {
			v = c
		}
		x := byte(v >> (8 * uint(i%8)))
		b = append(b, digits[x>>4], digits[x&15])
	}
	return string(b)
}

// rng is a splitmix64 generator. The zero value is usable.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += golden
	return mix64(r.s)
}

// intn returns a value in [0, n); n must be > 0.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func (r *rng) chance(p float64) bool { return r.float() < p }

func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

// weighted returns an index drawn with the given weights.
func (r *rng) weighted(w []int) int {
	total := 0
	for _, x := range w {
		total += x
	}
	n := r.intn(total)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	return len(w) - 1
}

// perm returns a permutation of [0, n).
func (r *rng) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
