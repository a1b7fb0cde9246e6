package detectors

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An alert of a rule declaring related: derived names the rule it derives
// from, with its name and title when that rule is loaded too, and only its
// id when it is not; relations of other types are not derivations.
func TestAlertDerivedFrom(t *testing.T) {
	const y = `title: Original
id: 0e99c94e-97dc-42f7-bd5d-4c70b8854360
name: original
logsource: {product: maildrill}
detection: {sel: {file.name|exists: true}, condition: sel}
---
title: Variant
id: 8d262bb3-e4ac-4d8f-a46f-50048fcc5795
related:
  - {id: 0e99c94e-97dc-42f7-bd5d-4c70b8854360, type: derived}
  - {id: 11111111-2222-3333-4444-555555555555, type: derived}
  - {id: 22222222-2222-3333-4444-555555555555, type: similar}
logsource: {product: maildrill}
detection: {sel: {imap.fetch.items|contains: 'BODY[2]'}, condition: sel}
`
	e := engine(t, y, Config{})
	alerts := run(e, []Event{mk(t, 0, "e1", fields{"imap.fetch.items": "UID BODY[2]", "file.name": "a.pdf"})}, "")
	require.Len(t, alerts, 2)
	assert.Empty(t, alerts[0].DerivedFrom, alerts[0].Title)
	v := alerts[1]
	assert.Equal(t, "Variant", v.Title)
	assert.Equal(t, []RuleRef{
		{ID: "0e99c94e-97dc-42f7-bd5d-4c70b8854360", Name: "original", Title: "Original"},
		{ID: "11111111-2222-3333-4444-555555555555"},
	}, v.DerivedFrom)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"rule.derived_from":[{"id":"0e99c94e-97dc-42f7-bd5d-4c70b8854360","name":"original","title":"Original"}`)
}
