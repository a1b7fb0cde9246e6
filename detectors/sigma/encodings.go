package sigma

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf16"
)

func encUTF16LE(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	return string(b)
}

func encUTF16BE(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	return string(b)
}

// base64Offsets returns the three encodings of s at byte offsets 0, 1, 2 inside a
// larger base64 text, trimmed to the characters that do not depend on the
// surrounding bytes (as pySigma does).
func base64Offsets(s string) []string {
	start := []int{0, 2, 3}
	endTrim := []int{0, 3, 2}
	var out []string
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString(append([]byte(strings.Repeat(" ", i)), s...))
		end := len(enc)
		if t := endTrim[(len(s)+i)%3]; t > 0 {
			end -= t
		}
		if start[i] >= end {
			continue
		}
		out = append(out, enc[start[i]:end])
	}
	return out
}

var dashes = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

const maxWindash = 1024

// windash returns every permutation of s where each dash-like character is
// replaced by each of -, /, en dash, em dash, horizontal bar.
func windash(s sstring) ([]sstring, error) {
	out := []sstring{nil}
	for _, t := range s {
		if t.kind != tLit {
			for i := range out {
				out[i] = append(out[i], t)
			}
			continue
		}
		// split the literal into pieces around dash characters
		var pieces []string // even: text, odd: dash slot
		cur := strings.Builder{}
		for _, r := range t.s {
			rs := string(r)
			isDash := false
			for _, d := range dashes {
				if rs == d {
					isDash = true
				}
			}
			if isDash {
				pieces = append(pieces, cur.String(), "")
				cur.Reset()
				continue
			}
			cur.WriteRune(r)
		}
		pieces = append(pieces, cur.String())
		lits := []string{""}
		for i, p := range pieces {
			if i%2 == 0 {
				for k := range lits {
					lits[k] += p
				}
				continue
			}
			var next []string
			for _, l := range lits {
				for _, d := range dashes {
					next = append(next, l+d)
				}
			}
			lits = next
			if len(lits)*len(out) > maxWindash {
				return nil, fmt.Errorf("too many dash permutations (more than %d)", maxWindash)
			}
		}
		var next []sstring
		for _, o := range out {
			for _, l := range lits {
				c := append(append(sstring{}, o...), tok{kind: tLit, s: l})
				next = append(next, c)
			}
		}
		out = next
	}
	return out, nil
}
