package scenarios

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEventTableKeepsEvents(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	at := time.Date(2025, 12, 11, 23, 4, 5, 123456789, cet)
	tb := NewEventTable("md-x-1")
	evs := []EventRef{
		{ID: "md-x-1-1", Time: at, Action: "imap.login", Outcome: "failure", User: "anna", SourceIP: "203.0.113.9"},
		{ID: "md-x-1-2", Time: at.Add(time.Second).UTC(), Action: "imap.login", Outcome: "success", User: "anna", SourceIP: "203.0.113.9"},
		{ID: "md-x-1-5", Action: "smtp.connect", SourceIP: "10.0.0.5"},   // a gap, and no time
		{ID: "md-x-1-3", Time: at.In(time.Local), Action: "imap.logout"}, // no source address
		{ID: "other-7", Time: at, Action: "imap.login", SourceIP: "198.51.100.1"},
		{ID: "md-x-1-007", Time: at, Action: "odd"}, // not as the bus writes numbers
		{ID: "md-x-1-", Action: "empty"},
		{ID: "md-x-1-18446744073709551616", Action: "too large"},
	}
	for _, e := range evs {
		tb.Add(e)
	}
	assert.Equal(t, len(evs), tb.Len())
	for _, e := range evs {
		got, ok := tb.Get(e.ID)
		require.True(t, ok, e.ID)
		assert.Equal(t, e, got, "%s comes back as it was added, location and all", e.ID)
		ip, ok := tb.Source(e.ID)
		assert.Equal(t, e.SourceIP, ip)
		assert.Equal(t, e.SourceIP != "", ok)
	}
	for _, id := range []string{"md-x-1-4", "md-x-1-0", "md-x-1-6", "md-x-1-999999", "md-x-1-1x", "1", ""} {
		_, ok := tb.Get(id)
		assert.False(t, ok, id)
		_, ok = tb.Source(id)
		assert.False(t, ok, id)
	}

	// A later event with an id already kept replaces it, and is counted
	// once.
	tb.Add(EventRef{ID: "md-x-1-2", Action: "imap.select"})
	tb.Add(EventRef{ID: "other-7", Action: "imap.select"})
	assert.Equal(t, len(evs), tb.Len())
	got, _ := tb.Get("md-x-1-2")
	assert.Equal(t, EventRef{ID: "md-x-1-2", Action: "imap.select"}, got)
	got, _ = tb.Get("other-7")
	assert.Equal(t, "imap.select", got.Action)

	var nilTable *EventTable
	_, ok := nilTable.Get("md-x-1-1")
	assert.False(t, ok)
	_, ok = nilTable.Source("md-x-1-1")
	assert.False(t, ok)
	assert.Zero(t, nilTable.Len())
}

// The rows of a run's own events hold no pointers: a day of hundreds of
// thousands of events gives the garbage collector nothing to trace.
func TestEventTableRowsHoldNoPointers(t *testing.T) {
	var walk func(reflect.Type) bool
	walk = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return true
		case reflect.Struct:
			for i := range ty.NumField() {
				if walk(ty.Field(i).Type) {
					return true
				}
			}
		case reflect.Array:
			return walk(ty.Elem())
		}
		return false
	}
	assert.False(t, walk(reflect.TypeFor[eventRow]()))

	tb := NewEventTable("r")
	for i := 1; i <= 100_000; i++ {
		tb.Add(EventRef{ID: fmt.Sprintf("r-%d", i), Time: time.Unix(int64(i), 0), Action: "imap.fetch", User: fmt.Sprintf("u%d", i%50), SourceIP: fmt.Sprintf("10.0.%d.1", i%7)})
	}
	assert.Equal(t, 100_000, tb.Len())
	assert.Empty(t, tb.other, "the run's own ids all go to rows")
	assert.LessOrEqual(t, len(tb.strs), 1+50+7+1, "strings are interned")
}

