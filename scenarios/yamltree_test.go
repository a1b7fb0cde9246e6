package scenarios

import (
	"testing"

	"github.com/maildrill/maildrill/detectors/yamlsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The YAML constructs a scenario refuses, each with its file:line:col.
func TestParseRefusesAliasesAndMerges(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"id: &i a\ntitle: *i\n", "s.yaml:2:8: YAML aliases (*name) are not supported in scenarios; repeat the value or use repeat/foreach steps"},
		{"id: a\nenvironment:\n  <<: {seed: 1}\n", "s.yaml:3:3: YAML merge keys (<<) are not supported in scenarios"},
		{"id: a\n---\nid: b\n", "a scenario file holds one YAML document; found 2"},
	} {
		_, err := Parse("s.yaml", []byte(c.src))
		require.Error(t, err, c.src)
		assert.Contains(t, err.Error(), c.want, c.src)
	}
}

// Scalars are kept as written and an empty value is where its key is.
func TestParseYAMLKeepsTheText(t *testing.T) {
	root, err := parseYAML([]byte("a: True\nb: .inf\nc: !!str 0x1F\nd:\n\"e\": <<\n"), yamlsafe.Limits{})
	require.NoError(t, err)
	want := map[string][3]any{
		"a": {nScalar, "True", [2]int{1, 4}},
		"b": {nScalar, ".inf", [2]int{2, 4}},
		"c": {nScalar, "0x1F", [2]int{3, 9}},
		"d": {nNull, "", [2]int{4, 3}},
		"e": {nScalar, "<<", [2]int{5, 6}},
	}
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, root.keys)
	for k, w := range want {
		n, ok := root.get(k)
		require.True(t, ok, k)
		assert.Equal(t, w, [3]any{n.kind, n.str, [2]int{n.line, n.col}}, k)
	}
}
