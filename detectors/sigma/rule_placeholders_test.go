package sigma

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRulePlaceholders(t *testing.T) {
	rules, errs := ParseFile("p.yml", []byte(`title: P
logsource: {product: maildrill, service: imap}
detection:
  sel:
    source.ip|cidr|expand: ['%office_networks%', '%vpn%']
    destination.domain|expand: 'mail.%Internal_Domains%'
    user.name: '%not_expanded%'
  keywords:
    '|expand': ['50\% of %quota_name%']
  condition: sel or keywords
`))
	require.Empty(t, errs)
	require.Len(t, rules, 1)
	assert.Equal(t, []string{"Internal_Domains", "office_networks", "quota_name", "vpn"}, rules[0].Placeholders(),
		"names under |expand only, \\%% a plain percent sign")
	assert.Equal(t, []string{"a", "b"}, placeholderNames(`%a%-\%x-%b%%unterminated`))
}
