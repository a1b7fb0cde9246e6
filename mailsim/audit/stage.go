package audit

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Stager lets a bus hold the events of actions that run side by side and
// append them later in scenario order, as if the actions had run one after
// another: what a scenario runner on a virtual clock needs to run
// independent actions at once and still write the same trail, byte for
// byte, every time.
type Stager interface {
	// Slice says which action e belongs to: its scenario time and its
	// actor's order (ok false: none the stager knows).
	Slice(e *Event) (at time.Time, order int, ok bool)
	// Settled says whether the session from ip:port acts for the
	// earliest action, all before it committed: its session ids and times
	// are then final at once.
	Settled(ip string, port int) bool
	// Published is told of every event published while the stager is
	// set, held or not, in the publisher's goroutine before Publish
	// returns (a runner waiting for a session's end learns it there: a
	// held event reaches no subscriber until committed).
	Published(e *Event)
}

// heldEvent is an event held until its action's turn.
type heldEvent struct {
	e     Event
	at    time.Time
	order int
}

// staging is a bus's state while a Stager is set.
type staging struct {
	stager Stager
	hold   bool // publishes are held (actions run side by side)
	held   []heldEvent
	// Session ids: a session started while publishes are held gets a
	// provisional id, made final (prefix + the server's next number) when
	// its first event is committed: sessions are numbered in scenario
	// order, not in the order the side-by-side actions reached the
	// server.
	provisional uint64
	next        map[string]func() uint64 // prefix → the server's counter
	final       map[string]string        // provisional → final
}

// provisionalMark separates a provisional session id's prefix from its
// number ("imap-~12").
const provisionalMark = "~"

// SetStager makes the bus ready to hold events (Hold); nil: events are
// appended as published, as without a stager. Set it before any session
// starts.
func (b *Bus) SetStager(s Stager) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s == nil {
		b.stage = nil
		return
	}
	b.stage = &staging{stager: s, next: map[string]func() uint64{}, final: map[string]string{}}
}

// Hold says whether publishes are held (true) until committed, or
// appended at once (false). It needs a stager.
func (b *Bus) Hold(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stage != nil {
		b.stage.hold = on
	}
}

// SessionID returns the id of a new session from ip:port: prefix and
// next() (the server's counter) — or, while publishes are held and the
// session's action is not the earliest (Stager.Settled), a provisional id
// that the session's events carry until they are committed.
func (b *Bus) SessionID(prefix string, next func() uint64, ip string, port int) string {
	b.mu.Lock()
	st := b.stage
	hold := st != nil && st.hold
	b.mu.Unlock()
	if hold && st.stager.Settled(ip, port) {
		hold = false
	}
	if !hold {
		return prefix + strconv.FormatUint(next(), 10)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st.next[prefix] = next
	st.provisional++
	return prefix + provisionalMark + strconv.FormatUint(st.provisional, 10)
}

// finalSessionLocked maps a provisional session id to its final one,
// numbering it now when it has none yet.
func (st *staging) finalSessionLocked(id string) string {
	i := strings.Index(id, provisionalMark)
	if i < 0 {
		return id
	}
	if f, ok := st.final[id]; ok {
		return f
	}
	prefix := id[:i]
	next := st.next[prefix]
	if next == nil { // not one of ours
		return id
	}
	f := prefix + strconv.FormatUint(next(), 10)
	st.final[id] = f
	return f
}

// publishStagedLocked handles a publish while a stager is set: it tells
// the stager, and holds the event (true) when publishes are held and the
// stager places it; otherwise the caller appends it.
func (b *Bus) publishStagedLocked(e *Event) (held bool) {
	st := b.stage
	if !st.hold {
		e.SessionID = st.finalSessionLocked(e.SessionID)
		st.stager.Published(e)
		return false
	}
	at, order, ok := st.stager.Slice(e)
	if !ok {
		e.SessionID = st.finalSessionLocked(e.SessionID)
		st.stager.Published(e)
		return false
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = at
	}
	st.stager.Published(e)
	st.held = append(st.held, heldEvent{e: *e, at: at, order: order})
	return true
}

// Commit appends, in scenario order (the action's time, then its actor's
// order, then publication order), the held events of the actions up to
// (at, order) inclusive — all of them when all — numbering their sessions
// as it goes. Events of later actions stay held. (at, order) is the
// earliest action running or waiting: any event still to come is of it
// or later, and one of it comes after these in publication order.
func (b *Bus) Commit(at time.Time, order int, all bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.stage
	if st == nil || len(st.held) == 0 {
		return
	}
	before := func(h *heldEvent) bool {
		if all {
			return true
		}
		if c := h.at.Compare(at); c != 0 {
			return c < 0
		}
		return h.order <= order
	}
	var now []heldEvent
	keep := st.held[:0]
	for i := range st.held {
		if before(&st.held[i]) {
			now = append(now, st.held[i])
		} else {
			keep = append(keep, st.held[i])
		}
	}
	clear(st.held[len(keep):])
	st.held = keep
	slices.SortStableFunc(now, func(x, y heldEvent) int {
		if c := x.at.Compare(y.at); c != 0 {
			return c
		}
		return x.order - y.order
	})
	for i := range now {
		e := now[i].e
		e.SessionID = st.finalSessionLocked(e.SessionID)
		b.appendLocked(e)
	}
	b.cond.Broadcast()
}

// Held returns how many events wait to be committed.
func (b *Bus) Held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stage == nil {
		return 0
	}
	return len(b.stage.held)
}
