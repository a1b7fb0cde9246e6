package sigma

import (
	"strings"
	"testing"
	"time"
)

func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		"selection", "a and not b", "1 of sel* and not 1 of filter*", "all of them", "(a or b) and c",
		"not (a and (b or not c))", "2 of x*", "a | count() > 5", "((((a))))", "any of them", "a AND b OR NOT c",
	} {
		f.Add(s)
	}
	names := []string{"a", "b", "c", "sel1", "sel2", "filter_x", "_p", "selection", "x1"}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseCondition(s)
		if err != nil {
			ce, ok := err.(*CondError)
			if !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if ce.Offset < 0 || ce.Offset > len(s) {
				t.Fatalf("offset %d outside [0,%d]", ce.Offset, len(s))
			}
			return
		}
		// the printed form parses to the same tree
		again, err := ParseCondition(e.String())
		if err != nil {
			t.Fatalf("reparse of %q (%q): %v", s, e.String(), err)
		}
		if again.String() != e.String() {
			t.Fatalf("round trip %q -> %q -> %q", s, e.String(), again.String())
		}
		// building against a fixed set of identifiers never panics
		m := &Matcher{searches: map[string]*searchM{}}
		for _, n := range names {
			m.searches[n] = &searchM{name: n}
		}
		if cn, err := m.build(e, names); err == nil {
			cn.eval(evalCtx{ev: tev{}})
		}
	})
}

func FuzzParseRule(f *testing.F) {
	f.Add(detection("  sel:\n    f|contains|all: [a, b]\n  condition: sel"))
	f.Add(detection("  sel:\n    - f|re|i: '^a.*b$'\n    - g|cidr: 10.0.0.0/8\n  filter:\n    h: null\n  condition: sel and not filter"))
	f.Add(detection("  keywords:\n    - 'evil*'\n    - '\\\\*x?'\n  condition: keywords"))
	f.Add(detection("  sel:\n    '@timestamp|hour|gte': 20\n    n|lt: 5\n    u|fieldref|neq: o\n    b|base64offset|contains: abc\n    w|windash|contains: ' -x '\n    e|exists: true\n    x|expand: '%p%'\n  condition: all of them"))
	f.Add(specCorrelationExample)
	f.Add("title: a\ncorrelation:\n  type: value_sum\n  rules: [x]\n  group-by: [u]\n  timespan: 1h\n  condition: {field: s, gt: 5, lte: 9}\n  aliases: {a: {x: f}}\n")
	f.Add("title: &a x\nb: *a\n<<: {c: 1}\n")
	ev := tev{"f": "A b", "g": "10.1.2.3", "@timestamp": "2025-12-11T23:40:00+01:00", "n": 3.0, "u": "x", "o": "y", "list": []any{"a", 1.0}}
	o := Options{Placeholders: map[string][]string{"p": {"a", "b*"}}, Location: time.UTC}
	f.Fuzz(func(t *testing.T, src string) {
		rules, errs := ParseFile("fuzz.yml", []byte(src))
		for _, err := range errs {
			if !strings.HasPrefix(err.Error(), "fuzz.yml") {
				t.Fatalf("error without file name: %v", err)
			}
		}
		for _, r := range rules {
			if r.Title == "" {
				t.Fatal("rule without title accepted")
			}
			if r.Detection == nil && r.Correlation == nil {
				t.Fatal("rule without detection or correlation accepted")
			}
			if r.Detection == nil {
				continue
			}
			m, err := Compile(r, o)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "fuzz.yml") {
					t.Fatalf("compile error without file name: %v", err)
				}
				continue
			}
			m.Match(ev)
			m.RequiredValues("f")
		}
	})
}

func FuzzPattern(f *testing.F) {
	f.Add("a*b?c", "aXXbYc")
	f.Add("\\*x\\\\*", "*x\\yy")
	f.Add("*é?*", "café!")
	f.Fuzz(func(t *testing.T, pat, v string) {
		p := compilePattern(parseSigmaString(pat), false)
		got := p.match(v)
		// a pattern without wildcards matches exactly its text, case-insensitively
		s := parseSigmaString(pat)
		if !s.hasWildcards() {
			lp, lv := strings.ToLower(s.plain()), strings.ToLower(v)
			want := strings.EqualFold(lp, lv) && lp == lv
			if got != want {
				t.Fatalf("%q vs %q: got %v want %v", pat, v, got, want)
			}
		}
		// "*" + pattern + "*" matches whenever the pattern does
		if got && !compilePattern(s.wrap(true, true), false).match(v) {
			t.Fatalf("contains(%q) rejects %q which the pattern accepts", pat, v)
		}
	})
}
