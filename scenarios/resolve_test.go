package scenarios

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors"
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
		"  - {rule: IMAP Brute Force Against One Account, after: in, within: 5m, group: {user.name: director}}\n",
		"  - {rule: imap brute force against one account, after: in, within: 5m}\n",
		"  - {rule: 'IMAP Brute*', after: in, within: 5m}\n",
		"  - {must_not_fire: true, group: {user.name: director}}\n",
		"  - {must_not_fire: true}\n",
	} {
		require.NoError(t, Resolve(resolveScenario(t, ok), nil), ok)
	}
	for bad, want := range map[string]string{
		"  - {rule: IMAP Brute Force Agains One Account, after: in, within: 5m}\n":                                         `r.yaml:12:12: rule "IMAP Brute Force Agains One Account": no loaded rule has this id, name or title (did you mean "IMAP Brute Force Against One Account"?)`,
		"  - {rule: 'Nothing*', must_not_fire: true}\n":                                                                    `r.yaml:12:12: rule "Nothing*": no loaded rule has this id, name or title (nearest title: `,
		"  - {rule: 'IMAP [Brute', must_not_fire: true}\n":                                                                 `r.yaml:12:12: rule "IMAP [Brute": bad title pattern`,
		"  - {rule: IMAP Brute Force Against One Account, after: in, within: 5m, group: {user.nme: x}}\n":                  `r.yaml:12:81: group key "user.nme": rule "IMAP Brute Force Against One Account" does not group by this field (did you mean "user.name"?)`,
		"  - {rule: IMAP Login From Outside The Office Network, after: in, within: 5m, group: {source.ip: 203.0.113.7}}\n": `group key "source.ip": rule "IMAP Login From Outside The Office Network" groups by nothing`,
		"  - {rule: imap_brute_failed_login, after: in, within: 5m}\n":                                                     `r.yaml:12:12: rule "IMAP Failed Login (brute force base)" is a base rule of correlation "IMAP Brute Force Against One Account" and never alerts on its own (expect "IMAP Brute Force Against One Account"`,
		"  - {rule: IMAP Failed Login (brute force base), must_not_fire: true}\n":                                          `r.yaml:12:12: rule "IMAP Failed Login (brute force base)" is a base rule of correlation "IMAP Brute Force Against One Account" and never alerts on its own`,
	} {
		err := Resolve(resolveScenario(t, bad), nil)
		require.Error(t, err, bad)
		var es Errors
		require.True(t, errors.As(err, &es), "positioned: %v", err)
		assert.Contains(t, err.Error(), want)
	}
}

// Rules that can never alert are refused by name: a rule whose logsource
// is not mapped, and a correlation over such rules, whether the
// expectation wants them to fire or not to.
func TestResolveUnfireable(t *testing.T) {
	rules, errs := detectors.ParseRules("w.yml", []byte(`title: Win Logon
name: win_logon
logsource: {product: windows, service: security}
detection: {s: {EventID: 4625}, condition: s}
---
title: Many Win Logons
correlation: {type: event_count, rules: [win_logon], group-by: [u], timespan: 1m, condition: {gte: 2}}
generate: true
---
title: Mail Login
logsource: {product: maildrill, service: imap}
detection: {s: {event.action: imap.login}, condition: s}
`))
	require.Empty(t, errs)
	for bad, want := range map[string]string{
		"  - {rule: Win Logon, must_not_fire: true}\n":         `r.yaml:12:12: rule "Win Logon"'s logsource product=windows service=security is not mapped: it cannot fire`,
		"  - {rule: Win Logon, after: in, within: 5m}\n":       `r.yaml:12:12: rule "Win Logon"'s logsource product=windows service=security is not mapped: it cannot fire`,
		"  - {rule: Many Win Logons, after: in, within: 5m}\n": `r.yaml:12:12: rule "Many Win Logons" is a correlation over rules whose logsource is not mapped: it cannot fire`,
		"  - {rule: '*Win*', must_not_fire: true}\n":           `(as are the 1 other rules the pattern names)`,
	} {
		err := Resolve(resolveScenario(t, bad), rules)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), want)
	}
	for _, ok := range []string{
		"  - {rule: Mail Login, after: in, within: 5m}\n",
		"  - {rule: '*Log*', must_not_fire: true}\n", // one of them can fire
	} {
		require.NoError(t, Resolve(resolveScenario(t, ok), rules), ok)
	}
}
