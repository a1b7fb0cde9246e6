package rulepack

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors"
)

// TestScaffoldPassesItsSamples: a scaffold rule loads, fires on its
// true-positive sample and not on its true-negative one.
func TestScaffoldPassesItsSamples(t *testing.T) {
	rule, tp, tn, err := Scaffold("imap_scripted_login")
	require.NoError(t, err)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "imap_scripted_login.yml"), string(rule))
	writeFile(t, filepath.Join(dir, "tests", "imap_scripted_login.tp.jsonl"), string(tp))
	writeFile(t, filepath.Join(dir, "tests", "imap_scripted_login.tn.jsonl"), string(tn))
	p, err := Load(dir)
	require.NoError(t, err)
	require.Len(t, p.Rules, 1)
	assert.Equal(t, "imap_scripted_login", p.Rules[0].Name)
	res, err := detectors.RunSamples(os.DirFS(dir), ".", p.Config)
	require.NoError(t, err)
	require.NotEmpty(t, res)
	for _, r := range res {
		assert.True(t, r.OK, "%+v", r)
	}
	// Two scaffolds have two ids: they can be layered together.
	rule2, _, _, err := Scaffold("other")
	require.NoError(t, err)
	assert.NotEqual(t, rule[:80], rule2[:80])

	for _, bad := range []string{"", "Upper", "a-b", "../x", "x.yml"} {
		_, _, _, err := Scaffold(bad)
		assert.Error(t, err, bad)
	}
}
