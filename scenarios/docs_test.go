package scenarios

import (
	"os"
	"strings"
	"testing"

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
