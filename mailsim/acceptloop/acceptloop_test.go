package acceptloop

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoff(t *testing.T) {
	var b Backoff
	var got []time.Duration
	for range 10 {
		got = append(got, b.Next())
	}
	assert.Equal(t, []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond,
		80 * time.Millisecond, 160 * time.Millisecond, 320 * time.Millisecond, 640 * time.Millisecond, time.Second, time.Second}, got)
	b.Reset()
	assert.Equal(t, Min, b.Next())
}

func TestSleepEndsOnDone(t *testing.T) {
	done := make(chan struct{})
	assert.True(t, Sleep(time.Millisecond, done))
	close(done)
	assert.False(t, Sleep(time.Hour, done))
}
