package run

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
)

// paceScenario has an attacker log in and search ten times, a scenario
// second apart.
func paceScenario(t *testing.T) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.ParseFile("../testdata/verdicts/quiet-reader.yaml")
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
	assert.Equal(t, "pace", behind[0].Kind)
	assert.Empty(t, behind[0].Actor, "the run's note, not an actor's: exercise mode shows it whoever was late")
	assert.Contains(t, behind[0].Text, "falling behind the clock: a's action due at 23:")
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

// On an operator's clock (exercise mode) a skip is not lag: staff actions
// due in the skipped hours happen at once, on purpose, and are not late.
// The pace is still measured.
func TestSkipIsNotLag(t *testing.T) {
	sc, err := scenarios.Parse("skip.yaml", []byte(`
id: skip
title: skip
environment: {users: 8, messages: 10, start: 2025-12-11T09:00:00+01:00, duration: 2h2m}
actors:
  - id: staff
    kind: staff
    staff: {count: 3, workday: "08:00-18:30", phones: 0, late: 0, mail_per_day: 1}
  - id: a
    kind: attacker
    credentials: {user: director}
    steps:
      - login: {}
      - logout
      - wait: 2h
      - login: {}
      - logout
`))
	require.NoError(t, err)
	ctl, err := NewControl(sc.Env.Start, 60)
	require.NoError(t, err)
	var logins atomic.Int64
	var staffActs atomic.Int64
	ended := startControlled(sc, ctl, func(tr scenarios.TruthRecord) {
		if tr.Actor == "a" && tr.Action == "imap.login" {
			logins.Add(1)
		}
		if tr.Role == "staff" && tr.Action != "" {
			staffActs.Add(1)
		}
	})
	ctl.Resume()
	waitFor(t, "the first login", func() bool { return logins.Load() > 0 })
	waitFor(t, "the attacker's two-hour wait", func() bool { return scriptedWaiting(ctl, time.Hour) })
	before := staffActs.Load()
	to, err := ctl.Skip()
	require.NoError(t, err)
	require.True(t, to.After(sc.Env.Start.Add(time.Hour)), "the skip jumps the two hours (to %s)", to)
	res := ended(t, "after the skip")
	require.NotNil(t, res.Pace, "an operator's clock is measured")
	assert.Greater(t, staffActs.Load()-before, int64(10), "staff caught up on the skipped hours")
	assert.Greater(t, res.Pace.Timed, 10)
	assert.False(t, res.Pace.Behind(), "%d late, worst %s (%s)", res.Pace.Late, res.Pace.MaxLag, res.Pace.MaxLagActor)
	assert.Equal(t, 60.0, res.Pace.Speed)
}
