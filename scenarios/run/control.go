package run

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/maildrill/maildrill/mailsim/clock"
)

// Control steers a running scenario, as a facilitator does in an
// exercise: the scenario clock can be paused (attackers and staff wait;
// the mail system keeps serving and stamps what it serves with the frozen
// time), resumed, sped up or slowed down, moved to the scripted actors'
// next action, and the run ended. A run takes it through Options.Control;
// it starts paused until Resume.
type Control struct {
	clk *clock.Controlled

	mu     sync.Mutex
	sched  *scheduler
	orders map[int]bool
	cancel context.CancelFunc
	ended  bool
}

// NewControl returns a paused control whose clock starts at start and
// runs at speed scenario seconds per wall second.
func NewControl(start time.Time, speed float64) (*Control, error) {
	c, err := clock.NewControlled(start, speed)
	if err != nil {
		return nil, err
	}
	return &Control{clk: c, orders: map[int]bool{}}, nil
}

// Clock is the scenario clock the run uses.
func (c *Control) Clock() *clock.Controlled { return c.clk }

func (c *Control) attach(s *scheduler, cancel context.CancelFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sched, c.cancel = s, cancel
	if c.ended {
		cancel()
	}
}

func (c *Control) scripted(order int) {
	c.mu.Lock()
	c.orders[order] = true
	c.mu.Unlock()
}

// Pause freezes the scenario clock; false when it was already paused.
func (c *Control) Pause() bool { return c.clk.Pause() }

// Resume lets the scenario clock run; false when it was running.
func (c *Control) Resume() bool { return c.clk.Resume() }

// SetSpeed changes how many scenario seconds pass per wall second.
func (c *Control) SetSpeed(f float64) error { return c.clk.SetFactor(f) }

// Skip moves the scenario clock to the next action of a scripted actor
// (attacker or insider) that is waiting, and returns that time. Staff
// keep their own pace: what they would have done meanwhile happens at
// once, in order.
func (c *Control) Skip() (time.Time, error) {
	c.mu.Lock()
	started := c.sched != nil
	c.mu.Unlock()
	if !started {
		return time.Time{}, fmt.Errorf("the run has not started")
	}
	next := c.Next()
	if next.IsZero() {
		return time.Time{}, fmt.Errorf("no scripted actor is waiting: nothing to skip to")
	}
	if !next.After(c.clk.Now()) {
		return c.clk.Now(), nil
	}
	return next, c.clk.Jump(next)
}

// Next is when the next scripted actor (attacker, insider) that is
// waiting acts; zero when none is waiting.
func (c *Control) Next() time.Time {
	c.mu.Lock()
	s := c.sched
	o := make(map[int]bool, len(c.orders))
	for k := range c.orders {
		o[k] = true
	}
	c.mu.Unlock()
	if s == nil {
		return time.Time{}
	}
	return s.nextWait(o)
}

// End stops the run as an operator's stop does: what was recorded is
// judged, as an unfinished run.
func (c *Control) End() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.cancel != nil {
		c.cancel()
	}
}
