package scenarios

import (
	"os"
	"strings"
	"testing"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
	"github.com/stretchr/testify/require"
)

func replaceBetween(doc, begin, end, body string) string {
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return doc
	}
	i = strings.Index(doc[i:], "\n") + i + 1
	return doc[:i] + "\n" + body + "\n" + doc[j:]
}

// scenarios/README.md carries the step catalogue and the library table as
// generated from the code, so the docs never drift.
func TestDocs(t *testing.T) {
	src, err := os.ReadFile("README.md")
	require.NoError(t, err)
	lib, err := LibraryMarkdown()
	require.NoError(t, err)
	got := replaceBetween(string(src), "<!-- BEGIN STEP KINDS", "<!-- END STEP KINDS", StepKindsMarkdown())
	got = replaceBetween(got, "<!-- BEGIN LIBRARY", "<!-- END LIBRARY", lib)
	if *update {
		require.NoError(t, os.WriteFile("README.md", []byte(got), 0o644))
		return
	}
	require.Equal(t, got, string(src), "scenarios/README.md is stale: go test ./scenarios -run TestDocs -update")
}

// TestEveryKindDocumented: every registered step kind says what it does
// and shows an example that parses as a step of its kind, as the
// catalogue in README.md prints them.
func TestEveryKindDocumented(t *testing.T) {
	for _, k := range StepKinds() {
		require.NotEmpty(t, k.Summary, k.Name)
		require.True(t, strings.HasPrefix(k.Example, "- "+k.Name), "%s: the example shows another kind: %q", k.Name, k.Example)
		d := &decoder{file: "example"}
		root, err := parseYAML([]byte(k.Example), yamlsafe.Limits{})
		require.NoError(t, err, k.Name)
		for _, st := range d.steps(root) {
			require.Equal(t, k.Name, st.Kind)
		}
		require.Empty(t, d.errs, "%s: its example does not parse: %v", k.Name, d.errs)
	}
}
