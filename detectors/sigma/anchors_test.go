package sigma

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// anchorWant: the literals of lits in t (folded), by strings.Contains.
func anchorWant(lits []string, t string) []int32 {
	var want []int32
	for i, l := range lits {
		if l != "" && strings.Contains(t, l) {
			want = append(want, int32(i))
		}
	}
	return want
}

func anchorGot(a *anchorSet, t string) []int32 {
	var got []int32
	for _, k := range a.scan([]byte(t), nil) {
		if !slices.Contains(got, k) {
			got = append(got, k)
		}
	}
	slices.Sort(got)
	return got
}

// TestAnchorSet: the literals found are those strings.Contains finds, over
// random literals sharing anchors (a small alphabet) and random texts.
func TestAnchorSet(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for _, alpha := range []string{"ab", "abc \\.", "abcdefghij\x80\xc3"} {
		for range 200 {
			lits := make([]string, 1+r.IntN(120))
			for i := range lits {
				b := make([]byte, r.IntN(9))
				for j := range b {
					b[j] = alpha[r.IntN(len(alpha))]
				}
				lits[i] = string(b)
			}
			a := newAnchorSet(lits)
			for range 20 {
				b := make([]byte, r.IntN(40))
				for j := range b {
					b[j] = alpha[r.IntN(len(alpha))]
				}
				if r.IntN(2) == 0 && len(lits[0]) > 0 {
					b = append(b, lits[r.IntN(len(lits))]...)
				}
				text := string(b)
				if got, want := anchorGot(a, text), anchorWant(lits, text); !slices.Equal(got, want) {
					t.Fatalf("literals %q in %q: got %v, want %v", lits, text, got, want)
				}
			}
		}
	}
}

// FuzzAnchorSet: the anchor set against strings.Contains, literals
// separated by newlines (the text folded as the prefilter folds it).
func FuzzAnchorSet(f *testing.F) {
	f.Add("abcd\nbcde\nc\nxyz\n.exe", "xxABCDExx")
	f.Add("\\perfc.dat\n.exe\n \\perfc", "C:\\Windows\\perfc.dat a.EXE")
	f.Add("aaaa\naaaaa\naaa\naaaab", "aaaaaaab")
	f.Fuzz(func(t *testing.T, lits, text string) {
		ls := strings.Split(lits, "\n")
		if len(ls) > 200 {
			ls = ls[:200]
		}
		a := newAnchorSet(ls)
		lt := lowerText(text)
		if got, want := anchorGot(a, lt), anchorWant(ls, lt); !slices.Equal(got, want) {
			t.Fatalf("literals %q in %q: got %v, want %v", ls, lt, got, want)
		}
	})
}
