package sigma

import (
	"net/netip"
	"strings"
	"testing"
)

// refPatternMatch is pattern.match as it was before the ASCII-prefix fast
// path: the whole value tested for ASCII, lower-cased if it is not.
func refPatternMatch(p *pattern, v string) bool {
	fold := !p.cased
	if fold && !isASCII(v) {
		v = strings.ToLower(v)
		fold = false
	}
	switch p.kind {
	case pAny:
		return true
	case pExact:
		return len(v) == len(p.lit) && eqFold(v, p.lit, fold)
	case pPrefix:
		return len(v) >= len(p.lit) && eqFold(v[:len(p.lit)], p.lit, fold)
	case pSuffix:
		return len(v) >= len(p.lit) && eqFold(v[len(v)-len(p.lit):], p.lit, fold)
	case pContains:
		return indexFold(v, p.lit, fold) >= 0
	}
	return globMatch(p.segs, v, fold)
}

func TestPatternFoldPrefix(t *testing.T) {
	cases := []struct {
		pat, v string
		want   bool
	}{
		{"failure", "failure", true},
		{"failure", "FAILURE", true},
		{"failure", "failures", false},
		{"failure", "failur", false},
		{"failure", "", false},
		{"", "", true},
		{"", "x", false},
		{"", "é", false},
		{"k", "\u212a", true}, // the Kelvin sign lower-cases to k
		{"k*", "\u212axyz", true},
		{"ok", "o\u212a", true},
		{"ok", "O\u212aé", false},
		{"ok*", "O\u212aé", true},
		{"café", "CAFÉ", true},
		{"café", "CAFé", true},
		{"café*", "CAFÉS", true},
		{"ab*", "AB", true},
		{"ab*", "A", false},
		{"ab*", "xé", false},
		{"ix", "İX", true}, // İ lower-cases to i
	}
	for _, c := range cases {
		p := compilePattern(parseSigmaString(c.pat), false)
		if got := p.match(c.v); got != c.want {
			t.Errorf("%q on %q: got %v, want %v", c.pat, c.v, got, c.want)
		}
		if ref := refPatternMatch(p, c.v); ref != c.want {
			t.Errorf("%q on %q: reference says %v, want %v", c.pat, c.v, ref, c.want)
		}
	}
}

func FuzzPatternFold(f *testing.F) {
	for _, s := range [][2]string{{"failure", "FAILURE"}, {"k*", "\u212ax"}, {"café", "CAFÉ"}, {"ab*", "a"}, {"x", "\xff"}} {
		f.Add(s[0], s[1], false)
	}
	f.Fuzz(func(t *testing.T, pat, v string, cased bool) {
		p := compilePattern(parseSigmaString(pat), cased)
		if got, want := p.match(v), refPatternMatch(p, v); got != want {
			t.Fatalf("%q (cased %v) on %q: got %v, want %v", pat, cased, v, got, want)
		}
	})
}

func TestParseIPv4(t *testing.T) {
	for _, s := range []string{"10.20.0.1", "0.0.0.0", "255.255.255.255", "127.0.0.1", "1.2.3.4"} {
		a, ok := parseIPv4(s)
		if !ok || a != netip.MustParseAddr(s) {
			t.Errorf("%q: got %v %v", s, a, ok)
		}
	}
	for _, s := range []string{"", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.256", "1..3.4", ".1.2.3", "1.2.3.", "::1",
		"::ffff:1.2.3.4", "1.2.3.4%eth0", " 1.2.3.4", "1.2.3.00", "1.2.3.1000", "999.1.1.1"} {
		if a, ok := parseIPv4(s); ok {
			t.Errorf("%q: parsed as %v", s, a)
		}
	}
}

func FuzzParseIPv4(f *testing.F) {
	for _, s := range []string{"10.20.0.1", "01.2.3.4", "1.2.3.256", "::ffff:1.2.3.4", "1.2.3", "0.0.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := parseIPv4(s)
		b, err := netip.ParseAddr(s)
		if ok && (err != nil || a != b) {
			t.Fatalf("%q: parseIPv4 %v, netip %v %v", s, a, b, err)
		}
		if !ok && err == nil && b.Is4() {
			t.Fatalf("%q: netip parses IPv4 %v, parseIPv4 does not", s, b)
		}
	})
}

func refIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestIsASCII(t *testing.T) {
	base := "abcdefghijklmnopqrstuvwxyz0123456789"
	for n := 0; n <= len(base); n++ {
		s := base[:n]
		if !isASCII(s) {
			t.Fatalf("%q: not ASCII?", s)
		}
		for i := 0; i < n; i++ { // a non-ASCII byte at every position
			b := []byte(s)
			b[i] = 0x80 | byte(i)
			if isASCII(string(b)) {
				t.Fatalf("%q: ASCII?", b)
			}
		}
	}
}

func FuzzIsASCII(f *testing.F) {
	f.Add("hello")
	f.Add("café au lait, s'il vous plaît")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isASCII(s), refIsASCII(s); got != want {
			t.Fatalf("%q: got %v, want %v", s, got, want)
		}
	})
}

// Several contains values in one pass (multiContainsM) decide as the
// values one by one (a contains pattern each), on ASCII and other values.
func FuzzMultiContains(f *testing.F) {
	f.Add("body[]|rfc822|binary[]", "UID FLAGS RFC822.SIZE")
	f.Add("body[]|body.peek[]", "uid BODY.PEEK[]")
	f.Add("ab|k", "x\u212aé")
	f.Add("ss|xé", "ſs")
	f.Fuzz(func(t *testing.T, lits, v string) {
		var ls []string
		for _, l := range strings.Split(strings.ToLower(lits), "|") {
			if l != "" && isASCII(l) {
				ls = append(ls, l)
			}
		}
		if len(ls) == 0 {
			return
		}
		want := false
		for _, l := range ls {
			want = want || compilePattern(literal(l).wrap(true, true), false).match(v)
		}
		if got := newMultiContains(ls).match(v, nil); got != want {
			t.Fatalf("%q in %q: %v, one by one %v", ls, v, got, want)
		}
	})
}
