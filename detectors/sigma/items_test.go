package sigma

import (
	"fmt"
	"testing"
)

// A rule evaluated as Items (ItemsFor) decides as the rule does, with and
// without the index value, for the condition shapes Items takes; the
// other shapes are refused.
func TestItemsAgreeWithMatcher(t *testing.T) {
	body := "  sel:\n    a: x\n    b|contains: y\n  f1:\n    c: z\n  f2:\n    d|startswith: w\n  multi:\n    - c: z\n    - d: w\n"
	for _, c := range []struct {
		cond string
		flat bool
	}{
		{"sel", true},
		{"sel and not f1", true},
		{"sel and not f1 and not f2", true},
		{"not f1", true},
		{"all of f*", true},
		{"sel and all of f*", true},
		{"1 of f*", true},
		{"sel or f1", true},
		{"sel and not multi", true},
		{"sel and multi", true},
		{"sel and (f1 or f2)", true},
		{"sel and (f1 or f2) and not multi", true},
		{"sel and 1 of f*", true},
		{"sel and 1 of multi", true},
		{"(sel or multi) and not f2", true},
		{"sel or 1 of f*", true},
		{"multi", true},
		{"not (sel and f1)", false},
		{"not (f1 or f2)", false},
		{"sel and (f1 or all of f*)", false},
		{"sel and (f1 and f2 or sel)", false},
		{"sel and 2 of f*", true}, // all of them: two of two
		{"sel and 1 of s*", true}, // 1 of one
		{"1 of * and not f1", true},
		{"sel and 2 of *", false},
	} {
		m := mustMatcher(t, detection(body+"  condition: "+c.cond), Options{})
		m.SetIndexField("a")
		vals := []any{nil, "x", "X", "xy", "y", "z", "w", "wz", 3}
		for _, ix := range []string{"", "x"} {
			items, ok := m.ItemsFor(ix)
			if ok != c.flat {
				t.Fatalf("%q: ItemsFor ok = %v, want %v", c.cond, ok, c.flat)
			}
			if !ok {
				continue
			}
			n := 0
			for _, a := range vals {
				for _, b := range vals {
					for _, cv := range vals {
						for _, d := range vals {
							ev := tev{"@timestamp": "2025-01-01T00:00:00Z"}
							for k, v := range map[string]any{"a": a, "b": b, "c": cv, "d": d} {
								if v != nil {
									ev[k] = v
								}
							}
							if ix != "" && fmt.Sprint(a) != "x" && fmt.Sprint(a) != "X" {
								continue // ix is the event's lower-cased index value
							}
							want := m.MatchWith(ev, nil, ix)
							if got := items.MatchWith(ev, nil, ix); got != want {
								t.Fatalf("%q ix %q on %v: items %v, matcher %v", c.cond, ix, ev, got, want)
							}
							if want {
								n++
							}
						}
					}
				}
			}
			if n == 0 {
				t.Fatalf("%q ix %q: no event matched", c.cond, ix)
			}
		}
	}
}

// Items.Needs names only fields without which the rule cannot match: an
// event lacking one of them does not match, whatever its other fields.
func TestItemsNeeds(t *testing.T) {
	for _, c := range []struct {
		sel   string
		needs []string
	}{
		{"a: x", []string{"a"}},
		{"a|exists: true", []string{"a"}},
		{"a|exists: false", nil},
		{"a: null", nil},
		{"a|neq: null", []string{"a"}},
		{"a: [x, null]", nil},
		{"a|neq: x", []string{"a"}},
		{"a|contains|all: [x, y]", []string{"a"}},
		{"a|fieldref: b", []string{"a"}},
		{"a|fieldref|neq: b", []string{"a"}},
		{"a|re: 'x|'", []string{"a"}},
		{"a|gt: 3", []string{"a"}},
		{"a|cidr: 10.0.0.0/8", []string{"a"}},
		{"a: ''", []string{"a"}},
		{"a|hour|lt: 7", []string{"a"}},
		{"a: x\n    b|exists: false\n    c: null\n    d|neq: y", []string{"a", "d"}},
	} {
		y := detection("  sel:\n    " + c.sel + "\n  condition: sel\n")
		m := mustMatcher(t, y, Options{})
		it, ok := m.ItemsFor("")
		if !ok {
			t.Fatalf("%s: not flat", c.sel)
		}
		var want []FieldID
		for _, n := range c.needs {
			id, _ := FieldIDOf(n)
			want = append(want, id)
		}
		if got := it.Needs(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: needs %v, want %v (%v)", c.sel, got, want, c.needs)
		}
		// an event with every other field (and values that would match)
		// does not match without a needed one
		full := tev{"a": "x", "b": "x", "c": "y", "d": "x", "@timestamp": "2025-01-01T03:00:00Z"}
		for _, n := range c.needs {
			ev := tev{}
			for k, v := range full {
				if k != n {
					ev[k] = v
				}
			}
			if m.Match(ev) || it.MatchWith(ev, nil, "") {
				t.Errorf("%s: matches without %s", c.sel, n)
			}
		}
	}
}
