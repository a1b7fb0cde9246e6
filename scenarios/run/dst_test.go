package run

import (
	"context"
	"testing"
	"time"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A step at a time of day starts when the scenario's clock shows it, on
// the nights the clock changes too. It used to be the day's midnight plus
// the time of day: an hour late on the night summer time begins, an hour
// early on the night it ends.
func TestClockStepsOnDSTNights(t *testing.T) {
	for _, tc := range []struct {
		name, start string
		want        map[string]string // step id: the wall clock it starts at
	}{
		{"summer time ends", "2025-10-25T20:00:00+02:00", map[string]string{
			"late": "2025-10-25 23:40 CEST", "early": "2025-10-26 01:30 CEST", "after": "2025-10-26 03:30 CET", "dawn": "2025-10-26 06:00 CET"}},
		{"summer time begins", "2025-03-29T20:00:00+01:00", map[string]string{
			"late": "2025-03-29 23:40 CET", "early": "2025-03-30 01:30 CET", "after": "2025-03-30 03:30 CEST", "dawn": "2025-03-30 06:00 CEST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := scenarios.Parse("dst.yaml", []byte(`
id: dst
title: a night the clock changes
environment: {users: 5, messages: 10, seed: 1, start: `+tc.start+`, timezone: Europe/Paris, duration: 12h}
actors:
  - id: a
    kind: attacker
    credentials: {user: director, from: stolen}
    steps:
      - {id: late, at: "23:40", login: {}}
      - {id: early, at: "01:30", list: {}}
      - {id: after, at: "03:30", list: {}}
      - {id: dawn, at: "06:00", list: {}}
      - logout
`))
			require.NoError(t, err)
			res, err := Run(context.Background(), sc, Options{})
			require.NoError(t, err)
			paris, err := time.LoadLocation("Europe/Paris")
			require.NoError(t, err)
			for id, want := range tc.want {
				sp, ok := res.Spans[id]
				require.True(t, ok, "step %s ran", id)
				assert.Equal(t, want, sp.Start.In(paris).Format("2006-01-02 15:04 MST"), "step %s", id)
			}
		})
	}
}

// Staff arrive at their working hours by the clock on a working day the
// clock changes (Israel moves to summer time on a Friday, at 02:00): they
// used to arrive an hour late, the day's midnight plus their hours.
func TestStaffHoursOnADSTDay(t *testing.T) {
	sc, err := scenarios.Parse("dst-staff.yaml", []byte(`
id: dst-staff
title: a working day the clock changes
environment: {users: 12, messages: 10, seed: 3, start: 2025-03-28T00:00:00+02:00, timezone: Asia/Jerusalem, duration: 12h}
actors:
  - id: staff
    kind: staff
    staff: {count: 10, workday: "08:00-09:00", phones: 0, late: 0}
`))
	require.NoError(t, err)
	res, err := Run(context.Background(), sc, Options{})
	require.NoError(t, err)
	jlm, err := time.LoadLocation("Asia/Jerusalem")
	require.NoError(t, err)
	first := map[string]time.Time{}
	for _, tr := range res.Truth {
		if tr.Action == "imap.login" && tr.Outcome == "success" {
			if _, ok := first[tr.User]; !ok {
				first[tr.User] = tr.Time.In(jlm)
			}
		}
	}
	require.Len(t, first, 10, "every member logged in")
	earliest := time.Date(2025, 3, 28, 9, 0, 0, 0, jlm)
	for user, at := range first {
		hm := at.Format("15:04 MST")
		assert.True(t, hm >= "07:45 IDT" && hm < "09:00 IDT", "%s first logged in at %s, not between 07:45 and 09:00 (15 minutes before the day's start, and up to 75 after)", user, hm)
		if at.Before(earliest) {
			earliest = at
		}
	}
	assert.True(t, earliest.Before(time.Date(2025, 3, 28, 8, 45, 0, 0, jlm)), "the earliest arrival, %s, is an hour late", earliest.Format("15:04 MST"))
}
