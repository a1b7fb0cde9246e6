package scenarios

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/sigma"
)

func resolveScenario(t *testing.T, expect string) *Scenario {
	t.Helper()
	sc, err := Parse("r.yaml", []byte(`id: r
title: r
environment: {users: 5, messages: 2, start: 2025-12-11T07:00:00+01:00, duration: 30m}
actors:
  - id: a
    kind: attacker
    credentials: {user: director}
    steps:
      - {id: in, login: {}}
      - logout
expect:
`+expect))
	require.NoError(t, err)
	return sc
}

// Expectations name a loaded rule by id, name, title or title glob, as
// the verdicts match alerts; group: keys are the correlation's group-by
// fields. Anything else is refused at the rule name or key, with a hint.
func TestResolve(t *testing.T) {
	for _, ok := range []string{
		"  - {rule: 829ac393-206d-4b44-8201-bf458b1207aa, after: in, within: 5m}\n",
		"  - {rule: imap_brute_failed_login, after: in, within: 5m}\n",
		"  - {rule: IMAP Brute Force Against One Account, after: in, within: 5m, group: {user.name: director}}\n",
		"  - {rule: imap brute force against one account, after: in, within: 5m}\n",
		"  - {rule: 'IMAP Brute*', after: in, within: 5m}\n",
		"  - {must_not_fire: true, group: {user.name: director}}\n",
		"  - {must_not_fire: true}\n",
	} {
		require.NoError(t, Resolve(resolveScenario(t, ok), nil), ok)
	}
	for bad, want := range map[string]string{
		"  - {rule: IMAP Brute Force Agains One Account, after: in, within: 5m}\n":                               `r.yaml:12:12: rule "IMAP Brute Force Agains One Account": no loaded rule has this id, name or title (did you mean "IMAP Brute Force Against One Account"?)`,
		"  - {rule: 'Nothing*', must_not_fire: true}\n":                                                          `r.yaml:12:12: rule "Nothing*": no loaded rule has this id, name or title (nearest title: `,
		"  - {rule: 'IMAP [Brute', must_not_fire: true}\n":                                                       `r.yaml:12:12: rule "IMAP [Brute": bad title pattern`,
		"  - {rule: IMAP Brute Force Against One Account, after: in, within: 5m, group: {user.nme: x}}\n":        `r.yaml:12:81: group key "user.nme": rule "IMAP Brute Force Against One Account" does not group by this field (did you mean "user.name"?)`,
		"  - {rule: IMAP Login From Outside The Office Network, after: in, within: 5m, group: {source.ip: x}}\n": `group key "source.ip": rule "IMAP Login From Outside The Office Network" groups by nothing`,
	} {
		err := Resolve(resolveScenario(t, bad), nil)
		require.Error(t, err, bad)
		var es Errors
		require.True(t, errors.As(err, &es), "positioned: %v", err)
		assert.Contains(t, err.Error(), want)
	}
}

// Run resolves before anything runs: a misspelt expectation is an error
// before any audit event; with no rules (outside alerts only) it is not
// resolved, and the run goes on.
func TestRunResolvesFirst(t *testing.T) {
	sc := resolveScenario(t, "  - {rule: IMAP Pasword Spray From One Source, must_not_fire: true}\n")
	var ev bytes.Buffer
	res, err := Run(context.Background(), sc, Options{Events: &ev})
	require.Error(t, err)
	var es Errors
	require.True(t, errors.As(err, &es), "%v", err)
	assert.Contains(t, err.Error(), "r.yaml:12:12: ")
	assert.Nil(t, res)
	assert.Zero(t, ev.Len(), "no event: nothing ran")

	res, err = Run(context.Background(), sc, Options{Events: &ev, Rules: []*sigma.Rule{}})
	require.NoError(t, err)
	require.Len(t, res.Verdicts, 1)
	assert.Equal(t, Met, res.Verdicts[0].Result, "no outside alert came")
	assert.NotZero(t, ev.Len())
}
