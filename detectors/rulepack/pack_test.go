package rulepack

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"testing"

	"github.com/maildrill/maildrill/detectors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPackLoads(t *testing.T) {
	rules, err := Rules()
	require.NoError(t, err)
	e, err := detectors.NewEngine(rules, Config())
	require.NoError(t, err)
	assert.Empty(t, e.Inactive(), "every pack rule must run on maildrill events")
	for _, r := range rules {
		if r.Detection != nil {
			assert.Equal(t, "maildrill", r.Logsource.Product, r.Title)
		}
	}
	cat, err := detectors.Catalogue(rules, Config())
	require.NoError(t, err)
	for _, r := range cat {
		assert.NotEmpty(t, r.Description, r.Title)
		assert.NotEmpty(t, r.Level, r.Title)
		assert.NotEmpty(t, r.ID, r.Title)
	}
	assert.GreaterOrEqual(t, len(cat), 15)
}

func TestPackSamples(t *testing.T) {
	res, err := detectors.RunSamples(FS(), ".", Config())
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
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	entries, err := fs.Glob(FS(), "*.yml")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	entries = slices.DeleteFunc(entries, func(f string) bool { return f == File })
	for _, f := range entries {
		assert.Contains(t, string(readme), "| `"+f+"` |", "README rule table misses %s", f)
	}
	rules, err := Rules()
	require.NoError(t, err)
	assert.Contains(t, string(readme), fmt.Sprintf("(%d alerting rules, %d rules in all)", len(entries), len(rules)))
}
