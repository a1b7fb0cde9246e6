package scenarios

import (
	"sort"
	"time"
)

// Next is when a step (or an inject's release) with this start is due,
// seen from now: Offset after start, or the first instant at or after now
// at which the clock of loc shows TimeOfDay (see OnClock for the nights the
// clock changes). A nil loc is start's location.
func (a *At) Next(start, now time.Time, loc *time.Location) time.Time {
	if !a.IsClock {
		return start.Add(a.Offset)
	}
	if loc == nil {
		loc = start.Location()
	}
	n := now.In(loc)
	y, m, d := n.Date()
	for _, t := range clockInstants(y, m, d, a.TimeOfDay, loc) {
		if !t.Before(n) {
			return t
		}
	}
	return OnClock(y, m, d+1, a.TimeOfDay, loc)
}

// OnClock is the first instant at which the clock of loc shows the time of
// day tod on the date y-m-d (normalised, as time.Date does; tod may run
// past midnight or before it). On the night summer time ends the clock
// shows the times of the hour it goes back over twice, and this is the
// first. On the night it begins, a time the clock skips is read with the
// offset before the change: 02:30 on a night the clock goes from 02:00 to
// 03:00 is 03:30. Adding tod to the day's midnight is an hour off on both
// nights, for every time after the change.
func OnClock(y int, m time.Month, d int, tod time.Duration, loc *time.Location) time.Time {
	return clockInstants(y, m, d, tod, loc)[0]
}

// clockInstants are the instants, in order, at which the clock of loc shows
// tod on y-m-d: one, two on the hour the clock goes back over, and, for a
// time it skips, the one OnClock describes.
func clockInstants(y int, m time.Month, d int, tod time.Duration, loc *time.Location) []time.Time {
	// The wall clock wanted, normalised in a zone without changes.
	w := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Add(tod)
	wy, wm, wd := w.Date()
	wh, wmin, ws := w.Clock()
	ref := time.Date(wy, wm, wd, wh, wmin, ws, w.Nanosecond(), loc)
	// The offsets in force on either side of a change near that time.
	var offsets []int
	for _, p := range []time.Time{ref.Add(-24 * time.Hour), ref, ref.Add(24 * time.Hour)} {
		if _, off := p.Zone(); len(offsets) == 0 || offsets[len(offsets)-1] != off {
			offsets = append(offsets, off)
		}
	}
	var out []time.Time
	for _, off := range offsets {
		c := time.Date(wy, wm, wd, wh, wmin, ws, w.Nanosecond(), time.FixedZone("", off)).In(loc)
		cy, cm, cd := c.Date()
		ch, cmin, cs := c.Clock()
		if cy == wy && cm == wm && cd == wd && ch == wh && cmin == wmin && cs == ws && !containsInstant(out, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 { // skipped: read with the offset before the change
		out = append(out, time.Date(wy, wm, wd, wh, wmin, ws, w.Nanosecond(), time.FixedZone("", offsets[0])).In(loc))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func containsInstant(l []time.Time, t time.Time) bool {
	for _, x := range l {
		if x.Equal(t) {
			return true
		}
	}
	return false
}
