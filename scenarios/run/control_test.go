package run

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
)

// A controlled run waits, paused, until resumed; a pause stops the
// scenario clock and the actors, a resume lets them go on; a skip jumps to
// the attacker's next action; the run then ends as a finished one.
func TestControlPauseResumeSkip(t *testing.T) {
	sc, err := scenarios.Parse("ctl.yaml", []byte(`
id: ctl
title: ctl
environment: {users: 8, messages: 10, start: 2025-12-11T23:00:00+01:00, duration: 3h}
actors:
  - id: a
    kind: attacker
    credentials: {user: director}
    steps:
      - {id: first, login: {}}
      - logout
      - {id: later, wait: 2h}
      - {id: again, login: {}}
      - logout
`))
	require.NoError(t, err)
	ctl, err := NewControl(sc.Env.Start, 60)
	require.NoError(t, err)
	var truths atomic.Int64
	var lastLogin atomic.Value
	ended := startControlled(sc, ctl, func(tr scenarios.TruthRecord) {
		truths.Add(1)
		if tr.Action == "imap.login" {
			lastLogin.Store(tr.Time)
		}
	})
	// Paused from the start: nothing acts, the clock stands at the start.
	time.Sleep(300 * time.Millisecond)
	assert.Zero(t, truths.Load(), "nothing acts before the start")
	assert.True(t, ctl.Clock().Now().Equal(sc.Env.Start))

	ctl.Resume()
	waitFor(t, "the first login", func() bool { return lastLogin.Load() != nil })
	waitFor(t, "the attacker waiting two hours", func() bool { return scriptedWaiting(ctl, time.Hour) })

	require.True(t, ctl.Pause())
	frozen := ctl.Clock().Now()
	n := truths.Load()
	time.Sleep(200 * time.Millisecond)
	assert.True(t, ctl.Clock().Now().Equal(frozen), "a pause stops the scenario clock")
	assert.Equal(t, n, truths.Load(), "and the actors")

	require.True(t, ctl.Resume())
	time.Sleep(50 * time.Millisecond)
	assert.True(t, ctl.Clock().Now().After(frozen), "a resume lets it run again")
	due := ctl.Next()
	next, err := ctl.Skip()
	require.NoError(t, err)
	assert.Equal(t, due, next, "Next says where a skip goes")
	assert.Equal(t, sc.Env.Start.Add(2*time.Hour).Truncate(time.Minute), next.Truncate(time.Minute), "the skip goes to the step after the 2h wait")
	res := ended(t, "after the skip")
	first := res.Truth[0].Time
	again := lastLogin.Load().(time.Time)
	assert.GreaterOrEqual(t, again.Sub(first), 2*time.Hour, "the second login is two scenario hours later")
}

// startControlled runs sc under ctl in the background, with onTruth for
// each ground-truth record. ended waits up to 30 s for the run to end
// without an error (saying when it was expected to), and returns its
// result.
func startControlled(sc *scenarios.Scenario, ctl *Control, onTruth func(scenarios.TruthRecord)) (ended func(t *testing.T, when string) *scenarios.Result) {
	type outcome struct {
		res *scenarios.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Run(context.Background(), sc, Options{Control: ctl, OnTruth: onTruth})
		done <- outcome{res, err}
	}()
	return func(t *testing.T, when string) *scenarios.Result {
		t.Helper()
		select {
		case o := <-done:
			require.NoError(t, o.err)
			return o.res
		case <-time.After(30 * time.Second):
			t.Fatalf("the run did not end %s", when)
			return nil
		}
	}
}

// waitFor polls f every 10 ms until it holds, for up to 20 s.
func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		require.True(t, time.Now().Before(deadline), "waiting for %s", what)
		time.Sleep(10 * time.Millisecond)
	}
}

// scriptedWaiting says whether a scripted actor of ctl's run waits for a
// time more than d ahead of the clock (a skip would jump there).
func scriptedWaiting(ctl *Control, d time.Duration) bool {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return ctl.sched.nextWait(ctl.orders).After(ctl.Clock().Now().Add(d))
}

// End stops a controlled run as an operator's stop does.
func TestControlEnd(t *testing.T) {
	sc, err := scenarios.Parse("end.yaml", []byte(`
id: endme
title: endme
environment: {users: 8, messages: 10, duration: 20h}
actors:
  - id: a
    kind: attacker
    credentials: {user: director}
    steps:
      - {wait: 10h}
      - {login: {}}
`))
	require.NoError(t, err)
	ctl, err := NewControl(sc.Env.Start, 1)
	require.NoError(t, err)
	ctl.Resume()
	time.AfterFunc(300*time.Millisecond, ctl.End)
	_, err = Run(context.Background(), sc, Options{Control: ctl})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "run stopped")
}
