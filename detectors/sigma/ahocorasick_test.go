package sigma

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestAhoCorasick checks the automaton against strings.Contains on random
// patterns and texts over a small alphabet (many overlaps, shared
// prefixes and suffixes; upper-case letters in the texts, which it
// folds), with table limits that cut the patterns at every depth (the
// trie walk beyond the table's depth).
func TestAhoCorasick(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc\\x"[r.IntN(5)]
		}
		return string(b)
	}
	text := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc\\xABC\xe9"[r.IntN(9)]
		}
		return string(b)
	}
	for round := 0; round < 300; round++ {
		pats := make([]string, 1+r.IntN(30))
		for i := range pats {
			pats[i] = word(r.IntN(6))
		}
		a := newACLimit(pats, []int{0, 1 << 20, 300, 1000}[round%4])
		for k := 0; k < 20; k++ {
			text := text(r.IntN(40))
			var got []int32
			scanAC(a, text, func(p int32) {
				if !slices.Contains(got, p) {
					got = append(got, p)
				}
			})
			slices.Sort(got)
			var want []int32
			for i, p := range pats {
				if p != "" && strings.Contains(lowerText(text), p) {
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

// lowerText lowers the ASCII letters of s.
func lowerText(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerASCII(c)
	}
	return string(b)
}

// FuzzAhoCorasick: the automaton against strings.Contains, patterns
// separated by newlines, with a table limit from the input.
func FuzzAhoCorasick(f *testing.F) {
	f.Add("abc\nbc\nc", "xxABCxx", uint16(0))
	f.Add("\\perfc.dat\n.exe", "C:\\Windows\\perfc.dat a.EXE", uint16(300))
	f.Add("a\x80\nz", "A\x80Z", uint16(2000))
	f.Fuzz(func(t *testing.T, pats, text string, limit uint16) {
		ps := strings.Split(pats, "\n")
		if len(ps) > 50 {
			ps = ps[:50]
		}
		a := newACLimit(ps, int(limit))
		var got []int32
		scanAC(a, text, func(p int32) {
			if !slices.Contains(got, p) {
				got = append(got, p)
			}
		})
		slices.Sort(got)
		var want []int32
		lt := lowerText(text)
		for i, p := range ps {
			if p != "" && strings.Contains(lt, p) {
				want = append(want, int32(i))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("patterns %q in %q (limit %d): got %v, want %v", ps, text, limit, got, want)
		}
		// appendAll finds the same, reported through ids
		ids := make([]int32, len(ps))
		for i := range ids {
			ids[i] = int32(1000 + i)
		}
		var all []int32
		for _, id := range a.appendAll([]byte(text), ids, nil) {
			if p := id - 1000; !slices.Contains(all, p) {
				all = append(all, p)
			}
		}
		slices.Sort(all)
		if !slices.Equal(all, want) {
			t.Fatalf("appendAll: patterns %q in %q (limit %d): got %v, want %v", ps, text, limit, all, want)
		}
	})
}

// TestAppendFoldNonASCII: the prefilter's folding into a buffer is
// strings.ToLower with ſ as s, on tricky and random strings.
func TestAppendFoldNonASCII(t *testing.T) {
	ref := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "ſ", "s") }
	cases := []string{"", "abc", "ÀÉÎ", "KELVIN \u212a", "ſtop", "İstanbul", "ΣΑΣ", "\xff\xfeA", "a\xc3", "Microsoft® Windows®", "\u0130\u212a\u017f"}
	r := rand.New(rand.NewPCG(3, 5))
	for range 2000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			alpha := "aZ\xc3\xa9\xe2\x84\xaa\xc5\xbf\xff\x80 "
			b[i] = alpha[r.IntN(len(alpha))]
		}
		cases = append(cases, string(b))
	}
	var buf []byte
	for _, s := range cases {
		buf = appendFoldNonASCII(buf[:0], s)
		if got, want := string(buf), ref(s); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	}
}

// TestLowerInto: the prefilter's eight-bytes-at-a-time lower-casing is
// lowerASCII byte by byte, and tells ASCII from not, at every length and
// every position of a non-ASCII byte.
func TestLowerInto(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	alpha := "@AZ[`az{\x00\x7f09 \\.MmQq"
	for n := 0; n < 40; n++ {
		for range 200 {
			b := make([]byte, n)
			for i := range b {
				b[i] = alpha[r.IntN(len(alpha))]
			}
			if n > 0 && r.IntN(3) == 0 {
				b[r.IntN(n)] = byte(0x80 + r.IntN(128))
			}
			s := string(b)
			want := make([]byte, n)
			ascii := true
			for i := range n {
				want[i] = lowerASCII(s[i])
				if s[i] >= 0x80 {
					ascii = false
				}
			}
			got := make([]byte, n)
			if ok := lowerInto(got, s); ok != ascii {
				t.Fatalf("%q: ascii %v, want %v", s, ok, ascii)
			} else if ok && string(got) != string(want) {
				t.Fatalf("%q: got %q, want %q", s, got, want)
			}
		}
	}
	// every byte value in every lane
	for c := 0; c < 128; c++ {
		s := strings.Repeat(string(rune(c)), 11)
		got := make([]byte, len(s))
		if !lowerInto(got, s) || string(got) != strings.Repeat(string(lowerASCII(byte(c))), 11) {
			t.Fatalf("byte %#x: got %q", c, got)
		}
	}
}
