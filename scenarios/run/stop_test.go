package run

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Cancelling a run (Ctrl-C) stops every actor and the servers promptly,
// returns what was recorded, and leaves no goroutine behind.
func TestRunStopsOnCancel(t *testing.T) {
	src := `
id: long
title: long
environment: {users: 10, messages: 20, start: 2025-12-11T07:00:00+01:00, duration: 20h}
actors:
  - id: staff
    kind: staff
    staff: {count: 8}
  - id: slow
    kind: attacker
    credentials: {user: director}
    pacing: {delay: 1s}
    steps:
      - repeat: {times: 100000, steps: [{login: {}}, {list: {}}, logout]}
`
	sc, err := scenarios.Parse("long.yaml", []byte(src))
	require.NoError(t, err)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	t0 := time.Now()
	res, err := Run(ctx, sc, Options{})
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Less(t, time.Since(t0), 15*time.Second)
	require.NotNil(t, res)
	assert.NotEmpty(t, res.Truth, "what happened before the stop is kept")
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before+3, "goroutines left behind")
}

// A wall-clock deadline stops a run the same way.
func TestRunWallDeadline(t *testing.T) {
	sc, err := scenarios.Parse("d.yaml", []byte(`
id: d
title: d
environment: {users: 8, messages: 10, duration: 20h}
actors:
  - id: a
    kind: attacker
    credentials: {user: director}
    steps:
      - repeat: {times: 100000, steps: [{login: {}}, logout]}
`))
	require.NoError(t, err)
	_, err = Run(context.Background(), sc, Options{WallDeadline: 300 * time.Millisecond})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "run stopped")
}

// Ctrl-C while every actor waits on the scenario clock (not inside a
// protocol exchange) still ends the run with an error: an interrupted run
// is never judged as a finished one. It used to return no error, and
// `maildrill run` printed the unreached expectations as MISSED.
func TestRunCancelledBetweenStepsIsAnError(t *testing.T) {
	sc, err := scenarios.Parse("between.yaml", []byte(`
id: between
title: between
environment: {users: 8, messages: 10, start: 2025-12-11T07:00:00+01:00, duration: 20h}
actors:
  - id: a
    kind: attacker
    credentials: {user: director}
    steps:
      - {id: first, login: {}}
      - logout
      - {id: later, wait: 2h}
      - {login: {}}
      - logout
expect:
  - rule: "IMAP Login From Outside The Office Network"
    after: later
    within: 10m
`))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Run(ctx, sc, Options{Progress: func(n Note) {
		if n.Kind == "step" && strings.HasPrefix(n.Text, "later") {
			// As a signal does: the stop reaches the scheduler while the
			// actor is between two waits, so its next wait finds the
			// scheduler closed (errStopped) rather than a cancelled ctx.
			cancel()
			time.Sleep(100 * time.Millisecond)
		}
	}})
	require.Error(t, err, "an interrupted run must not look finished")
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Contains(t, err.Error(), "run stopped")
	require.NotNil(t, res)
}

// A run whose actors fail by the hundred reports the first three in full
// and counts the rest; the errors stay reachable (errors.Is, errors.As).
func TestJoinActorErrors(t *testing.T) {
	assert.NoError(t, joinActorErrors(nil))
	var errs []error
	for i := range 10 {
		errs = append(errs, fmt.Errorf("actor %d: IMAP greeting: BYE [LIMIT] Too many connections", i))
	}
	two := joinActorErrors(errs[:2])
	assert.Equal(t, errs[0].Error()+"\n"+errs[1].Error(), two.Error())

	step := &StepError{Actor: "attacker", Err: errors.New("bad step")}
	errs[2] = step
	all := joinActorErrors(errs)
	msg := all.Error()
	assert.Equal(t, 4, strings.Count(msg, "\n")+1, msg)
	assert.Contains(t, msg, errs[0].Error())
	assert.Contains(t, msg, "and 7 more actors stopped with errors")
	assert.NotContains(t, msg, "actor 3:")
	assert.ErrorIs(t, all, errs[1])
	var se *StepError
	assert.ErrorAs(t, all, &se)
}
