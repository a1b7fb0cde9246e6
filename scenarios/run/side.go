package run

import (
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// Side by side: on the virtual clock, actions that cannot see one another
// run at once, and the run is still the one of actions taken one at a
// time, byte for byte.
//
// An action is the actor's work between two waits. Each says before it
// waits which mailboxes its next action touches: a staff member's desk or
// phone session its owner's own; a staff member's sending mail its own
// and the recipient's (where the mail lands). An action that touches
// everything is exclusive and runs alone: an attacker's or insider's, and
// a staff member's reading a delegated mailbox. The scheduler starts the
// waiting actions in scenario order (time, then actor order); an action
// starts when
//
//   - no exclusive action runs, and an exclusive one starts only when
//     nothing runs and nothing waits before it;
//   - no running action touches a mailbox it touches, and no action
//     waiting before it does (that one must go first);
//   - it is due before the lookahead from the earliest action running or
//     waiting: no actor can then still queue an action before it that
//     touches its mailboxes, for an actor's next action touching
//     another's mailbox (sending mail) comes at least sideBySideGap,
//     less the pacing jitter, after its last one (sideBySideFits), and
//     an action touching only the actor's own mailbox conflicts with it
//     only if that actor is the owner, whose current action then blocks
//     it already;
//   - fewer than sideBySideMax run.
//
// Each action then sees the mail system as the actions before it that
// touch its mailboxes left it, and none after: the same as one at a time.
//
// The mail system stamps each event of an action with that action's time
// (Stager.Slice: the event's source address and port say whose session it
// is) and holds it (audit.Bus.Hold); whenever an action ends, the events
// of the actions up to the earliest one running or waiting are committed
// in scenario order, their sessions numbered then in that order. The
// ground truth is held and committed alike. The trail, the truth and
// every verdict are those of the run taken one action at a time; the
// runner's tests compare the two.

// sideBySideGap is the shortest wait of a staff member before an action
// that touches another's mailbox (sending mail: 2 minutes, staffSession),
// before the staff's pacing jitter; the lookahead is no longer
// (sideBySideFits).
const sideBySideGap = 2 * time.Minute

// sideBySideMax is how many actions run at once.
func sideBySideMax() int { return 4 * runtime.GOMAXPROCS(0) }

// everything is the touch set of an exclusive action.
var everything = []string{"*"}

type sideBySide struct {
	s    *scheduler
	bus  *audit.Bus
	r    *runner
	max  int
	look time.Duration

	// under s.mu
	q       sideQueue       // waiting, in scenario order
	running map[int]*waiter // by actor order
	touched map[string]int  // mailbox → running actions touching it
	excl    bool            // an exclusive action runs
	shared  int             // actions run beside others
	alone   int             // exclusive actions run
	widest  int             // the most actions run at once

	firstCond *sync.Cond // on s.mu: the earliest action may have changed

	lanesMu sync.Mutex
	lanes   map[string]*actorRun // source ip:port → the actor whose session it is
}

func newSideBySide(r *runner, bus *audit.Bus, look time.Duration) *sideBySide {
	return &sideBySide{s: r.sched, bus: bus, r: r, max: sideBySideMax(), look: look,
		running: map[int]*waiter{}, touched: map[string]int{}, lanes: map[string]*actorRun{},
		firstCond: sync.NewCond(&r.sched.mu)}
}

// earliest is the earliest action running or waiting (nil: none; under
// s.mu).
func (p *sideBySide) earliest() *waiter {
	var first *waiter
	for _, w := range p.running {
		if first == nil || waiterLess(w, first) {
			first = w
		}
	}
	if p.q.len() > 0 && (first == nil || waiterLess(p.q.at(0), first)) {
		first = p.q.at(0)
	}
	return first
}

// awaitFirst blocks actor order, which is acting, until its action is the
// earliest running or waiting: every action before it has ended, its
// events are committed and the clock reads its time. An action that
// writes what the mail system numbers or dates before its events are
// committed (a message's Received header names its SMTP session and
// time) waits for it.
func (p *sideBySide) awaitFirst(order int) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.closed {
		if w, ok := p.running[order]; ok && p.earliest() == w {
			return
		}
		p.firstCond.Wait()
	}
}

func waiterLess(a, b *waiter) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	if a.order != b.order {
		return a.order < b.order
	}
	return a.seq < b.seq
}

func exclusive(w *waiter) bool { return len(w.touch) == 1 && w.touch[0] == "*" }

// enqueue queues w in scenario order (under s.mu).
func (p *sideBySide) enqueue(w *waiter) {
	i, _ := slices.BinarySearchFunc(p.q.items(), w, func(a, b *waiter) int {
		if waiterLess(a, b) {
			return -1
		}
		return 1
	})
	p.q.insert(i, w)
}

// ended is told that actor order's action ended (under s.mu).
func (p *sideBySide) ended(order int) {
	w, ok := p.running[order]
	if !ok {
		return
	}
	delete(p.running, order)
	if exclusive(w) {
		p.excl = false
		return
	}
	for _, m := range w.touch {
		if p.touched[m]--; p.touched[m] == 0 {
			delete(p.touched, m)
		}
	}
}

