package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/scenarios"
)

// runTwice runs sc one action at a time and side by side and returns both
// runs' events and truth.
func runTwice(t *testing.T, sc *scenarios.Scenario, opts Options) (ev, tr [2]*bytes.Buffer, res [2]*scenarios.Result) {
	t.Helper()
	for i, one := range []bool{true, false} {
		ev[i], tr[i] = &bytes.Buffer{}, &bytes.Buffer{}
		o := opts
		o.OneAtATime, o.Events, o.Truth = one, ev[i], tr[i]
		r, err := Run(context.Background(), sc, o)
		require.NoError(t, err)
		res[i] = r
	}
	return ev, tr, res
}

// Every library scenario with staff (the flagship: attackers, staff with
// phones, a secretariat; an insider reading delegated mailboxes; a
// password spray beside a working day...) and a crowd of staff mailing
// one another in the morning rush give the same trail and truth, byte for
// byte, one action at a time and side by side.
func TestSideBySideIsOneAtATime(t *testing.T) {
	lib, err := scenarios.Library()
	require.NoError(t, err)
	crowd, err := scenarios.Parse("crowd.yaml", []byte(`
id: crowd
title: crowd
environment: {users: 150, messages: 15, seed: 4, start: 2025-12-11T07:40:00+01:00, duration: 2h30m}
actors:
  - id: staff
    kind: staff
    staff: {count: 150, phones: 30, late: 2, mail_per_day: 3}
`))
	require.NoError(t, err)
	ran := 0
	for _, sc := range append(lib, crowd) {
		if _, fits := sideBySideFits(sc, sc.Env, clock.NewVirtual(sc.Env.Start), Options{}); !fits {
			continue
		}
		ran++
		t.Run(sc.ID, func(t *testing.T) { sameBothWays(t, sc) })
	}
	assert.GreaterOrEqual(t, ran, 5)
}

func sameBothWays(t *testing.T, sc *scenarios.Scenario) {
	ev, tr, res := runTwice(t, sc, Options{})
	assert.Equal(t, res[0].Events, res[1].Events)
	sameLines(t, "truth", tr[0].Bytes(), tr[1].Bytes())
	sameLines(t, "events", ev[0].Bytes(), ev[1].Bytes())
}

// sameLines reports the first lines where one (one at a time) and side
// (side by side) differ, around the first byte that does.
func sameLines(t *testing.T, what string, one, side []byte) {
	t.Helper()
	if bytes.Equal(one, side) {
		return
	}
	a, b := bytes.Split(one, []byte("\n")), bytes.Split(side, []byte("\n"))
	n := 0
	for i := 0; i < min(len(a), len(b)) && n < 5; i++ {
		if !bytes.Equal(a[i], b[i]) {
			k := 0
			for k < min(len(a[i]), len(b[i])) && a[i][k] == b[i][k] {
				k++
			}
			lo := max(0, k-200)
			t.Errorf("%s line %d:\none: …%s\nside: …%s", what, i+1, a[i][lo:min(len(a[i]), k+200)], b[i][lo:min(len(b[i]), k+200)])
			n++
		}
	}
	t.Errorf("%s differ (%d vs %d lines)", what, len(a), len(b))
}

// A run stopped while staff act side by side ends promptly, and nothing
// the servers said is lost: what was held is committed, what comes after
// the stop goes straight to the trail, and the events written are the
// events counted.
func TestSideBySideStopLosesNothing(t *testing.T) {
	sc, err := scenarios.Parse("crowd.yaml", []byte(`
id: crowd
title: crowd
environment: {users: 120, messages: 10, start: 2025-12-11T07:50:00+01:00, duration: 10h}
actors:
  - id: staff
    kind: staff
    staff: {count: 120, phones: 20}
`))
	require.NoError(t, err)
	var ev, tr bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	t0 := time.Now()
	res, err := Run(ctx, sc, Options{Events: &ev, Truth: &tr})
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Less(t, time.Since(t0), 15*time.Second)
	require.NotNil(t, res)
	require.Positive(t, res.Events)
	assert.Equal(t, res.Events, bytes.Count(ev.Bytes(), []byte("\n")), "every event counted is written")
	assert.Equal(t, len(res.Truth)+2, bytes.Count(tr.Bytes(), []byte("\n")), "every truth record kept is written, after the header and before the trailer")
	trLines := bytes.Split(bytes.TrimSpace(tr.Bytes()), []byte("\n"))
	trailer, ok, err := scenarios.ParseRecordingTrailer(trLines[len(trLines)-1])
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, res.Events, trailer.Events, "the trailer counts the events written, a stopped run's too")
	// Every session in the trail has its start and its end: none lost its
	// held events at the stop.
	started, ended := map[string]bool{}, map[string]bool{}
	seq := 0
	for _, line := range bytes.Split(bytes.TrimSpace(ev.Bytes()), []byte("\n")) {
		seq++
		var e struct {
			Seq     int    `json:"event.sequence"`
			Action  string `json:"event.action"`
			Outcome string `json:"event.outcome"`
			Session string `json:"session.id"`
		}
		require.NoError(t, json.Unmarshal(line, &e))
		assert.Equal(t, seq, e.Seq)
		assert.NotContains(t, e.Session, "~", "no provisional session id reaches the trail")
		if e.Session == "" {
			continue // refused before it was a session (the stop closing the listeners)
		}
		switch e.Action {
		case "imap.connect", "smtp.connect":
			started[e.Session] = true
		case "imap.logout", "smtp.disconnect":
			ended[e.Session] = true
		}
		if !started[e.Session] {
			t.Errorf("%s of session %s before (or without) its connect", e.Action, e.Session)
		}
	}
	for s := range started {
		assert.True(t, ended[s], "session %s has no end", s)
	}
	assert.Greater(t, len(started), 10, "sessions ran before the stop")
}
