package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each broken scenario gets every problem at once, in file order, each with
// file:line:col, what is wrong and a hint.
func TestBrokenScenarios(t *testing.T) {
	cases := map[string][]string{
		"unknown-step.yaml": {
			`unknown-step.yaml:8:9: unknown step kind "downlod_attachments" (did you mean "download_attachments"?; known kinds: append,`,
		},
		"typo-key.yaml": {
			`typo-key.yaml:5:3: unknown key "usres" in environment (did you mean "users"?)`,
			`typo-key.yaml:8:11: unknown actor kind "attaker" (did you mean "attacker"?)`,
			`typo-key.yaml:10:28: unknown key "pasword" in spray (did you mean "passwords"?)`,
		},
		"bad-values.yaml": {
			`bad-values.yaml:1:5: id "Bad Id" is not a valid identifier (use lower-case letters, digits, - and _)`,
			`bad-values.yaml:4:10: start: "yesterday" is not a time`,
			`bad-values.yaml:5:10: unknown clock mode "virtul" (did you mean "virtual"?)`,
			`bad-values.yaml:6:13: duration: invalid duration "3 hours"`,
			`bad-values.yaml:10:13: source: "300.1.2.3" is not an address`,
			`bad-values.yaml:12:15: wait duration: invalid duration "soon"`,
			`bad-values.yaml:13:13: at: "25:99" is neither an offset nor a time of day`,
			`bad-values.yaml:17:12: expectation anchored after unknown step "nowhere"`,
		},
		// strconv reads "NaN" as a float, which no range check refuses.
		"not-a-number.yaml": {
			`not-a-number.yaml:5:10: speed must be between 0.001 and 1000000, got NaN`,
			`not-a-number.yaml:10:33: pacing jitter must be between 0 and 1, got nan`,
		},
		// Year 2999 ran with its alerts stamped 1830, year 1 ran nothing,
		// and Local or "" named whatever zone the machine had, or UTC.
		"out-of-range.yaml": {
			`out-of-range.yaml:4:10: start: 2999-12-11T07:00:00+01:00 is out of range: from 1980-01-02 to the end of 2199`,
			`out-of-range.yaml:5:13: timezone "Local": name the zone, so that the scenario runs the same everywhere`,
		},
		"year-one.yaml": {
			`year-one.yaml:4:10: start: 0001-01-01T00:00:00Z is out of range`,
			`year-one.yaml:5:13: timezone "": name the zone`,
		},
		"bad-group-ip.yaml": {
			`bad-group-ip.yaml:11:24: group source.ip: "999.1.1.1" is not an IP address`,
			`bad-group-ip.yaml:14:24: group source.ip: "45.155.205.017" is not an IP address`,
		},
		"too-long.yaml": {
			`too-long.yaml:11:13: within: duration "200000d" is too long (at most 106751d)`,
		},
		"syntax.yaml": {
			`syntax.yaml:6:`,
		},
		"empty.yaml": {
			`empty.yaml:1:1: the scenario is empty`,
		},
		"two-kinds.yaml": {
			`two-kinds.yaml:8:9: step has two kinds: "login" and "list"`,
			`two-kinds.yaml:9:5: duplicate actor id "a"`,
			`staff actors take no steps`,
		},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "broken", name)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			_, err = Parse(name, data)
			require.Error(t, err)
			var es Errors
			require.True(t, errors.As(err, &es), "errors are positioned: %v", err)
			msg := err.Error()
			for _, w := range want {
				assert.Contains(t, msg, w)
			}
			assert.NotContains(t, msg, "goroutine", "no stack traces")
			for _, e := range es {
				assert.Greater(t, e.Line, 0, "every error has a line: %s", e)
			}
			// In file order.
			for i := 1; i < len(es); i++ {
				assert.LessOrEqual(t, es[i-1].Line, es[i].Line)
			}
		})
	}
}

func TestLibraryValid(t *testing.T) {
	lib, err := Library()
	require.NoError(t, err)
	require.NotEmpty(t, lib)
	for _, sc := range lib {
		assert.NotEmpty(t, sc.Narrative, sc.ID)
		assert.NotEmpty(t, sc.Attack, sc.ID)
		assert.NotEmpty(t, sc.Expect, sc.ID)
	}
	_, err = Load("ministry-overnigth")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `did you mean "ministry-overnight"`)
}

func FuzzParse(f *testing.F) {
	entries, _ := os.ReadDir(filepath.Join("testdata", "broken"))
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join("testdata", "broken", e.Name()))
		f.Add(b)
	}
	src, _ := LibrarySource("ministry-overnight")
	f.Add(src)
	if b, err := os.ReadFile(filepath.Join("testdata", "all-steps.yaml")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := Parse("fuzz.yaml", b)
		if err == nil && sc == nil {
			t.Fatal("nil scenario without error")
		}
		if err != nil && strings.Contains(err.Error(), "panic") {
			t.Fatal(err)
		}
		if sc != nil {
			var n int64
			for _, a := range sc.Actors {
				n += stepsActions(a.Steps, sc.Env)
			}
			if n > DefaultMaxActions {
				t.Fatalf("a valid scenario of %d actions", n)
			}
		}
	})
}