func (p *sideBySide) start(w *waiter) {
	p.running[w.order] = w
	p.s.running++
	if exclusive(w) {
		p.excl = true
		p.alone++
	} else {
		for _, m := range w.touch {
			p.touched[m]++
		}
		p.shared++
	}
	p.widest = max(p.widest, len(p.running))
	close(w.wake)
}

// dispatchSideBySide is dispatchLocked's side-by-side form (under s.mu).
func (s *scheduler) dispatchSideBySide() {
	p := s.par
	// Actors that have not waited yet (the run's start) may still queue
	// anything: nothing starts before they have.
	if s.closed || p.excl || s.running != len(p.running) {
		return
	}
	// The earliest action running or waiting: what came before it is
	// final.
	first := p.earliest()
	if first == nil {
		p.commit(time.Time{}, 0, true)
		return
	}
	p.commit(first.at, first.order, false)
	if first.at.After(s.virtual.Now()) {
		s.virtual.Set(first.at)
	}
	p.firstCond.Broadcast()
	if p.q.len() == 0 {
		return
	}
	if h := p.q.at(0); exclusive(h) {
		if len(p.running) == 0 {
			p.q.remove(0)
			p.bus.Hold(false)
			p.start(h)
		}
		return
	}
	bound := first.at.Add(p.look)
	var blocked map[string]bool
	for i := 0; i < p.q.len() && len(p.running) < p.max; {
		w := p.q.at(i)
		if exclusive(w) || !w.at.Before(bound) {
			return
		}
		free := true
		for _, m := range w.touch {
			if p.touched[m] > 0 || blocked[m] {
				free = false
				break
			}
		}
		if !free {
			if blocked == nil {
				blocked = map[string]bool{}
			}
			for _, m := range w.touch {
				blocked[m] = true
			}
			i++
			continue
		}
		p.q.remove(i)
		p.bus.Hold(true)
		p.start(w)
	}
}

// release wakes every waiting actor (the run stops; under s.mu).
func (p *sideBySide) release() {
	p.firstCond.Broadcast()
	for _, w := range p.q.items() {
		close(w.wake)
	}
	p.q.reset()
}

// commit appends the held events and truth records of the actions up to
// (at, order), the earliest running or waiting, all of them when all
// (under s.mu).
func (p *sideBySide) commit(at time.Time, order int, all bool) {
	p.bus.Commit(at, order, all)
	p.r.commitTruth(at, order, all)
}

// commitAll ends holding: what is held is committed, later events go
// straight to the trail (a stopped run).
func (p *sideBySide) commitAll() {
	p.bus.Hold(false)
	p.commit(time.Time{}, 0, true)
}

// laneKey is a session's source address as the runner keys its sessions,
// from the address and port as the audit event writes them: ip:port, an
// IPv6 address in brackets ([ip]:port), as netip.AddrPort and net.TCPAddr
// write an address, so that a key made from a dialled connection's address
// is the same as the one made from its events.
func laneKey(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// register says that the session from src (laneKey) is ar's.
func (p *sideBySide) register(src string, ar *actorRun) {
	p.lanesMu.Lock()
	p.lanes[src] = ar
	p.lanesMu.Unlock()
}

// Slice implements audit.Stager: the event's session's actor and the time
// of the action it is taking.
func (p *sideBySide) Slice(e *audit.Event) (time.Time, int, bool) {
	if e.SourceIP == "" {
		return time.Time{}, 0, false
	}
	p.lanesMu.Lock()
	ar := p.lanes[laneKey(e.SourceIP, e.SourcePort)]
	p.lanesMu.Unlock()
	if ar == nil {
		return time.Time{}, 0, false
	}
	at := ar.sliceAt.Load()
	if at == nil {
		return time.Time{}, 0, false
	}
	return *at, ar.order, true
}

// Session implements audit.Stager: the action the session's actor is
// taking, and whether it is the earliest running or waiting — under the
// scheduler's lock, so that none starts, ends or is committed meanwhile.
func (p *sideBySide) Session(ip string, port int, f func(at time.Time, order int, earliest, ok bool)) {
	p.lanesMu.Lock()
	ar := p.lanes[laneKey(ip, port)]
	p.lanesMu.Unlock()
	if ar == nil {
		f(time.Time{}, 0, false, false)
		return
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	w, running := p.running[ar.order]
	f(ar.sliceTime(), ar.order, running && p.earliest() == w, true)
}

// Published implements audit.Stager: a session's end is known when its
// event is published, held or not.
func (p *sideBySide) Published(e *audit.Event) {
	if key, ended := p.r.noteSessionEnd(e); ended {
		// Its last event: the session's lane goes (a day's tens of
		// thousands of sessions would otherwise all stay).
		p.lanesMu.Lock()
		delete(p.lanes, key)
		p.lanesMu.Unlock()
	}
}

// stats says how the run went side by side.
func (p *sideBySide) stats() string {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return fmt.Sprintf("%d actions beside others, %d alone, at most %d at once", p.shared, p.alone, p.widest)
}
