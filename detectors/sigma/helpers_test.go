package sigma

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tev is a flat test event.
type tev map[string]any

func (e tev) Field(n string) (any, bool) { v, ok := e[n]; return v, ok }
func (e tev) Time() time.Time {
	if s, ok := e["@timestamp"].(string); ok {
		t, _ := time.Parse(time.RFC3339Nano, s)
		return t
	}
	return time.Time{}
}
func (e tev) RangeFields(y func(string, any) bool) {
	for k, v := range e {
		if !y(k, v) {
			return
		}
	}
}

func mustRule(t testing.TB, y string) *Rule {
	t.Helper()
	rules, errs := ParseFile("test.yml", []byte(y))
	require.Empty(t, errs)
	require.Len(t, rules, 1)
	return rules[0]
}

func mustMatcher(t testing.TB, y string, o Options) *Matcher {
	t.Helper()
	m, err := Compile(mustRule(t, y), o)
	require.NoError(t, err)
	return m
}

// detection builds a rule from a detection body.
func detection(body string) string {
	return "title: t\nlogsource: {product: test}\ndetection:\n" + body
}