// TestEventTableMatchesMap adds events in random orders, with random ids
// of the run's form and others, and checks every lookup against a map.
func TestEventTableMatchesMap(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		runID := []string{"", "md-a-1", "r"}[seed%3]
		prefix := ""
		if runID != "" {
			prefix = runID + "-"
		}
		tb := NewEventTable(runID)
		model := map[string]EventRef{}
		var ids []string
		for range 400 {
			var id string
			switch k := rng.IntN(10); {
			case k < 6:
				id = fmt.Sprintf("%s%d", prefix, 1+rng.IntN(300))
			case k < 7:
				id = fmt.Sprintf("%s%d", prefix, rng.Uint64N(1<<40))
			case k < 8 && len(ids) > 0:
				id = ids[rng.IntN(len(ids))]
			case k < 9:
				id = fmt.Sprintf("%s0%d", prefix, rng.IntN(30))
			default:
				id = fmt.Sprintf("x-%d", rng.IntN(50))
			}
			e := EventRef{ID: id, Action: fmt.Sprintf("a%d", rng.IntN(4)), SourceIP: []string{"", "10.0.0.1", "10.0.0.2"}[rng.IntN(3)]}
			if rng.IntN(4) > 0 {
				e.Time = time.Unix(rng.Int64N(1<<33), rng.Int64N(1e9)).In([]*time.Location{time.UTC, time.Local, time.FixedZone("X", -7200)}[rng.IntN(3)])
			}
			tb.Add(e)
			model[id] = e
			ids = append(ids, id)
		}
		assert.Equal(t, len(model), tb.Len(), "seed %d", seed)
		for i := range 600 {
			var id string
			if i < len(ids) {
				id = ids[i]
			} else {
				id = fmt.Sprintf("%s%d", prefix, rng.IntN(400))
			}
			want, wok := model[id]
			got, ok := tb.Get(id)
			require.Equal(t, wok, ok, "seed %d id %q", seed, id)
			if ok {
				assert.True(t, want.Time.Equal(got.Time) && want.Time.Location().String() == got.Time.Location().String(), "seed %d id %q: %v, %v", seed, id, want.Time, got.Time)
				got.Time = want.Time
				assert.Equal(t, want, got, "seed %d id %q", seed, id)
			}
			ip, ok := tb.Source(id)
			assert.Equal(t, want.SourceIP, ip)
			assert.Equal(t, wok && want.SourceIP != "", ok)
		}
	}
}

func BenchmarkEventTableAdd(b *testing.B) {
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = fmt.Sprintf("md-run-%d", i+1)
	}
	at := time.Date(2025, 12, 11, 9, 0, 0, 0, time.UTC)
	tb := NewEventTable("md-run")
	i := 0
	for b.Loop() {
		tb.Add(EventRef{ID: ids[i&(1<<16-1)], Time: at, Action: "imap.fetch", Outcome: "success", User: "anna", SourceIP: "10.0.0.1"})
		i++
	}
}

// Times parsed from an events file with an offset that is not a whole
// hour each come with their own location: the table keeps one per
// offset, and gives every time back as it was.
func TestEventTableParsedOffsets(t *testing.T) {
	tb := NewEventTable("r")
	var want []time.Time
	for i := range 1000 {
		zone := []string{"+05:30", "-03:30", "+01:00", "Z"}[i%4]
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprintf("2025-12-11T10:%02d:%02d.%03d%s", i/60%60, i%60, i, zone))
		require.NoError(t, err)
		want = append(want, at)
		tb.Add(EventRef{ID: fmt.Sprintf("r-%d", i+1), Time: at})
	}
	assert.LessOrEqual(t, len(tb.locs), 4)
	for i, w := range want {
		got, ok := tb.Get(fmt.Sprintf("r-%d", i+1))
		require.True(t, ok)
		assert.True(t, w.Equal(got.Time), "%v, %v", w, got.Time)
		assert.Equal(t, w.Format(time.RFC3339Nano), got.Time.Format(time.RFC3339Nano))
	}
}

// Past the bound of locations, an event in yet another one is kept in the
// map, its time exact; an event moved from its row to the map is counted
// once and found there.
func TestEventTableTooManyLocations(t *testing.T) {
	tb := NewEventTable("r")
	base := time.Date(2025, 12, 11, 9, 0, 0, 0, time.UTC)
	for i := range maxLocations {
		tb.Add(EventRef{ID: fmt.Sprintf("r-%d", i+1), Time: base.In(time.FixedZone(fmt.Sprintf("Z%d", i), i%3600))})
	}
	require.Len(t, tb.locs, maxLocations)
	assert.Empty(t, tb.other)
	extra := base.In(time.FixedZone("extra", 7))
	tb.Add(EventRef{ID: fmt.Sprintf("r-%d", maxLocations+1), Time: extra})
	got, ok := tb.Get(fmt.Sprintf("r-%d", maxLocations+1))
	require.True(t, ok)
	assert.Equal(t, extra, got.Time)
	assert.Len(t, tb.other, 1)

	// The event of row 1, again, in a location the rows cannot take.
	tb.Add(EventRef{ID: "r-1", Time: extra, Action: "again"})
	got, ok = tb.Get("r-1")
	require.True(t, ok)
	assert.Equal(t, "again", got.Action)
	assert.Equal(t, extra, got.Time)
	assert.Equal(t, maxLocations+1, tb.Len())
}
