package clock

import (
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
