package scenarios

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScaffoldValidates: the scaffold parses, and its names resolve
// against the built-in pack and its organisation.
func TestScaffoldValidates(t *testing.T) {
	src, err := Scaffold("night-brute")
	require.NoError(t, err)
	sc, err := Parse("night-brute.yaml", src)
	require.NoError(t, err)
	assert.Equal(t, "night-brute", sc.ID)
	require.NoError(t, ResolveAll(sc, nil, 0))

	for _, bad := range []string{"", "Night", "-x", "a b", "../x", "x.yaml"} {
		_, err := Scaffold(bad)
		assert.Error(t, err, bad)
	}
}
