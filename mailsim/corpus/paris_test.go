package corpus

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParisTime(t *testing.T) {
	tests := []struct {
		utc  string
		want string
	}{
		{"2025-03-30T00:59:59Z", "2025-03-30T01:59:59+01:00"},
		{"2025-03-30T01:00:00Z", "2025-03-30T03:00:00+02:00"},
		{"2025-10-26T00:59:59Z", "2025-10-26T02:59:59+02:00"},
		{"2025-10-26T01:00:00Z", "2025-10-26T02:00:00+01:00"},
		{"2024-12-31T23:30:00Z", "2025-01-01T00:30:00+01:00"},
		{"2025-07-14T10:00:00Z", "2025-07-14T12:00:00+02:00"},
	}
	for _, tt := range tests {
		u, _ := time.Parse(time.RFC3339, tt.utc)
		assert.Equal(t, tt.want, paris(u).Format(time.RFC3339), tt.utc)
	}
	assert.Equal(t, "14 octobre 2025", frenchDate(time.Date(2025, 10, 14, 9, 0, 0, 0, time.UTC)))
	assert.Equal(t, "mardi 14 octobre 2025 11:00", frenchDateTime(time.Date(2025, 10, 14, 9, 0, 0, 0, time.UTC)))
}

func TestWorkCalendar(t *testing.T) {
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2025, 4, 30, 0, 0, 0, 0, time.UTC)
	c := newWorkCalendar(from, to)
	w0, w1 := c.at(from), c.at(to)
	prev := time.Time{}
	for w := w0; w < w1; w += 1234 {
		at := paris(c.instant(w))
		assert.NotEqual(t, time.Saturday, at.Weekday())
		assert.NotEqual(t, time.Sunday, at.Weekday())
		mins := at.Hour()*60 + at.Minute()
		assert.True(t, mins >= 7*60+45 && mins <= 19*60+30, "%s in office hours", at)
		assert.True(t, at.After(prev))
		prev = at
		assert.InDelta(t, w, c.at(c.instant(w)), 1)
	}
}
