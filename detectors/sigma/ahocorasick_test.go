package sigma

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestAhoCorasick checks the automaton against strings.Contains on random
// patterns and texts over a small alphabet (many overlaps, shared
// prefixes and suffixes).
func TestAhoCorasick(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc\\x"[r.IntN(5)]
		}
		return string(b)
	}
	for round := 0; round < 300; round++ {
		pats := make([]string, 1+r.IntN(30))
		for i := range pats {
			pats[i] = word(r.IntN(6))
		}
		a := newAC(pats)
		for k := 0; k < 20; k++ {
			text := word(r.IntN(40))
			var got []int32
			scanAC(a, text, func(p int32) {
				if !slices.Contains(got, p) {
					got = append(got, p)
				}
			})
			slices.Sort(got)
			var want []int32
			for i, p := range pats {
				if p != "" && strings.Contains(text, p) {
					want = append(want, int32(i))
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("patterns %q in %q: got %v, want %v", pats, text, got, want)
			}
			var gotB []int32
			scanAC(a, []byte(text), func(p int32) {
				if !slices.Contains(gotB, p) {
					gotB = append(gotB, p)
				}
			})
			slices.Sort(gotB)
			if !slices.Equal(gotB, want) {
				t.Fatalf("patterns %q in []byte %q: got %v, want %v", pats, text, gotB, want)
			}
		}
	}
}
