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
	// Session ids: a session started while publishes are held, for an
	// action that is not the earliest, gets a provisional id, made final
	// (prefix + the server's next number) when its action is committed:
	// sessions are numbered in scenario order, not in the order the
	// side-by-side actions reached the server.
	provisional uint64
	next        map[string]func() uint64 // prefix → the server's counter
	final       map[string]string        // provisional → final
	pending     []pendingSession         // provisional, not numbered yet, in creation order
}

// pendingSession is a session with a provisional id, numbered when its
// action's events are committed: sessions are numbered in scenario order
// (their action's time and actor order), and in the order they started
// within an action.
type pendingSession struct {
	id, prefix string
	at         time.Time
	order      int
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
		st.pending = append(st.pending, pendingSession{id: id, prefix: prefix, at: at, order: order})
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
	if st == nil || len(st.held) == 0 && len(st.pending) == 0 {
		return
	}
	// Sessions first, in scenario order and, within an action, in the
	// order they started.
	var number []pendingSession
	number, st.pending = TakeThrough(st.pending, func(p *pendingSession) (time.Time, int) { return p.at, p.order }, at, order, all)
	for _, ps := range number {
		st.final[ps.id] = ps.prefix + strconv.FormatUint(st.next[ps.prefix](), 10)
	}
	var now []heldEvent
	now, st.held = TakeThrough(st.held, func(h *heldEvent) (time.Time, int) { return h.at, h.order }, at, order, all)
	for i := range now {
		e := now[i].e
		e.SessionID = st.finalSessionLocked(e.SessionID)
		st.endedLocked(now[i].e.SessionID, &e)
		b.appendLocked(e)
	}
	b.cond.Broadcast()
}

// TakeThrough splits held, items of actions each known by key (its time
// and actor order), into those of the actions up to (at, order)
// inclusive — every one when all — in scenario order (time, then actor
// order, then their order in held), and the rest, in their order. It
// reuses held's array for the rest.
func TakeThrough[T any](held []T, key func(*T) (time.Time, int), at time.Time, order int, all bool) (now, rest []T) {
	rest = held[:0]
	for i := range held {
		hat, horder := key(&held[i])
		c := hat.Compare(at)
		if all || c < 0 || c == 0 && horder <= order {
			now = append(now, held[i])
		} else {
			rest = append(rest, held[i])
		}
	}
	clear(held[len(rest):])
	slices.SortStableFunc(now, func(x, y T) int {
		xat, xorder := key(&x)
		yat, yorder := key(&y)
		if c := xat.Compare(yat); c != 0 {
			return c
		}
		return xorder - yorder
	})
	return now, rest
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
