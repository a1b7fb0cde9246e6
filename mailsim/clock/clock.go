// Package clock provides the injectable clocks that stamp mailsim's audit
// events: the wall clock, a scaled clock (scenario time runs N times faster
// than wall time from a chosen origin) and a virtual clock that a scenario
// runner sets explicitly.
package clock

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// The speeds a scaled clock may run at, in scenario seconds per wall
// second: from a thousandth (a scenario second takes over 16 wall
// minutes) to a million (a scenario day in under a tenth of a second).
// Outside them the clock's arithmetic leaves time.Duration's range (a
// scenario of hours read as -2562047h) or a run would never end.
const (
	MinFactor = 0.001
	MaxFactor = 1e6
)

// CheckFactor refuses a speed that is not a number from MinFactor to
// MaxFactor (NaN, infinities, zero and negatives included).
func CheckFactor(factor float64) error {
	if math.IsNaN(factor) || factor < MinFactor || factor > MaxFactor {
		return fmt.Errorf("speed %v: want a number from %s to %s (scenario seconds per wall second)", factor, plain(MinFactor), plain(MaxFactor))
	}
	return nil
}

// Clock tells the current scenario time.
type Clock interface {
	Now() time.Time
}

// plain formats f without an exponent: 1000000, 0.001.
func plain(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Scaled runs from Origin at Factor times wall-clock speed.
type Scaled struct {
	origin    time.Time
	wallStart time.Time
	factor    float64
	loc       *time.Location
}

// NewScaled returns a clock that reads origin now and advances factor
// scenario seconds per wall second (CheckFactor).
func NewScaled(origin time.Time, factor float64) (*Scaled, error) {
	if err := CheckFactor(factor); err != nil {
		return nil, err
	}
	return &Scaled{origin: origin, wallStart: time.Now(), factor: factor, loc: origin.Location()}, nil
}

// Now returns the scaled scenario time.
func (s *Scaled) Now() time.Time {
	el := time.Since(s.wallStart)
	return s.origin.Add(time.Duration(float64(el) * s.factor)).In(s.loc)
}

// Factor returns the speed-up factor.
func (s *Scaled) Factor() float64 { return s.factor }

// Virtual is a clock that only moves when told to. Waits cost no wall time.
// It never goes backwards: Set to an earlier instant is refused.
type Virtual struct {
	mu sync.RWMutex
	t  time.Time
}

// NewVirtual returns a virtual clock reading start.
func NewVirtual(start time.Time) *Virtual { return &Virtual{t: start} }

// Now returns the virtual time.
func (v *Virtual) Now() time.Time {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.t
}

// MinTime and MaxTime bound the times a clock may read and an event may
// carry: events are ordered by nanoseconds since 1970 in an int64, which
// holds September 1677 to April 2262 (a clock set past it stamped events
// in 1677).
var (
	MinTime = time.Unix(0, math.MinInt64).UTC()
	MaxTime = time.Unix(0, math.MaxInt64).UTC()
)

// Set moves the clock to t. Moving backwards, or past MaxTime, is an
// error.
func (v *Virtual) Set(t time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t.Before(v.t) {
		return fmt.Errorf("clock: virtual clock cannot go back from %s to %s", v.t.Format(time.RFC3339Nano), t.Format(time.RFC3339Nano))
	}
	if t.After(MaxTime) {
		return fmt.Errorf("clock: %s is past the latest time events can have (%s)", t.Format(time.RFC3339Nano), MaxTime.Format(time.RFC3339))
	}
	v.t = t
	return nil
}

// Advance moves the clock forward by d (negative d, or a move past
// MaxTime, is an error).
func (v *Virtual) Advance(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("clock: cannot advance by negative duration %s", d)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if d > MaxTime.Sub(v.t) {
		return fmt.Errorf("clock: advancing %s by %s goes past the latest time events can have (%s)", v.t.Format(time.RFC3339Nano), d, MaxTime.Format(time.RFC3339))
	}
	v.t = v.t.Add(d)
	return nil
}

// Controlled is a scaled clock an operator steers while it runs: it can be
// paused (scenario time stands still), resumed, sped up or slowed down,
// and moved forward. It starts paused at its origin. Every change closes
// the channel Changed returned before it, so that waiters re-read the
// clock.
type Controlled struct {
	mu      sync.Mutex
	base    time.Time // scenario time at wallRef
	wallRef time.Time
	factor  float64
	paused  bool
	changed chan struct{}
	jumped  time.Time // where the last Jump moved scenario time to
}

// NewControlled returns a paused controlled clock reading origin, running
// at factor scenario seconds per wall second once resumed.
func NewControlled(origin time.Time, factor float64) (*Controlled, error) {
	if err := CheckFactor(factor); err != nil {
		return nil, err
	}
	return &Controlled{base: origin, wallRef: time.Now(), factor: factor, paused: true, changed: make(chan struct{})}, nil
}

func (c *Controlled) nowLocked() time.Time {
	if c.paused {
		return c.base
	}
	return c.base.Add(time.Duration(float64(time.Since(c.wallRef)) * c.factor))
}

func (c *Controlled) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Now returns the scenario time.
func (c *Controlled) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked().In(c.base.Location())
}

// Pause stops scenario time; it reports whether the clock was running.
func (c *Controlled) Pause() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		return false
	}
	c.base = c.nowLocked()
	c.paused = true
	c.signalLocked()
	return true
}

// Resume lets scenario time run again; it reports whether it was paused.
func (c *Controlled) Resume() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused {
		return false
	}
	c.wallRef = time.Now()
	c.paused = false
	c.signalLocked()
	return true
}

// Paused reports whether scenario time stands still.
func (c *Controlled) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// SetFactor changes the speed from now on (CheckFactor).
func (c *Controlled) SetFactor(factor float64) error {
	if err := CheckFactor(factor); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.wallRef = c.nowLocked(), time.Now()
	c.factor = factor
	c.signalLocked()
	return nil
}

// Factor returns the current speed.
func (c *Controlled) Factor() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.factor
}

// Jump moves scenario time forward to t (never back: an earlier t is
// refused).
func (c *Controlled) Jump(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.nowLocked()
	if t.Before(now) {
		return fmt.Errorf("clock: cannot go back from %s to %s", now.Format(time.RFC3339), t.Format(time.RFC3339))
	}
	c.base, c.wallRef = t, time.Now()
	c.jumped = t
	c.signalLocked()
	return nil
}

// LastJump is where the last Jump moved scenario time to (zero when it
// never moved): what was due before it happens at once, on purpose.
func (c *Controlled) LastJump() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jumped
}

// WallUntil says how much wall time remains until scenario time t at the
// current speed (0 when t has come; ok false while paused), and returns a
// channel closed at the next change of pause, speed or time.
func (c *Controlled) WallUntil(t time.Time) (d time.Duration, ok bool, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed = c.changed
	if c.paused {
		return 0, false, changed
	}
	d = time.Duration(float64(t.Sub(c.nowLocked())) / c.factor)
	if d < 0 {
		d = 0
	}
	return d, true, changed
}
