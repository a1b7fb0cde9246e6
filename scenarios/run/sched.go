package run

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/maildrill/maildrill/mailsim/clock"
)

// scheduler lets actors wait until a scenario time. In virtual mode exactly
// one actor acts at a time, in time order (ties by actor order), and the
// virtual clock jumps to each action's time: a night of activity replays in
// seconds, deterministically. In scaled and real modes actors sleep on the
// wall clock and act concurrently.
type scheduler struct {
	virtual *clock.Virtual
	clk     clock.Clock

	mu      sync.Mutex
	cond    *sync.Cond
	queue   waitQueue
	running int // actors currently acting (virtual: at most 1)
	live    int // actors not finished
	seq     uint64
	closed  bool

	// pending are the wall-clock waits (scaled and real modes) by
	// sequence, for Control.Skip.
	pending map[uint64]pendingWait

	// par, when set, lets independent actions run side by side on the
	// virtual clock (see side.go).
	par *sideBySide
}

type pendingWait struct {
	order int
	at    time.Time
}

type waiter struct {
	at    time.Time
	order int
	seq   uint64
	wake  chan struct{}
	touch []string // side by side: the mailboxes the action touches (everything: exclusive)
}

type waitQueue []*waiter

func (q waitQueue) Len() int { return len(q) }
func (q waitQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	if q[i].order != q[j].order {
		return q[i].order < q[j].order
	}
	return q[i].seq < q[j].seq
}
func (q waitQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *waitQueue) Push(x any)   { *q = append(*q, x.(*waiter)) }
func (q *waitQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func newScheduler(clk clock.Clock) *scheduler {
	s := &scheduler{clk: clk}
	s.virtual, _ = clk.(*clock.Virtual)
	s.cond = sync.NewCond(&s.mu)
	return s
}

// join registers an actor that is currently acting (running).
func (s *scheduler) join() {
	s.mu.Lock()
	s.live++
	s.running++
	s.mu.Unlock()
}

// leave marks actor order finished.
func (s *scheduler) leave(order int) {
	s.mu.Lock()
	s.live--
	s.running--
	if s.par != nil {
		s.par.ended(order)
	}
	s.dispatchLocked()
	s.mu.Unlock()
}

var errStopped = errors.New("scenario stopped")

// waitUntil blocks the calling actor until scenario time t and its turn.
// touch says which mailboxes the action that follows touches (side by
// side on the virtual clock, side.go; ignored otherwise).
func (s *scheduler) waitUntil(ctx context.Context, order int, t time.Time, touch []string) error {
	if c, ok := s.clk.(*clock.Controlled); ok {
		return s.waitControlled(ctx, c, order, t)
	}
	if s.virtual == nil {
		d := t.Sub(s.clk.Now())
		if sc, ok := s.clk.(*clock.Scaled); ok {
			d = time.Duration(float64(d) / sc.Factor())
		}
		if d <= 0 {
			return ctx.Err()
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errStopped
	}
	s.seq++
	w := &waiter{at: t, order: order, seq: s.seq, wake: make(chan struct{}), touch: touch}
	s.running--
	if s.par != nil {
		s.par.ended(order)
		s.par.enqueue(w)
	} else {
		heap.Push(&s.queue, w)
	}
	s.dispatchLocked()
	s.mu.Unlock()
	select {
	case <-w.wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dispatchLocked wakes the earliest waiter once nobody is acting.
func (s *scheduler) dispatchLocked() {
	if s.par != nil && s.virtual != nil {
		s.dispatchSideBySide()
		return
	}
	if s.virtual == nil || s.running > 0 || len(s.queue) == 0 || s.closed {
		return
	}
	w := heap.Pop(&s.queue).(*waiter)
	if w.at.After(s.virtual.Now()) {
		s.virtual.Set(w.at)
	}
	s.running++
	close(w.wake)
}

// close releases everyone (on stop).
func (s *scheduler) close() {
	s.mu.Lock()
	s.closed = true
	if s.par != nil {
		s.par.commitAll()
		s.par.release()
	}
	for len(s.queue) > 0 {
		w := heap.Pop(&s.queue).(*waiter)
		close(w.wake)
	}
	s.mu.Unlock()
}

// waitControlled waits on an operator-steered clock: re-reading it at
// every pause, resume, speed change or jump.
func (s *scheduler) waitControlled(ctx context.Context, c *clock.Controlled, order int, t time.Time) error {
	s.mu.Lock()
	s.seq++
	id := s.seq
	if s.pending == nil {
		s.pending = map[uint64]pendingWait{}
	}
	s.pending[id] = pendingWait{order: order, at: t}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
	}()
	for {
		d, running, changed := c.WallUntil(t)
		if running && d <= 0 {
			return ctx.Err()
		}
		var timer <-chan time.Time
		var tm *time.Timer
		if running {
			tm = time.NewTimer(d)
			timer = tm.C
		}
		select {
		case <-timer:
			return ctx.Err()
		case <-changed:
			if tm != nil {
				tm.Stop()
			}
		case <-ctx.Done():
			if tm != nil {
				tm.Stop()
			}
			return ctx.Err()
		}
	}
}

// nextWait is the earliest pending wall-clock wait of the actors in
// orders (zero when none).
func (s *scheduler) nextWait(orders map[int]bool) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best time.Time
	for _, w := range s.pending {
		if orders[w.order] && (best.IsZero() || w.at.Before(best)) {
			best = w.at
		}
	}
	return best
}
