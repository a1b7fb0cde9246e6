package audit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/clock"
)

// fakeStager places sessions by source address, as a runner does.
type fakeStager struct {
	mu        sync.Mutex
	at        map[string]time.Time
	order     map[string]int
	settled   map[string]bool
	published []string
}

func newFakeStager() *fakeStager {
	return &fakeStager{at: map[string]time.Time{}, order: map[string]int{}, settled: map[string]bool{}}
}

func (f *fakeStager) place(src string, at time.Time, order int) {
	f.mu.Lock()
	f.at[src], f.order[src] = at, order
	f.mu.Unlock()
}

func (f *fakeStager) Slice(e *Event) (time.Time, int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fmt.Sprintf("%s:%d", e.SourceIP, e.SourcePort)
	at, ok := f.at[k]
	return at, f.order[k], ok
}

func (f *fakeStager) Session(ip string, port int, fn func(time.Time, int, bool, bool)) {
	f.mu.Lock()
	k := fmt.Sprintf("%s:%d", ip, port)
	at, ok := f.at[k]
	order, earliest := f.order[k], f.settled[k]
	f.mu.Unlock()
	fn(at, order, earliest, ok || earliest)
}

func (f *fakeStager) Published(e *Event) {
	f.mu.Lock()
	f.published = append(f.published, e.Action+"/"+e.SessionID)
	f.mu.Unlock()
}

// Held events are committed in scenario order — the action's time, then
// its actor's order, then publication order — stamped with the action's
// time, numbered in that order; their sessions get their final numbers in
// that order too, and keep them afterwards.
func TestStagedEventsCommitInScenarioOrder(t *testing.T) {
	t0 := time.Date(2025, 12, 11, 8, 0, 0, 0, time.UTC)
	vc := clock.NewVirtual(t0)
	b := NewBus(vc, BusOptions{RunID: "r"})
	sub := b.Subscribe()
	st := newFakeStager()
	b.SetStager(st)
	var n atomic.Uint64
	next := func() uint64 { return n.Add(1) }

	// Three actions side by side: actor 2 and actor 1 at t0+1m, actor 0 at
	// t0+2m; their sessions start in the "wrong" order.
	st.place("10.0.0.2:1", t0.Add(time.Minute), 2)
	st.place("10.0.0.1:1", t0.Add(time.Minute), 1)
	st.place("10.0.0.9:1", t0.Add(2*time.Minute), 0)
	b.Hold(true)
	s2 := b.SessionID("imap-", next, "10.0.0.2", 1)
	s9 := b.SessionID("imap-", next, "10.0.0.9", 1)
	s1 := b.SessionID("imap-", next, "10.0.0.1", 1)
	assert.Equal(t, []string{"imap-~1", "imap-~2", "imap-~3"}, []string{s2, s9, s1}, "provisional while held")
	pub := func(action, sess, ip string) {
		_, err := b.Publish(Event{Action: action, SessionID: sess, SourceIP: ip, SourcePort: 1})
		require.NoError(t, err)
	}
	pub(IMAPConnect, s2, "10.0.0.2")
	pub(IMAPConnect, s9, "10.0.0.9")
	pub(IMAPConnect, s1, "10.0.0.1")
	pub(IMAPLogin, s2, "10.0.0.2")
	pub(IMAPLogin, s1, "10.0.0.1")
	assert.Equal(t, 5, b.Held())
	assert.Equal(t, uint64(0), b.Published(), "nothing reaches subscribers while held")
	assert.Len(t, st.published, 5, "the stager hears of each as it is published")

	// Commit what comes up to actor 2's action.
	b.Commit(t0.Add(time.Minute), 2, false)
	assert.Equal(t, 1, b.Held())
	got := func(k int) []string {
		var out []string
		for range k {
			e, err := sub.Next(context.Background())
			require.NoError(t, err)
			out = append(out, fmt.Sprintf("%d %s %s %s %s", e.Sequence, e.ID, e.Timestamp.Format("15:04"), e.Action, e.SessionID))
		}
		return out
	}
	assert.Equal(t, []string{
		"1 r-1 08:01 imap.connect imap-1",
		"2 r-2 08:01 imap.login imap-1",
		"3 r-3 08:01 imap.connect imap-2",
		"4 r-4 08:01 imap.login imap-2",
	}, got(4))

	// Publishing no longer held: a session already numbered keeps its
	// number; a new one is numbered at once.
	b.Hold(false)
	require.NoError(t, vc.Set(t0.Add(3*time.Minute)))
	pub(IMAPLogout, s1, "10.0.0.1")
	assert.Equal(t, "imap-3", b.SessionID("imap-", next, "10.0.0.5", 1))
	b.Commit(time.Time{}, 0, true)
	assert.Equal(t, []string{
		"5 r-5 08:03 imap.logout imap-1",
		"6 r-6 08:02 imap.connect imap-4",
	}, got(2), "a held event waits for its turn; direct ones are appended as they come")
}

