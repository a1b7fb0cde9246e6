package sigma

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// laughs is a "billion laughs" alias bomb: 9 levels of 9 aliases, 9^9
// strings once expanded, here as the values of a Sigma selection.
func laughs() string {
	var b strings.Builder
	b.WriteString("title: laughs\nlogsource: {product: maildrill}\nx:\n")
	b.WriteString("  a: &a [x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		b.WriteString("  " + n + ": &" + n + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", ") + "]\n")
		prev = n
	}
	b.WriteString("detection:\n  sel:\n    f: *i\n  condition: sel\n")
	return b.String()
}

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestParseFileRefusesYAMLBombs(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		// 120 KB of brackets: goccy's parser alone allocated gigabytes
		{"nested brackets", "title: deep\ndetection:\n  sel: " + strings.Repeat("[", 120<<10), "r.yml:3:70: nesting deeper than 64 levels"},
		{"nested lists", strings.Repeat("- ", 20000), "r.yml:1:129: nesting deeper than 64 levels"},
		{"alias bomb", laughs(), "r.yml:9:10: YAML aliases expand to more than 100000 nodes (alias *e)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rules []*Rule
			var errs []error
			mem := allocated(func() { rules, errs = ParseFile("r.yml", []byte(c.src)) })
			assert.Empty(t, rules)
			require.Len(t, errs, 1)
			assert.Equal(t, c.want, errs[0].Error())
			assert.Less(t, mem, uint64(64<<20), "bytes allocated")
		})
	}
}
