package yamlsafe

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tree(t *testing.T, src string, opt TreeOptions) (*Node, error) {
	t.Helper()
	f, err := Parse([]byte(src), Limits{})
	require.NoError(t, err)
	require.Len(t, f.Docs, 1)
	return Tree(f.Docs[0].Body, opt)
}

func TestTreeScalarsKeepTheirText(t *testing.T) {
	n, err := tree(t, "a: True\nb: .inf\nc: 0x1F\nd: \"q\"\ne: ~\n", TreeOptions{})
	require.NoError(t, err)
	assert.Equal(t, Pos{Line: 1, Col: 1}, n.Pos)
	for key, want := range map[string][3]string{
		"a": {"boolean", "true", "True"},
		"b": {"number", "+Inf", ".inf"},
		"c": {"integer", "0x1F", "0x1F"},
		"d": {"string", "q", "q"},
		"e": {"null", "", "~"},
	} {
		v := n.Get(key)
		require.NotNil(t, v, key)
		assert.Equal(t, want, [3]string{v.Kind.String(), v.Str, v.Text}, key)
	}
	assert.Equal(t, Pos{Line: 2, Col: 4}, n.Get("b").Pos)
}

func TestTreeResolvesAliasesAndMerges(t *testing.T) {
	n, err := tree(t, "base: &b {x: 1, y: 2}\nuse:\n  y: 3\n  <<: *b\nref: *b\n", TreeOptions{})
	require.NoError(t, err)
	use := n.Get("use")
	assert.Equal(t, int64(3), use.Get("y").Int)
	assert.Equal(t, int64(1), use.Get("x").Int)
	assert.Equal(t, int64(2), n.Get("ref").Get("y").Int)
}

func TestTreeRefusesAliasesAndMergesWhenAsked(t *testing.T) {
	opt := TreeOptions{AliasRefusal: "no aliases here", MergeRefusal: "no merges here"}
	_, err := tree(t, "a: &x 1\nb: *x\n", opt)
	var te *TreeError
	require.True(t, errors.As(err, &te), "%v", err)
	assert.Equal(t, "2:4: no aliases here", err.Error())
	assert.False(t, errors.Is(err, ErrLimit))

	_, err = tree(t, "a: {x: 1}\nb:\n  <<: {y: 2}\n", opt)
	require.Error(t, err)
	assert.Equal(t, "3:3: no merges here", err.Error())
}

func TestTreeErrorsSayWhere(t *testing.T) {
	// a key given after a merge that brought it in is a duplicate
	_, err := tree(t, "base: &b {y: 2}\nuse:\n  <<: *b\n  y: 3\n", TreeOptions{})
	require.Error(t, err)
	assert.Equal(t, `4:3: duplicate key "y" (first at 1:11)`, err.Error())

	_, err = tree(t, "a: *nowhere\n", TreeOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown YAML alias *nowhere")

	_, err = tree(t, "a: [[[1]]]\n", TreeOptions{MaxDepth: 2})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "YAML nested deeper than 2 levels")
}

func TestTreeAsWritten(t *testing.T) {
	src := "True: !!str 01\ntrue: <<\n"
	_, err := tree(t, src, TreeOptions{})
	require.Error(t, err, "typed keys True and true collide, and << is no value")

	n, err := tree(t, src, TreeOptions{AsWritten: true})
	require.NoError(t, err)
	require.Len(t, n.Map, 2)
	assert.Equal(t, "True", n.Map[0].Key)
	assert.Equal(t, KindInt, n.Map[0].Value.Kind, "the !!str tag is ignored")
	assert.Equal(t, "01", n.Map[0].Value.Text)
	assert.Equal(t, "true", n.Map[1].Key)
	assert.Equal(t, "<<", n.Map[1].Value.Text)
	assert.Equal(t, Pos{Line: 2, Col: 1}, n.Map[1].KeyPos)
}
