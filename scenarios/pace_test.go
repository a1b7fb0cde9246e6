package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// An action is late only beyond the tolerance; the first late one is
// told once; the worst delay is kept with whose it was.
func TestPaceNote(t *testing.T) {
	t0 := time.Date(2025, 12, 11, 23, 0, 0, 0, time.UTC)
	var p Pace
	assert.False(t, p.Behind())
	assert.False(t, (*Pace)(nil).Behind())
	assert.False(t, p.Note("a", t0, t0.Add(-time.Second)), "early (timer slack the other way)")
	assert.False(t, p.Note("b", t0, t0.Add(LateTolerance)), "exactly the tolerance is on time")
	assert.False(t, p.Behind())
	assert.True(t, p.Note("c", t0.Add(time.Hour), t0.Add(time.Hour+LateTolerance+time.Nanosecond)), "the first late action")
	assert.False(t, p.Note("d", t0.Add(2*time.Hour), t0.Add(5*time.Hour)), "a second one is not the first")
	assert.False(t, p.Note("e", t0, t0.Add(2*time.Minute)), "a smaller delay leaves the worst")
	assert.True(t, p.Behind())
	assert.Equal(t, Pace{Timed: 5, Late: 3, MaxLag: 3 * time.Hour, MaxLagActor: "d", MaxLagDue: t0.Add(2 * time.Hour)}, p)

	for speed, want := range map[float64]string{3000: "a lower --speed", 0.5: "a lower --speed", 0: "a lower --speed", 1: "at real time only"} {
		assert.Contains(t, (&Pace{Speed: speed}).Remedy(), want, "speed %v", speed)
	}
	assert.Contains(t, (*Pace)(nil).Remedy(), "a lower --speed")
}
