package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// scenarioWith is a valid scenario whose attacker has the given pacing and steps
// (steps indented as list items under "steps:").
func scenarioWith(pacing, steps string) string {
	return `id: bounds
title: Bounds
actors:
  - id: mallory
    kind: attacker
    credentials: {user: director}
    pacing: ` + pacing + `
    steps:
` + steps
}

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func parseErrors(t *testing.T, err error) []string {
	t.Helper()
	require.Error(t, err)
	var es Errors
	require.True(t, errors.As(err, &es), "positioned errors: %v", err)
	var out []string
	for _, e := range es {
		out = append(out, e.Error())
	}
	return out
}

func TestParseRefusesYAMLBombs(t *testing.T) {
	var laughs strings.Builder
	laughs.WriteString("id: laughs\ntitle: x\nx:\n  a: &a [x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		laughs.WriteString("  " + n + ": &" + n + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", ") + "]\n")
		prev = n
	}
	cases := []struct{ name, src, want string }{
		// 200 KB of brackets: the YAML parser alone allocated gigabytes
		{"nested brackets", "id: deep\ntitle: " + strings.Repeat("[", 200<<10), "deep.yaml:2:71: nesting deeper than 64 levels"},
		{"nested steps", scenarioWith("{delay: 1s}", strings.Repeat("      - repeat: {times: 2, steps: ", 100)), "deep.yaml:9:2023: nesting deeper than 64 levels"},
		{"alias bomb", laughs.String(), "deep.yaml:9:10: YAML aliases expand to more than 100000 nodes (alias *e)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			mem := allocated(func() { _, err = Parse("deep.yaml", []byte(c.src)) })
			assert.Equal(t, []string{c.want}, parseErrors(t, err))
			assert.Less(t, mem, uint64(64<<20), "bytes allocated")
		})
	}
}

func TestParseFileRefusesLargeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "large.yaml")
	src := scenarioWith("{delay: 1s}", "      - login\n") + strings.Repeat("# padding\n", 120<<10)
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	_, err := ParseFile(path)
	assert.Equal(t, []string{path + ": file larger than 1 MiB (the limit for a YAML file)"}, parseErrors(t, err))
	_, err = Load(path)
	assert.Equal(t, []string{path + ": file larger than 1 MiB (the limit for a YAML file)"}, parseErrors(t, err))
	_, err = ParseFileLimits(path, Limits{YAML: yamlsafe.Limits{MaxBytes: 2 << 20}})
	assert.NoError(t, err, "a larger limit")
}

// A repeat whose steps take no scenario time never reaches the scenario's
// end: the runner looped in one instant, its ground truth growing.
func TestParseRefusesTimelessRepeats(t *testing.T) {
	nested := `      - id: outer
        repeat:
          times: 100
          steps:
            - repeat: {times: 100, steps: [login, {list: {}}, logout]}
`
	_, err := Parse("loop.yaml", []byte(scenarioWith("{delay: 0s}", nested)))
	assert.Equal(t, []string{
		`loop.yaml:9:9: actor "mallory": repeat of 100 takes no scenario time (the actor's pacing delay is 0 and its steps neither wait nor pace) (add a wait step to its steps, a delay, or a pacing delay to the actor)`,
	}, parseErrors(t, err))

	for name, ok := range map[string]string{
		"pacing":     scenarioWith("{delay: 1s}", nested),
		"a wait":     scenarioWith("{delay: 0s}", strings.Replace(nested, "[login,", "[{wait: 1m}, login,", 1)),
		"a delay":    scenarioWith("{delay: 0s}", strings.Replace(nested, "{list: {}}", "{download_messages: {delay: 1s}}", 1)),
		"a spray":    scenarioWith("{delay: 0s}", strings.Replace(nested, "{list: {}}", "{spray: {users: 3}}", 1)),
		"once":       scenarioWith("{delay: 0s}", "      - repeat: {times: 1, steps: [login, logout]}\n"),
		"no repeats": scenarioWith("{delay: 0s}", "      - login\n      - logout\n"),
	} {
		_, err := Parse("loop.yaml", []byte(ok))
		assert.NoError(t, err, name)
	}
}

func TestParseBoundsExpandedActions(t *testing.T) {
	// 100000^3 logins, each a minute apart: it validated, then ran for ever.
	nested := `      - repeat:
          times: 100000
          steps:
            - {wait: 1m}
            - id: middle
              repeat:
                times: 100000
                steps:
                  - repeat: {times: 100000, steps: [login, logout]}
`
	_, err := Parse("many.yaml", []byte(scenarioWith("{delay: 1s}", nested)))
	assert.Equal(t, []string{
		`many.yaml:13:15: actor "mallory": step repeat expands to 20000100001 actions, more than the limit of 1000000 (lower its times, or split the scenario)`,
	}, parseErrors(t, err))

	// two actors, each under the limit, together over it
	two := scenarioWith("{delay: 1s}", "      - repeat: {times: 100000, steps: [login, {list: {}}, {fetch_headers: {}}, {search: {text: x}}, {download_messages: {}}, logout]}\n")
	two += strings.Replace(two[strings.Index(two, "  - id: mallory"):], "mallory", "eve", 1)
	_, err = Parse("two.yaml", []byte(two))
	assert.Equal(t, []string{
		`two.yaml:15:9: actor "eve": step repeat brings the scenario to 1200002 actions, more than the limit of 1000000 (lower the repeats' times, or split the scenario)`,
	}, parseErrors(t, err))
	_, err = ParseLimits("two.yaml", []byte(two), Limits{MaxActions: 2_000_000})
	assert.NoError(t, err, "a larger limit")

	// brute force attempts count
	brute := scenarioWith("{delay: 1s}", "      - repeat: {times: 20000, steps: [{brute_force: {user: director, attempts: 100}}]}\n")
	_, err = Parse("brute.yaml", []byte(brute))
	assert.Equal(t, []string{
		`brute.yaml:9:9: actor "mallory": step repeat expands to 2000001 actions, more than the limit of 1000000 (lower its times, or split the scenario)`,
	}, parseErrors(t, err))
}

func TestLibraryWithinBounds(t *testing.T) {
	lib, err := Library()
	require.NoError(t, err)
	for _, sc := range lib {
		var n int64
		for _, a := range sc.Actors {
			n += stepsActions(a.Steps, sc.Env)
		}
		assert.Less(t, n, int64(DefaultMaxActions/100), "%s: the default limit leaves a wide margin", sc.ID)
	}
}
