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

// OnClock and Next in zones whose clock changes in unusual ways: at
// midnight (Santiago), by half an hour (Lord Howe), by two hours (Troll),
// twice a year around Ramadan (Casablanca), and by a whole day (Apia,
// which skipped 30 December 2011). For every half hour of every day of the
// years around those changes: the instant shows the time of day asked for
// on that date, and no earlier instant does; or, when the clock skips that
// time, it is the first instant after the jump read with the offset
// before. Next from any instant is the first instant at or after it at
// which the clock shows the time of day.
func TestOnClockInEveryZone(t *testing.T) {
	for _, name := range []string{"Europe/Paris", "America/Santiago", "Australia/Lord_Howe", "Antarctica/Troll", "Africa/Casablanca", "Pacific/Apia", "America/St_Johns", "Asia/Jerusalem"} {
		loc := mustLoc(t, name)
		for _, year := range []int{2011, 2025} {
			for day := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() == year; day = day.AddDate(0, 0, 1) {
				y, m, d := day.Date()
				for tod := time.Duration(0); tod < 24*time.Hour; tod += 30 * time.Minute {
					got := OnClock(y, m, d, tod, loc)
					shows := func(x time.Time) bool {
						xy, xm, xd := x.In(loc).Date()
						h, mi, _ := x.In(loc).Clock()
						return xy == y && xm == m && xd == d && time.Duration(h)*time.Hour+time.Duration(mi)*time.Minute == tod
					}
					if shows(got) {
						for back := 30 * time.Minute; back <= 3*time.Hour; back += 30 * time.Minute {
							if shows(got.Add(-back)) {
								t.Fatalf("%s %d-%02d-%02d %v: %v is not the first instant showing it (%v is)", name, y, m, d, tod, got, got.Add(-back))
							}
						}
					} else {
						_, before := got.Add(-26 * time.Hour).Zone()
						want := time.Date(y, m, d, 0, 0, 0, 0, time.FixedZone("", before)).Add(tod)
						if !got.Equal(want) {
							t.Fatalf("%s %d-%02d-%02d %v: skipped time read as %v, want %v (the offset before)", name, y, m, d, tod, got, want)
						}
					}
					// Next from just before, at, and just after.
					at := &At{TimeOfDay: tod, IsClock: true}
					if n := at.Next(got, got.Add(-time.Second), loc); !n.Equal(got) {
						t.Fatalf("%s %d-%02d-%02d %v: Next from a second before %v is %v", name, y, m, d, tod, got, n)
					}
					if n := at.Next(got, got.Add(time.Second), loc); !n.After(got) {
						t.Fatalf("%s %d-%02d-%02d %v: Next from a second after %v is %v", name, y, m, d, tod, got, n)
					}
				}
			}
		}
	}
}
