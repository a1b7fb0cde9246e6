package lint

import (
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPackIsClean(t *testing.T) {
	probs, files, err := FS(rulepack.FS(), ".", rulepack.Config())
	require.NoError(t, err)
	assert.Greater(t, files, 14)
	assert.Empty(t, probs)
}

func TestProblemsArePositioned(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yml": {Data: []byte("title: t\nid: 5\nstatus: wip\nlogsource: {product: maildrill}\ndetection:\n  sel:\n    f|contain: x\n  condition: sel\n---\ntitle: c\ncorrelation:\n  type: event_count\n  rules: [missing]\n  group-by: [u]\n  timespan: 5m\n  condition: {gte: 2}\n")},
		"b.yml": {Data: []byte("title: x\nlogsource: {product: windows}\ndetection:\n  sel: {a: 1}\n  condition: sel\n")},
		"c.yml": {Data: []byte("title: [\n")},
	}
	probs, files, err := FS(fsys, ".", rulepack.Config())
	require.NoError(t, err)
	assert.Equal(t, 3, files)
	var got []string
	for _, p := range probs {
		got = append(got, p.String())
	}
	assert.Equal(t, []string{
		"a.yml:2:1: schema: /id: got number, want string",
		"a.yml:3:1: schema: /status: value must be one of 'stable', 'test', 'experimental', 'deprecated', 'unsupported'",
		`a.yml:7:5: unsupported value modifier "contain" in "f|contain"`,
		`a.yml:13:11: correlation "c" refers to unknown rule "missing": no rule has this id or name`,
		"b.yml:1:1: logsource {product: windows} is not mapped to events: the rule never runs (map it in the engine configuration, or lint with --any-logsource)",
		"c.yml:1:8: invalid YAML: sequence end token ']' not found",
	}, got)
}

// laughs is a 1 KB "billion laughs" alias bomb: 9 levels of 9 aliases.
func laughs() string {
	var b strings.Builder
	b.WriteString("title: laughs\nlogsource: {product: maildrill}\ndetection:\n  condition: sel\n  sel:\n    f: [x, x, x, x, x, x, x, x, x]\nx:\n")
	b.WriteString("  a: &a [x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		b.WriteString("  " + n + ": &" + n + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", ") + "]\n")
		prev = n
	}
	return b.String()
}

// The schema check converts the whole document to plain values: an alias
// bomb expanded there to 9^9 strings before the limits.
func TestFSRefusesYAMLBombs(t *testing.T) {
	fsys := fstest.MapFS{
		"bomb.yml":  {Data: []byte(laughs())},
		"deep.yml":  {Data: []byte("title: deep\ndetection: " + strings.Repeat("[", 120<<10))},
		"large.yml": {Data: []byte("title: large\n" + strings.Repeat("# padding\n", 200<<10))},
	}
	require.Less(t, len(fsys["bomb.yml"].Data), 1024)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	probs, files, err := FS(fsys, ".", rulepack.Config())
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, 3, files)
	var got []string
	for _, p := range probs {
		got = append(got, p.String())
	}
	assert.Equal(t, []string{
		"bomb.yml:13:10: YAML aliases expand to more than 100000 nodes (alias *e)",
		"deep.yml:2:75: nesting deeper than 64 levels",
		"large.yml: file larger than 1 MiB (the limit for a YAML file)",
	}, got)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "bytes allocated")
}
