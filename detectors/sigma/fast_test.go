package sigma

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// indexFold finds the first case-insensitive occurrence of a lower-cased
// literal in ASCII text, as strings.Index on the lower-cased text does.
func TestIndexFold(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	alpha := "aAbB\\\\.. -/cC"
	rnd := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}
	for i := 0; i < 20000; i++ {
		v, lit := rnd(r.IntN(30)), strings.ToLower(rnd(1+r.IntN(5)))
		if got, want := indexFold(v, lit, true), strings.Index(strings.ToLower(v), lit); got != want {
			t.Fatalf("indexFold(%q, %q) = %d, want %d", v, lit, got, want)
		}
	}
}

// The prefilter skips a value without its automaton's skip byte (never a
// letter) before folding it: folding must neither add nor remove an ASCII
// byte that is not a letter.
func TestFoldMakesNoASCIINonLetter(t *testing.T) {
	for c := rune(0x80); c <= unicode.MaxRune; c++ {
		l := unicode.ToLower(c)
		if l == 'ſ' {
			l = 's'
		}
		if l < 0x80 && !('a' <= l && l <= 'z') {
			t.Fatalf("%U folds to %q", c, l)
		}
	}
	if got := string(appendFoldNonASCII(nil, "\\PERFC.dat\u212a\xff")); got != "\\perfc.datk\ufffd" {
		t.Fatalf("folded to %q", got)
	}
}

// Prefilter.Event answers the fields the prefilter read, and the others,
// as the event does; the rules match on it as on the event.
func TestPrefilterEvent(t *testing.T) {
	o := Options{Intern: map[string]string{}}
	ms := []*Matcher{
		mustMatcher(t, detection("  sel:\n    Image|endswith: '\\cmd.exe'\n    CommandLine|contains: ' /c '\n  condition: sel"), o),
		mustMatcher(t, detection("  sel:\n    User: admin\n  condition: sel"), o),
		mustMatcher(t, detection("  kw:\n    - 'perfc'\n  condition: kw"), o),
	}
	p := NewPrefilter(ms)
	evs := []tev{
		{"Image": "C:\\Windows\\CMD.EXE", "CommandLine": "cmd /c whoami", "User": "x"},
		{"Image": "C:\\cmd.exe", "User": "ADMIN", "Other": "perfc.dat"},
		{"CommandLine": nil, "Other": 3.5},
	}
	for _, ev := range evs {
		bits := p.Candidates(ev)
		pe := p.Event()
		for _, name := range []string{o.InternName("Image"), o.InternName("CommandLine"), o.InternName("User"), "Image", "Other", "Missing"} {
			gv, gok := pe.Field(name)
			wv, wok := ev.Field(name)
			if gok != wok || gv != wv {
				t.Fatalf("%v: Field(%q) = %v %v, want %v %v", ev, name, gv, gok, wv, wok)
			}
		}
		n := 0
		pe.(FieldRanger).RangeFields(func(string, any) bool { n++; return true })
		if n != len(ev) {
			t.Fatalf("%v: RangeFields gave %d fields", ev, n)
		}
		for i, m := range ms {
			if got, want := m.Match(pe), m.Match(ev); got != want {
				t.Fatalf("%v: rule %d matches the prefilter's event: %v, the event: %v", ev, i, got, want)
			}
			if m.Match(ev) && bits[i/64]&(1<<(i%64)) == 0 {
				t.Fatalf("%v: rule %d matches but is left out", ev, i)
			}
		}
	}
}

// A list of equality, prefix or suffix values decides as its values one
// by one.
func TestMultiAnchored(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alpha := "aAbB\\.eExX1"
	rnd := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}
	for _, kind := range []int{pExact, pPrefix, pSuffix} {
		for round := 0; round < 200; round++ {
			var lits []string
			var one []*strM
			for i := 0; i < 2+r.IntN(6); i++ {
				l := strings.ToLower(rnd(1 + r.IntN(4)))
				lits = append(lits, l)
				one = append(one, &strM{p: &pattern{kind: kind, lit: l}})
			}
			m := newMultiAnchored(kind, lits)
			vals := []any{true, false, 12.5, nil, "é" + lits[0], strings.ToUpper(lits[0]) + "É", "É" + strings.ToUpper(lits[0])}
			for i := 0; i < 50; i++ {
				vals = append(vals, rnd(r.IntN(7)))
			}
			for _, v := range vals {
				want := false
				for _, s := range one {
					want = want || s.match(v, nil)
				}
				if got := m.match(v, nil); got != want {
					t.Fatalf("kind %d, %q on %#v: %v, one by one %v", kind, lits, v, got, want)
				}
			}
		}
	}
}

