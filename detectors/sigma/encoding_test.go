package sigma

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A rule saved with a UTF-8 byte order mark parses as without one (its
// title used to be read as the key "\ufefftitle": "missing title").
func TestRuleWithByteOrderMark(t *testing.T) {
	rules, errs := ParseFile("bom.yml", []byte("\xEF\xBB\xBFtitle: with a mark\nid: bom-1\nlogsource: {product: maildrill}\ndetection:\n  sel: {action: imap.login}\n  condition: sel\n"))
	require.Empty(t, errs)
	require.Len(t, rules, 1)
	assert.Equal(t, "with a mark", rules[0].Title)
	_, errs = ParseFile("u16.yml", []byte("\xFF\xFEt\x00i\x00"))
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), "u16.yml: the file is UTF-16 text")
}
