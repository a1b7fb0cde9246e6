package throttle

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/clock"
)

func TestNilLimiterNeverThrottles(t *testing.T) {
	var l *Limiter
	require.Nil(t, New(Config{}, nil))
	require.Equal(t, "", l.Check("192.0.2.1", "a"))
	require.Zero(t, l.Failure("192.0.2.1", "a"))
	l.Success("192.0.2.1", "a")
}

func TestLimitsOnScenarioClock(t *testing.T) {
	start := time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC)
	c := clock.NewVirtual(start)
	l := New(Config{FailureDelay: 2 * time.Second, MaxFailuresPerSource: 3, MaxFailuresPerAccount: 2, Window: 10 * time.Minute}, c)
	require.Equal(t, 10*time.Minute, l.Config().Window)

	// Three failures from one source, spread over accounts: the source locks.
	for _, u := range []string{"a", "b", "c"} {
		require.Equal(t, "", l.Check("192.0.2.1", u))
		require.Equal(t, 2*time.Second, l.Failure("192.0.2.1", u))
	}
	require.Equal(t, ReasonSourceLocked, l.Check("192.0.2.1", "d"))
	require.Equal(t, "", l.Check("192.0.2.2", "d"), "another source is not locked")

	// Two failures on one account from two sources: the account locks,
	// whatever the case of the name.
	l.Failure("192.0.2.3", "Director")
	l.Failure("192.0.2.4", "director")
	require.Equal(t, ReasonAccountLocked, l.Check("192.0.2.5", "DIRECTOR"))

	// The window passes in scenario time: both are free again.
	require.NoError(t, c.Advance(10*time.Minute+time.Second))
	require.Equal(t, "", l.Check("192.0.2.1", "d"))
	require.Equal(t, "", l.Check("192.0.2.5", "director"))

	// A success clears the counts.
	l.Failure("192.0.2.9", "x")
	l.Failure("192.0.2.9", "x")
	require.Equal(t, ReasonAccountLocked, l.Check("192.0.2.9", "x"))
	l.Success("192.0.2.9", "x")
	require.Equal(t, "", l.Check("192.0.2.9", "x"))
}

func TestSleepFollowsTheClock(t *testing.T) {
	ctx := context.Background()
	// Virtual: no wall time at all, even for an hour.
	v := clock.NewVirtual(time.Now())
	t0 := time.Now()
	require.NoError(t, Sleep(ctx, v, time.Hour))
	require.Less(t, time.Since(t0), time.Minute)

	// Scaled ×1000: an hour of scenario time is 3.6 s of wall time; a
	// cancelled context ends it at once.
	s, err := clock.NewScaled(time.Now(), 1000)
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, Sleep(cctx, s, time.Hour), context.Canceled)

	// Real: a short delay is waited.
	t0 = time.Now()
	require.NoError(t, Sleep(ctx, clock.Real{}, 20*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(t0), 20*time.Millisecond)
}