// Wildcard patterns match as the regular expression they stand for.
func TestGlobAgreesWithRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	alpha := "aAbB|.é"
	rnd := func(n int, glob bool) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			if glob && r.IntN(4) == 0 {
				b.WriteByte("*?"[r.IntN(2)])
				continue
			}
			b.WriteString(string([]rune(alpha)[r.IntN(7)]))
		}
		return b.String()
	}
	for i := 0; i < 3000; i++ {
		g := rnd(1+r.IntN(7), true)
		cased := r.IntN(3) == 0
		p := compilePattern(parseSigmaString(g), cased)
		var re strings.Builder
		if !cased {
			re.WriteString("(?i)")
		}
		re.WriteString(`^(?s:`)
		for _, c := range g {
			switch c {
			case '*':
				re.WriteString(".*")
			case '?':
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString(")$")
		x := regexp.MustCompile(re.String())
		for j := 0; j < 30; j++ {
			v := rnd(r.IntN(12), false)
			if got, want := p.match(v), x.MatchString(v); got != want {
				t.Fatalf("%q (cased %v) on %q: %v, %s says %v", g, cased, v, got, re.String(), want)
			}
		}
	}
}

// A list of regular expressions is one alternation, and matches as its
// expressions one by one.
func TestRegexpList(t *testing.T) {
	for _, last := range []string{"x{2}", "x{2}$"} { // $: no automaton, no alternation
		m := mustMatcher(t, detection("  sel:\n    CommandLine|re:\n      - 'ipconfig\\s+/all'\n      - '(?i)ARP\\s+-a'\n      - '"+last+"'\n  condition: sel"), Options{})
		alt := len(m.searches["sel"].maps[0][0].groups) == 1
		if alt != (last == "x{2}") {
			t.Fatalf("%s: one alternation: %v", last, alt)
		}
		for v, want := range map[string]bool{
			"ipconfig  /all": true, "IPCONFIG /all": false, "arp -a": true, "c:\\arp\t-A": true, "xx": true, "": false, "é arp -a": true,
		} {
			if got := m.Match(tev{"CommandLine": v}); got != want {
				t.Fatalf("%s: %q: %v, want %v", last, v, got, want)
			}
		}
	}
}

// TestIsASCII: isASCII (and the prefilter's asciiOnly) at every length up
// to 40, with a non-ASCII byte at every position or none.
func TestIsASCIIEveryPosition(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for at := -1; at < n; at++ {
			b := []byte(strings.Repeat("aZ\x7f0", 10)[:n])
			if at >= 0 {
				b[at] = 0x80 | byte(at)
			}
			s := string(b)
			if got, want := isASCII(s), at < 0; got != want {
				t.Fatalf("isASCII(%q) = %v", s, got)
			}
		}
	}
}

// TestAnchoredAgainstToLower: prefix, suffix and exact patterns, alone and
// as a multiAnchoredM, agree with strings.ToLower then a comparison, on
// values mixing ASCII with runes whose lower case changes length
// (İ, the Kelvin sign) and invalid bytes.
func TestAnchoredAgainstToLower(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	parts := []string{"a", "B", "k", "K", "\u212a", "i", "İ", "\xff", "é", "É", ".", "x"}
	rnd := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		return b.String()
	}
	for _, kind := range []int{pExact, pPrefix, pSuffix} {
		for range 3000 {
			lit := strings.ToLower(rnd(1 + r.IntN(3)))
			v := rnd(r.IntN(6))
			lv := strings.ToLower(v)
			want := kind == pExact && lv == lit || kind == pPrefix && strings.HasPrefix(lv, lit) ||
				kind == pSuffix && strings.HasSuffix(lv, lit)
			if got := (&pattern{kind: kind, lit: lit}).match(v); got != want {
				t.Fatalf("kind %d, %q on %q: %v, want %v", kind, lit, v, got, want)
			}
			if isASCII(lit) {
				if got := newMultiAnchored(kind, []string{lit}).match(v, nil); got != want {
					t.Fatalf("multi: kind %d, %q on %q: %v, want %v", kind, lit, v, got, want)
				}
			}
		}
	}
}