// A session whose action comes first (Stager.Session) is numbered at once though
// publishes are held; an event no action claims is appended directly.
func TestStagedSettledAndUnplaced(t *testing.T) {
	t0 := time.Date(2025, 12, 11, 8, 0, 0, 0, time.UTC)
	b := NewBus(clock.NewVirtual(t0), BusOptions{})
	sub := b.Subscribe()
	st := newFakeStager()
	b.SetStager(st)
	b.Hold(true)
	var n atomic.Uint64
	next := func() uint64 { return n.Add(1) }
	st.settled["10.0.0.1:7"] = true
	st.place("10.0.0.2:7", t0, 1)
	assert.Equal(t, "smtp-1", b.SessionID("smtp-", next, "10.0.0.1", 7))
	assert.Equal(t, "smtp-~1", b.SessionID("smtp-", next, "10.0.0.2", 7))
	assert.Equal(t, "smtp-2", b.SessionID("smtp-", next, "10.0.0.3", 7), "a session no action claims is numbered at once")
	b.Commit(t0, 1, false)
	_, err := b.Publish(Event{Action: SMTPConnect, SessionID: "smtp-~1", SourceIP: "10.0.0.2", SourcePort: 7})
	require.NoError(t, err)
	b.Commit(t0, 1, false)
	e, err := sub.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "smtp-3", e.SessionID, "numbered when its action was committed, events or not")
	_, err = b.Publish(Event{Action: AdminRequest})
	require.NoError(t, err)
	e, err = sub.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, AdminRequest, e.Action)
	assert.Equal(t, t0, e.Timestamp, "stamped by the clock")
	assert.Equal(t, 0, b.Held())
}

// Staged gives back what a stable sort of everything held by (time,
// actor order) would, taking the actions up to each bound and keeping the
// rest, over random adds and takes.
func TestStagedIsAStableSort(t *testing.T) {
	type item struct {
		at    time.Time
		order int
		n     int
	}
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 40 {
		var s Staged[item]
		var ref []item
		n := 0
		for op := range 600 {
			if rng.IntN(100) < 70 {
				it := item{at: t0.Add(time.Duration(rng.IntN(12)) * time.Second), order: rng.IntN(6), n: n}
				n++
				s.Add(it.at, it.order, it)
				ref = append(ref, it)
				continue
			}
			at, order, all := t0.Add(time.Duration(rng.IntN(12))*time.Second), rng.IntN(6), rng.IntN(20) == 0
			var want, rest []item
			for _, it := range ref {
				if c := it.at.Compare(at); all || c < 0 || c == 0 && it.order <= order {
					want = append(want, it)
				} else {
					rest = append(rest, it)
				}
			}
			slices.SortStableFunc(want, func(x, y item) int {
				if c := x.at.Compare(y.at); c != 0 {
					return c
				}
				return x.order - y.order
			})
			ref = rest
			var got []item
			s.Take(at, order, all, func(it *item) { got = append(got, *it) })
			require.Equal(t, want, got, "round %d op %d", round, op)
			require.Equal(t, len(ref), s.Len())
		}
	}
}
