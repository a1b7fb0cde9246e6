package scenarios

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// FailBehind adds one failed pace verdict to a run that fell behind, and
// nothing to one that kept up or has no pace.
func TestFailBehind(t *testing.T) {
	t0 := time.Date(2025, 12, 11, 23, 0, 0, 0, time.UTC)
	res := &Result{Start: t0, End: t0.Add(time.Hour), Verdicts: []Verdict{{Rule: "r", Kind: "fire", Result: Met}}}
	assert.False(t, FailBehind(res), "no pace: the virtual clock")
	res.Pace = &Pace{Speed: 60, Timed: 10}
	assert.False(t, FailBehind(res), "kept up")
	assert.False(t, res.Failed)
	res.Pace = &Pace{Speed: 60, Timed: 10, Late: 4, MaxLag: 95 * time.Minute, MaxLagActor: "a"}
	assert.True(t, FailBehind(res))
	assert.False(t, FailBehind(res), "once")
	assert.True(t, res.Failed)
	require.Len(t, res.Verdicts, 2)
	v := res.Verdicts[1]
	assert.Equal(t, Verdict{Rule: "*", Kind: KindPace, Result: FellBehind, WindowStart: t0, WindowEnd: t0.Add(time.Hour),
		Detail: "--fail-behind: 4 of 10 timed actions started more than 1m0s late, the latest 1h35m0s late (a)"}, v)
	assert.False(t, v.OK())
}

// A trailer gives back the pace it was made from (to the millisecond), and
// a trailer that cannot be right is refused with the reason.
func TestRecordingTrailer(t *testing.T) {
	due := time.Date(2025, 12, 11, 8, 27, 16, 0, time.UTC)
	p := &Pace{Speed: 20000, Timed: 1166, Late: 767, MaxLag: 6*time.Hour + 33*time.Minute + 1500*time.Microsecond, MaxLagActor: "staff/a@b.test", MaxLagDue: due}
	b, err := json.Marshal(NewRecordingTrailer("md-x-1", p, 0))
	require.NoError(t, err)
	tr, ok, err := ParseRecordingTrailer(b)
	require.True(t, ok)
	require.NoError(t, err)
	assert.Equal(t, "md-x-1", tr.RunID)
	got := tr.Pace()
	assert.Equal(t, 6*time.Hour+33*time.Minute+time.Millisecond, got.MaxLag)
	got.MaxLag = p.MaxLag
	assert.Equal(t, p, got)
	assert.True(t, got.MaxLagDue.Equal(due))

	// Kept up: no worst action.
	b, err = json.Marshal(NewRecordingTrailer("md-x-1", &Pace{Speed: 10, Timed: 4}, 0))
	require.NoError(t, err)
	assert.NotContains(t, string(b), "max_lag_due")
	tr, _, err = ParseRecordingTrailer(b)
	require.NoError(t, err)
	assert.False(t, tr.Pace().Behind())

	for line, want := range map[string]string{
		`{"maildrill.recording.end":1,"speed":1,"timed_actions":1}`:                                      "no labels.run_id",
		`{"maildrill.recording.end":1,"labels.run_id":"r","speed":-1}`:                                   "speed -1: not a positive number",
		`{"maildrill.recording.end":1,"labels.run_id":"r","speed":0,"timed_actions":3}`:                  "a virtual clock (speed 0) with timed actions",
		`{"maildrill.recording.end":1,"labels.run_id":"r","speed":0,"audit_events":-4}`:                  "audit_events -4: negative",
		`{"maildrill.recording.end":1,"labels.run_id":"r","speed":1,"timed_actions":1,"late_actions":2}`: "late_actions 2 of timed_actions 1",
		`{"maildrill.recording.end":1,"labels.run_id":"r","speed":1,"timed_actions":-1}`:                 "late_actions 0 of timed_actions -1",
		`{"maildrill.recording.end":1,"labels.run_id":"r","speed":1,"max_lag_ms":-5}`:                    "max_lag_ms -5: negative",
		`{"maildrill.recording.end":1,"labels.run_id":"r","speed":"fast"}`:                               "cannot unmarshal",
		`{"maildrill.recording.end":1,"labels.run_id":"r","speed":1,"max_lag_due":"yesterday"}`:          "cannot parse",
	} {
		_, ok, err := ParseRecordingTrailer([]byte(line))
		assert.True(t, ok, line)
		if assert.Error(t, err, line) {
			assert.Contains(t, err.Error(), want, line)
		}
	}
	// The virtual clock: no pace, the run's event count.
	b, err = json.Marshal(NewRecordingTrailer("md-x-1", nil, 918))
	require.NoError(t, err)
	tr, ok, err = ParseRecordingTrailer(b)
	require.True(t, ok)
	require.NoError(t, err)
	assert.Nil(t, tr.Pace())
	assert.Equal(t, 918, tr.Events)

	// Neither a header nor a truth record is a trailer.
	for _, line := range []string{`{"maildrill.recording":1,"labels.run_id":"r"}`, `{"actor":"a","labels.run_id":"r"}`} {
		_, ok, err := ParseRecordingTrailer([]byte(line))
		assert.False(t, ok, line)
		assert.NoError(t, err)
	}
}
