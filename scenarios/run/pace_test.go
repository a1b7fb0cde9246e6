package run

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
)

// paceScenario has an attacker log in and search ten times, a scenario
// second apart.
func paceScenario(t *testing.T) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse("pace.yaml", []byte(`
id: pace
title: pace
environment: {users: 8, messages: 10, start: 2025-12-11T23:00:00+01:00, duration: 1h}
actors:
  - id: a
    kind: attacker
    credentials: {user: director}
    pacing: {delay: 1s}
    steps:
      - login: {}
      - repeat: {times: 10, steps: [{search: {text: budget}}]}
      - logout
`))
	require.NoError(t, err)
	return sc
}

// A run on a scaled clock faster than its actors can act falls behind: at
// a million scenario seconds per wall second every round trip costs
// minutes of scenario time. The run counts the late actions, says so once
// while it runs, and its result carries the pace.
func TestScaledRunThatFallsBehindSaysSo(t *testing.T) {
	sc := paceScenario(t)
	var mu sync.Mutex
	var behind []Note
	res, err := Run(context.Background(), sc, Options{Speed: 1e6, Progress: func(n Note) {
		if strings.Contains(n.Text, "falling behind") {
			mu.Lock()
			behind = append(behind, n)
			mu.Unlock()
		}
	}})
	require.NoError(t, err)
	p := res.Pace
	require.NotNil(t, p, "a scaled run measures its pace")
	assert.True(t, p.Behind())
	assert.GreaterOrEqual(t, p.Timed, 12, "login, ten searches and logout waited for their times")
	assert.Greater(t, p.Late, 0)
	assert.LessOrEqual(t, p.Late, p.Timed)
	assert.Greater(t, p.MaxLag, scenarios.LateTolerance)
	assert.Equal(t, "a", p.MaxLagActor)
	assert.False(t, p.MaxLagDue.Before(sc.Env.Start))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, behind, 1, "the first late action is announced, once")
	assert.Equal(t, "info", behind[0].Kind)
	assert.Equal(t, "a", behind[0].Actor)
	assert.Contains(t, behind[0].Text, "(a lower --speed keeps to it)")

	// The re-judged result (outside alerts) keeps it.
	again := scenarios.Judge(sc, res.Recording())
	assert.Equal(t, p, again.Pace)
}

// A scaled run slow enough for its actors keeps up: every action waited
// for its time and none started late. The virtual clock has no pace.
func TestScaledRunThatKeepsUp(t *testing.T) {
	sc := paceScenario(t)
	res, err := Run(context.Background(), sc, Options{Speed: 10})
	require.NoError(t, err)
	require.NotNil(t, res.Pace)
	assert.False(t, res.Pace.Behind(), "worst delay %s", res.Pace.MaxLag)
	assert.GreaterOrEqual(t, res.Pace.Timed, 12)
	assert.Zero(t, res.Pace.Late)

	virtual, err := Run(context.Background(), sc, Options{})
	require.NoError(t, err)
	assert.Nil(t, virtual.Pace)
}