// The contains matchers on fields the prefilter scans answer from what
// it found in the value (foundLits) when they are given its event: the
// same answers as on the event itself, for random values (upper case,
// non-ASCII letters that fold to ASCII ones, lists, numbers), through
// both the automaton and the anchor sets. Keywords, also found by the
// anchor sets' scans (the keyword walk skips their fields' values), keep
// every rule they match.
func TestFoundLitsAgree(t *testing.T) {
	defer func(n int) { anchorMin = n }(anchorMin)
	for _, am := range []int{64, 1} {
		anchorMin = am
		o := Options{Intern: map[string]string{}}
		ms := []*Matcher{
			mustMatcher(t, detection("  sel:\n    CommandLine|contains:\n      - 'ab\\c'\n      - '.k'\n  condition: sel"), o),
			mustMatcher(t, detection("  sel:\n    CommandLine|contains: 'ss-'\n  condition: sel"), o),
			// the same literals in a filter: answered from the stamps too
			mustMatcher(t, detection("  sel:\n    Image|endswith: 'e'\n  filter:\n    CommandLine|contains:\n      - 'ab\\c'\n      - '.k'\n  condition: sel and not filter"), o),
			// an equality value and substrings on one field
			mustMatcher(t, detection("  sel:\n    Image: 'a.exe'\n  condition: sel"), o),
			mustMatcher(t, detection("  sel:\n    Image|contains: '.ex'\n    CommandLine|contains|all:\n      - 'ss-'\n      - '.k'\n  condition: sel"), o),
			mustMatcher(t, detection("  kw:\n    - '\\ab'\n    - '\\xe'\n  condition: kw"), o),
		}
		p := NewPrefilter(ms)
		// the matchers the prefilter serves: every contains matcher above
		var served []*foundLits
		for _, m := range ms {
			for _, s := range m.searches {
				for _, mp := range s.maps {
					for _, it := range mp {
						for _, g := range it.groups {
							for _, vm := range g {
								switch x := vm.(type) {
								case *multiContainsM:
									served = append(served, x.found)
								case *strM:
									if x.p.kind == pContains {
										served = append(served, x.found)
									}
								}
							}
						}
					}
				}
			}
		}
		if len(served) != 6 || slices.Contains(served, nil) {
			t.Fatalf("served: %v", served)
		}
		if am == 1 && len(p.kwIn) != 2 {
			t.Fatalf("keywords in %d fields", len(p.kwIn))
		}
		answered := 0
		r := rand.New(rand.NewPCG(7, uint64(am)))
		alpha := []string{"a", "A", "b", "B", "\\", "c", "C", ".", "k", "K", "\u212a", "s", "S", "ſ", "-", "e", "x", "é", " "}
		rnd := func() string {
			var b strings.Builder
			for n := r.IntN(12); n > 0; n-- {
				b.WriteString(alpha[r.IntN(len(alpha))])
			}
			return b.String()
		}
		for i := 0; i < 20000; i++ {
			ev := tev{"Image": rnd()}
			if r.IntN(2) == 0 {
				ev["Other"] = rnd()
			}
			switch r.IntN(6) {
			case 0:
				ev["CommandLine"] = []any{rnd(), rnd()}
			case 1:
				ev["CommandLine"] = 3.5
			case 2:
			default:
				ev["CommandLine"] = rnd()
			}
			bits := p.Candidates(ev)
			pe := p.Event()
			for k, m := range ms {
				got, want := m.Match(pe), m.Match(ev)
				if got != want {
					t.Fatalf("%q: rule %d matches the prefilter's event: %v, the event: %v", ev, k, got, want)
				}
				if want && bits[k/64]&(1<<(k%64)) == 0 {
					t.Fatalf("%q: rule %d matches but is left out", ev, k)
				}
			}
			if s, ok := ev["CommandLine"].(string); ok {
				if _, ok := served[0].in(pe, s); ok {
					answered++
				}
			}
		}
		if answered < 1000 {
			t.Fatalf("the stamps answered %d times", answered)
		}
	}
}
