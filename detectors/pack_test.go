package detectors

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPackLoads(t *testing.T) {
	rules, err := PackRules()
	require.NoError(t, err)
	e, err := NewEngine(rules, PackConfig())
	require.NoError(t, err)
	assert.Empty(t, e.Inactive(), "every pack rule must run on maildrill events")
	alerting := 0
	for _, rn := range e.nodes {
		if rn.alerting {
			alerting++
			assert.NotEmpty(t, rn.rule.Description, rn.rule.Title)
			assert.NotEmpty(t, rn.rule.Level, rn.rule.Title)
			assert.NotEmpty(t, rn.rule.ID, rn.rule.Title)
			assert.Equal(t, "maildrill", logsourceProduct(e, rn), rn.rule.Title)
		}
	}
	assert.GreaterOrEqual(t, alerting, 15)
}

func logsourceProduct(e *Engine, rn *ruleNode) string {
	if rn.rule.Detection != nil {
		return rn.rule.Logsource.Product
	}
	for _, k := range rn.kids {
		if p := logsourceProduct(e, k); p != "" {
			return p
		}
	}
	return ""
}

func TestPackSamples(t *testing.T) {
	res, err := RunSamples(Pack(), ".", PackConfig())
	require.NoError(t, err)
	require.NotEmpty(t, res)
	for _, r := range res {
		t.Run(r.Sample, func(t *testing.T) {
			assert.True(t, r.OK, r.Msg)
		})
	}
}

// The README's rule table lists every file of the pack.
func TestReadmeListsPack(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	entries, err := fs.Glob(Pack(), "*.yml")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	entries = slices.DeleteFunc(entries, func(f string) bool { return f == PackFile })
	for _, f := range entries {
		assert.Contains(t, string(readme), "| `"+f+"` |", "README rule table misses %s", f)
	}
	rules, err := PackRules()
	require.NoError(t, err)
	assert.Contains(t, string(readme), fmt.Sprintf("(%d alerting rules, %d rules in all)", len(entries), len(rules)))
}
