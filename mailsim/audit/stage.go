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
	// Session calls f with the action a new session from ip:port acts
	// for (ok false: none the stager knows) and whether that action is
	// the earliest running or waiting, all before it committed; no
	// action may start, end or be committed while f runs.
	Session(ip string, port int, f func(at time.Time, order int, earliest, ok bool))
	// Published is told of every event published while the stager is
	// set, held or not, in the publisher's goroutine before Publish
	// returns (a runner waiting for a session's end learns it there: a
	// held event reaches no subscriber until committed).
	Published(e *Event)
}

// staging is a bus's state while a Stager is set.
type staging struct {
	stager Stager
	hold   bool // publishes are held (actions run side by side)
	held   Staged[Event]
	// Session ids: a session started while publishes are held, for an
	// action that is not the earliest, gets a provisional id, made final
	// (prefix + the server's next number) when its action is committed:
	// sessions are numbered in scenario order, not in the order the
	// side-by-side actions reached the server.
	provisional uint64
	next        map[string]func() uint64 // prefix → the server's counter
	final       map[string]string        // provisional → final
	pending     Staged[pendingSession]   // provisional, not numbered yet
}

// pendingSession is a session with a provisional id, numbered when its
// action's events are committed: sessions are numbered in scenario order
// (their action's time and actor order), and in the order they started
// within an action.
type pendingSession struct {
	id, prefix string
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
// session's action is not the earliest (Stager.Session), a provisional id
// that the session's events carry until its action's are committed.
func (b *Bus) SessionID(prefix string, next func() uint64, ip string, port int) string {
	b.mu.Lock()
	st := b.stage
	b.mu.Unlock()
	if st == nil {
		return prefix + strconv.FormatUint(next(), 10)
	}
	var id string
	st.stager.Session(ip, port, func(at time.Time, order int, earliest, ok bool) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !st.hold || !ok || earliest {
			id = prefix + strconv.FormatUint(next(), 10)
			return
		}
		st.next[prefix] = next
		st.provisional++
		id = prefix + provisionalMark + strconv.FormatUint(st.provisional, 10)
		st.pending.Add(at, order, pendingSession{id: id, prefix: prefix})
	})
	return id
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

// endedLocked forgets a provisional session id (orig) once its session's
// last event e is through.
func (st *staging) endedLocked(orig string, e *Event) {
	if orig != e.SessionID && (e.Action == IMAPLogout || e.Action == SMTPDisconnect) {
		delete(st.final, orig)
	}
}

// publishStagedLocked handles a publish while a stager is set: it tells
// the stager, and holds the event (true) when publishes are held and the
// stager places it; otherwise the caller appends it.
func (b *Bus) publishStagedLocked(e *Event) (held bool) {
	st := b.stage
	direct := func() bool {
		orig := e.SessionID
		e.SessionID = st.finalSessionLocked(e.SessionID)
		st.endedLocked(orig, e)
		st.stager.Published(e)
		return false
	}
	if !st.hold {
		return direct()
	}
	at, order, ok := st.stager.Slice(e)
	if !ok {
		return direct()
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = at
	}
	st.stager.Published(e)
	st.held.Add(at, order, *e)
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
	if st == nil || st.held.Len() == 0 && st.pending.Len() == 0 {
		return
	}
	// Sessions first, in scenario order and, within an action, in the
	// order they started.
	st.pending.Take(at, order, all, func(ps *pendingSession) {
		st.final[ps.id] = ps.prefix + strconv.FormatUint(st.next[ps.prefix](), 10)
	})
	st.held.Take(at, order, all, func(h *Event) {
		e := *h
		e.SessionID = st.finalSessionLocked(e.SessionID)
		st.endedLocked(h.SessionID, &e)
		b.appendLocked(e)
	})
	b.cond.Broadcast()
}

// Staged holds items of actions, each action known by its scenario time
// and its actor's order, until their turn (Take). Adding is O(1) for an
// action seen before; taking costs the actions taken, not the items still
// held: the side-by-side runner commits at every action's end, while up to
// hundreds of later actions' items wait.
type Staged[T any] struct {
	q     []*stagedAction[T]             // by (at, order)
	index map[stagedKey]*stagedAction[T] // the same actions
	n     int                            // items held
	spare []*stagedAction[T]
}

type stagedKey struct {
	at    int64 // Unix nanoseconds
	order int
}

type stagedAction[T any] struct {
	key   stagedKey
	items []T
}

func (k stagedKey) compare(o stagedKey) int {
	if k.at != o.at {
		if k.at < o.at {
			return -1
		}
		return 1
	}
	return k.order - o.order
}

// Add holds item of the action of actor order due at at, after the items
// of that action held before it.
func (s *Staged[T]) Add(at time.Time, order int, item T) {
	k := stagedKey{at.UnixNano(), order}
	a := s.index[k]
	if a == nil {
		if s.index == nil {
			s.index = map[stagedKey]*stagedAction[T]{}
		}
		if n := len(s.spare); n > 0 {
			a, s.spare = s.spare[n-1], s.spare[:n-1]
		} else {
			a = &stagedAction[T]{}
		}
		a.key = k
		s.index[k] = a
		// Actions mostly arrive in order: search from the end.
		i := len(s.q)
		for i > 0 && s.q[i-1].key.compare(k) > 0 {
			i--
		}
		s.q = slices.Insert(s.q, i, a)
	}
	a.items = append(a.items, item)
	s.n++
}

// Take calls f, in scenario order (the action's time, then its actor's
// order, then the order they were added), with the held items of the
// actions up to (at, order) inclusive — every one when all — and forgets
// them.
func (s *Staged[T]) Take(at time.Time, order int, all bool, f func(*T)) {
	bound := stagedKey{at.UnixNano(), order}
	k := 0
	for ; k < len(s.q) && (all || s.q[k].key.compare(bound) <= 0); k++ {
		a := s.q[k]
		for i := range a.items {
			f(&a.items[i])
		}
		s.n -= len(a.items)
		delete(s.index, a.key)
		clear(a.items)
		a.items = a.items[:0]
		if len(s.spare) < 256 {
			s.spare = append(s.spare, a)
		}
		s.q[k] = nil
	}
	s.q = s.q[k:]
}

// Len returns how many items are held.
func (s *Staged[T]) Len() int { return s.n }

// Held returns how many events wait to be committed.
func (b *Bus) Held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stage == nil {
		return 0
	}
	return b.stage.held.Len()
}
