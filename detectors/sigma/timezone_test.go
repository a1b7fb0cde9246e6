package sigma

import (
	"testing"
	"time"
	_ "time/tzdata"
)

// The hour and minute of a time modifier with a zone are computed from the
// zone's offset over its current span; they agree with time.Time.In across
// daylight-saving changes, half-hour zones and times before 1970.
func TestTimeMZoneSpans(t *testing.T) {
	for _, name := range []string{"Europe/Paris", "America/St_Johns", "Asia/Kolkata", "UTC"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range []string{"hour", "minute"} {
			for x := 0; x < 60; x += 7 {
				m := &timeM{part: part, loc: loc, op: "eq", x: float64(x)}
				// every 17 minutes over two years around DST changes, then a few old times
				var times []time.Time
				for ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); ts.Year() < 2026; ts = ts.Add(17*time.Minute + 13*time.Second) {
					times = append(times, ts)
				}
				times = append(times, time.Date(1950, 6, 1, 12, 30, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC))
				for _, ts := range times {
					lt := ts.In(loc)
					n := lt.Hour()
					if part == "minute" {
						n = lt.Minute()
					}
					if got, want := m.match(ts, nil), n == x; got != want {
						t.Fatalf("%s %s %d at %v: got %v, want %v", name, part, x, ts, got, want)
					}
				}
			}
		}
	}
}
