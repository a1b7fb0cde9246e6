package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	require.NoError(t, err)
	return l
}

// OnClock reads a time of day on the clock of the zone, on ordinary days
// and on the two nights a year the clock changes.
func TestOnClock(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	h := func(hh, mm int) time.Duration { return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute }
	for _, tc := range []struct {
		name      string
		y         int
		m         time.Month
		d         int
		tod       time.Duration
		loc       *time.Location
		wantUTC   string
		wantLocal string
	}{
		{"ordinary day", 2025, 12, 11, h(23, 40), paris, "2025-12-11T22:40:00Z", "2025-12-11 23:40 CET"},
		{"before summer time ends", 2025, 10, 26, h(1, 30), paris, "2025-10-25T23:30:00Z", "2025-10-26 01:30 CEST"},
		{"the hour shown twice: the first", 2025, 10, 26, h(2, 30), paris, "2025-10-26T00:30:00Z", "2025-10-26 02:30 CEST"},
		{"after summer time ends", 2025, 10, 26, h(3, 30), paris, "2025-10-26T02:30:00Z", "2025-10-26 03:30 CET"},
		{"after summer time begins", 2025, 3, 30, h(3, 30), paris, "2025-03-30T01:30:00Z", "2025-03-30 03:30 CEST"},
		{"a time skipped", 2025, 3, 30, h(2, 30), paris, "2025-03-30T01:30:00Z", "2025-03-30 03:30 CEST"},
		{"past midnight", 2025, 10, 25, h(27, 30), paris, "2025-10-26T02:30:00Z", "2025-10-26 03:30 CET"},
		{"before midnight", 2025, 10, 27, -h(0, 30), paris, "2025-10-26T22:30:00Z", "2025-10-26 23:30 CET"},
		{"the day after the month's last", 2025, 10, 32, h(9, 0), paris, "2025-11-01T08:00:00Z", "2025-11-01 09:00 CET"},
		{"UTC", 2025, 3, 30, h(2, 30), time.UTC, "2025-03-30T02:30:00Z", "2025-03-30 02:30 UTC"},
	} {
		got := OnClock(tc.y, tc.m, tc.d, tc.tod, tc.loc)
		assert.Equal(t, tc.wantUTC, got.UTC().Format(time.RFC3339), tc.name)
		assert.Equal(t, tc.wantLocal, got.Format("2006-01-02 15:04 MST"), tc.name)
	}
}

// Next is the next time the clock shows the time of day, at or after now:
// between the two 02:30s of the night summer time ends, the second.
func TestAtNext(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	start := time.Date(2025, 10, 25, 20, 0, 0, 0, paris)
	at := &At{TimeOfDay: 2*time.Hour + 30*time.Minute, IsClock: true}
	for _, tc := range []struct {
		now, want string
	}{
		{"2025-10-25T20:00:00Z", "2025-10-26T00:30:00Z"},
		{"2025-10-26T00:30:00Z", "2025-10-26T00:30:00Z"},
		{"2025-10-26T00:45:00Z", "2025-10-26T01:30:00Z"},
		{"2025-10-26T01:45:00Z", "2025-10-27T01:30:00Z"},
	} {
		now, err := time.Parse(time.RFC3339, tc.now)
		require.NoError(t, err)
		assert.Equal(t, tc.want, at.Next(start, now, paris).UTC().Format(time.RFC3339), "from %s", tc.now)
	}
	off := &At{Offset: 90 * time.Minute}
	assert.Equal(t, start.Add(90*time.Minute), off.Next(start, start.Add(5*time.Hour), paris), "an offset counts from the start")
	noLoc := &At{TimeOfDay: 23 * time.Hour, IsClock: true}
	assert.Equal(t, time.Date(2025, 10, 25, 23, 0, 0, 0, paris), noLoc.Next(start, start, nil), "no zone: the start's")
}
