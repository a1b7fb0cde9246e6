package run

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/scenarios"
)

// Run resolves before anything runs: a misspelt expectation is an error
// before any audit event; with no rules (outside alerts only) it is not
// resolved, and the run goes on.
func TestRunResolvesFirst(t *testing.T) {
	sc := resolveScenario(t, "  - {rule: IMAP Pasword Spray From One Source, must_not_fire: true}\n")
	var ev bytes.Buffer
	res, err := Run(context.Background(), sc, Options{Events: &ev})
	require.Error(t, err)
	var es scenarios.Errors
	require.True(t, errors.As(err, &es), "%v", err)
	assert.Contains(t, err.Error(), "r.yaml:12:12: ")
	assert.Nil(t, res)
	assert.Zero(t, ev.Len(), "no event: nothing ran")

	res, err = Run(context.Background(), sc, Options{Events: &ev, Rules: []*sigma.Rule{}})
	require.NoError(t, err)
	require.Len(t, res.Verdicts, 1)
	assert.Equal(t, scenarios.Met, res.Verdicts[0].Result, "no outside alert came")
	assert.NotZero(t, ev.Len())
}

func resolveScenario(t *testing.T, expect string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse("r.yaml", []byte(`id: r
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
