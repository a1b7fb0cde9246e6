package sigma

import (
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
)

// reM, and the prefix search on its own, answer as regexp.MatchString.
func TestReMSameAsRegexp(t *testing.T) {
	exprs := []string{
		`(?i)(BODY(\.PEEK)?\[\]|BINARY(\.PEEK)?\[\]|RFC822($|[^.A-Z]))`,
		`(?i)BODY(\.PEEK)?\[([2-9]|[1-9][0-9]+)(\.[0-9]+)*\]`,
		`abc`, `(?i)abc`, `a|b`, `[ab]c`, `(?i)[a-c]x`, `x+y`, `(ab)+c`, `a{2,3}b`, `(a|)b`, `(?i)k`,
		`\bfoo`, `^foo`, `(?m)^foo`, `foo$`, `(?m)foo$`, `foo\B`, `(?i)s(?-i)T`, `[0-9]{3}-x`,
		`(?i)(?:ab|cd)(?:ef|gh)ij`, `\.exe`, `(?s)a.b`, `a.*b`, `.*`, `(?i)ſ`, `é`, `[^a]b`, `(?i)RFC822($|[^.A-Z])`,
		`(?:x|y)(?:1|2)(?:p|q)(?:r|s)(?:t|u)`, `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab`,
	}
	inputs := []string{
		"", "UID FLAGS RFC822.SIZE ENVELOPE", "UID BODY.PEEK[]", "UID BODY.PEEK[2]", "body[10.2]", "RFC822", "rfc822 x",
		"xabc", "ABC", "zb", "cb", "Bx", "xxy", "ababc", "aab", "b", "\u212a", "k", "K", "foo", "xfoo", "foo\nbar", "a foo",
		"sT", "St", "ST", "123-x", "CDghij", "a.exe", "a\nb", "ſ", "S", "é", "bb", "x1q s u", "x2qsu", "y1ps t",
		strings.Repeat("a", 40) + "b", "BINARY.PEEK[]", "binary[]", "body.peek[]",
	}
	for _, expr := range exprs {
		re := regexp.MustCompile(expr)
		m, pre := newReM(re), newRePrefixSearch(re)
		for _, in := range inputs {
			want := re.MatchString(in)
			if got := m.match(in, nil); got != want {
				t.Errorf("%q on %q: %v, regexp says %v", expr, in, got, want)
			}
			if pre != nil && isASCII(in) && pre.match(in) != want {
				t.Errorf("%q on %q: prefix search %v, regexp says %v", expr, in, !want, want)
			}
		}
	}
	// the pack's expressions take the fast path (the first without running
	// the expression for its BODY and BINARY literals); look-behind ones do not
	m := newRePrefixSearch(regexp.MustCompile(exprs[0]))
	full := 0
	for _, p := range m.pfx {
		if p.full {
			full++
		}
	}
	if len(m.pfx) != 5 || full != 4 {
		t.Errorf("prefixes of %q: %v", exprs[0], m.pfx)
	}
	for expr, fast := range map[string]bool{
		`(?i)(BODY(\.PEEK)?\[\]|BINARY(\.PEEK)?\[\]|RFC822($|[^.A-Z]))`: true,
		`(?i)BODY(\.PEEK)?\[([2-9]|[1-9][0-9]+)(\.[0-9]+)*\]`:           true,
		`\bfoo`: false, `^foo`: false, `a*`: false, `(a|)b`: true, `(a|)`: false, `é`: false,
	} {
		if got := newRePrefixSearch(regexp.MustCompile(expr)) != nil; got != fast {
			t.Errorf("%q: fast path %v, want %v", expr, got, fast)
		}
	}
}

// Random expressions over a small alphabet, random texts: the same answers.
func TestReMRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	atoms := []string{"a", "b", "A", "ab", "[ab]", "[^a]", "(?i:a)", "(?i:b)", ".", "x", "\\.", "$", "(?m:$)", "[a-c]", "(?i:[a-c])"}
	var gen func(d int) string
	gen = func(d int) string {
		if d > 3 {
			return atoms[r.IntN(len(atoms))]
		}
		switch r.IntN(7) {
		case 0:
			return gen(d+1) + gen(d+1)
		case 1:
			return "(?:" + gen(d+1) + "|" + gen(d+1) + ")"
		case 2:
			return "(?:" + gen(d+1) + ")+"
		case 3:
			return "(?:" + gen(d+1) + ")?"
		case 4:
			return "(?:" + gen(d+1) + "){1,3}"
		case 5:
			return "(?i)" + gen(d+1)
		}
		return atoms[r.IntN(len(atoms))]
	}
	alpha := "abABx.c\n"
	fast := 0
	for i := 0; i < 3000; i++ {
		expr := gen(0)
		re, err := regexp.Compile(expr)
		if err != nil {
			continue
		}
		m, pre := newReM(re), newRePrefixSearch(re)
		if pre != nil {
			fast++
		}
		for j := 0; j < 30; j++ {
			var b strings.Builder
			for k := r.IntN(8); k > 0; k-- {
				b.WriteByte(alpha[r.IntN(len(alpha))])
			}
			in := b.String()
			want := re.MatchString(in)
			if got := m.match(in, nil); got != want {
				t.Fatalf("%q on %q: %v, regexp says %v", expr, in, got, want)
			}
			if pre != nil && isASCII(in) && pre.match(in) != want {
				t.Fatalf("%q on %q: prefix search %v, regexp says %v", expr, in, !want, want)
			}
		}
	}
	if fast < 300 {
		t.Fatalf("only %d of 3000 expressions took the fast path", fast)
	}
}

// reNeed finds a byte every match contains only where there is one, and
// never a letter (under (?i) a letter matches its other case).
func TestReNeed(t *testing.T) {
	for expr, want := range map[string]int{
		`(?i)BODY(\.PEEK)?\[([2-9]|[1-9][0-9]+)(\.[0-9]+)*\]`:           '[',
		`(?i)(BODY(\.PEEK)?\[\]|BINARY(\.PEEK)?\[\]|RFC822($|[^.A-Z]))`: -1,
		`a\.b|c\.d`:   '.',
		`a\.b|c\.d@`:  '.',
		`(?:x@)+`:     '@',
		`(?:x@)*`:     -1,
		`(?:x@){0,2}`: -1,
		`(?:x@){1,2}`: '@',
		`a-1|b-2`:     '-',
		`1-x#`:        '#',
		`(?i)abc`:     -1,
		`é`:           -1,
		`[#]`:         '#',
		`[#@]`:        -1,
		`(a|)#`:       '#',
	} {
		re, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := reNeed(re); got != want {
			t.Errorf("%q: need %q, want %q", expr, rune(got), rune(want))
		}
	}
}
