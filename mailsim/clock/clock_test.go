package clock

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestVirtual(t *testing.T) {
	start := time.Date(2025, 12, 11, 23, 40, 0, 0, time.FixedZone("CET", 3600))
	v := NewVirtual(start)
	require.True(t, v.Now().Equal(start))
	require.NoError(t, v.Advance(90*time.Minute))
	require.Equal(t, "2025-12-12T01:10:00+01:00", v.Now().Format(time.RFC3339))
	require.Error(t, v.Set(start), "going back must be refused")
	require.Error(t, v.Advance(-time.Second))
	require.Equal(t, "2025-12-12T01:10:00+01:00", v.Now().Format(time.RFC3339))
}

func TestScaled(t *testing.T) {
	_, err := NewScaled(time.Now(), 0)
	require.Error(t, err)
	origin := time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC)
	s, err := NewScaled(origin, 3600)
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond)
	// 20ms of wall time at x3600 is at least 72s of scenario time.
	require.GreaterOrEqual(t, s.Now().Sub(origin), 72*time.Second)
}

// TestCheckFactor: a scaled clock's speed is a number from MinFactor to
// MaxFactor. NaN used to pass the old "factor <= 0" check (every
// comparison with NaN is false), and speeds past about 1e9 overflowed the
// clock's arithmetic: a scenario of hours read as -2562047h.
func TestCheckFactor(t *testing.T) {
	origin := time.Date(2025, 12, 11, 23, 0, 0, 0, time.UTC)
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, -1, 1e-300, 0.0009, 1e6 + 1, 1e300} {
		if CheckFactor(f) == nil {
			t.Errorf("speed %v accepted", f)
		}
		if _, err := NewScaled(origin, f); err == nil {
			t.Errorf("NewScaled at %v accepted", f)
		}
		if _, err := NewControlled(origin, f); err == nil {
			t.Errorf("NewControlled at %v accepted", f)
		}
	}
	c, err := NewControlled(origin, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.SetFactor(math.NaN()) == nil || c.Factor() != 1 {
		t.Error("SetFactor(NaN) accepted")
	}
	for _, f := range []float64{MinFactor, 0.5, 1, 3600, MaxFactor} {
		if err := CheckFactor(f); err != nil {
			t.Errorf("speed %v refused: %v", f, err)
		}
		s, err := NewScaled(origin, f)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		if now := s.Now(); now.Before(origin) || now.After(origin.Add(time.Duration(f*float64(time.Hour)))) {
			t.Errorf("at ×%v, a millisecond later the clock reads %v", f, now)
		}
	}
	if err := CheckFactor(math.NaN()); err == nil || err.Error() != "speed NaN: want a number from 0.001 to 1000000 (scenario seconds per wall second)" {
		t.Errorf("message: %v", err)
	}
}

// TestVirtualStaysInRange: set or advanced past April 2262 (the admin
// API's POST /api/clock), a virtual clock stamped events in 1677.
func TestVirtualStaysInRange(t *testing.T) {
	v := NewVirtual(time.Date(2025, 12, 11, 23, 0, 0, 0, time.UTC))
	if err := v.Set(time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("set to 2999 accepted")
	}
	if err := v.Advance(math.MaxInt64); err == nil {
		t.Error("advanced by 292 years accepted")
	}
	if got := v.Now(); got.Year() != 2025 {
		t.Errorf("a refused move moved the clock to %v", got)
	}
	if err := v.Set(time.Date(2262, 4, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("set to 2262-04-01: %v", err)
	}
	if err := v.Advance(time.Hour); err != nil {
		t.Errorf("an hour later: %v", err)
	}
}
