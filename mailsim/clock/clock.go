// Package clock provides the injectable clocks that stamp mailsim's audit
// events: the wall clock, a scaled clock (scenario time runs N times faster
// than wall time from a chosen origin) and a virtual clock that a scenario
// runner sets explicitly.
package clock

import (
	"fmt"
	"sync"
	"time"
)

// Clock tells the current scenario time.
type Clock interface {
	Now() time.Time
}

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
// scenario seconds per wall second. factor must be positive.
func NewScaled(origin time.Time, factor float64) (*Scaled, error) {
	if factor <= 0 {
		return nil, fmt.Errorf("clock: scale factor must be positive, got %v", factor)
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

// Set moves the clock to t. Moving backwards is an error.
func (v *Virtual) Set(t time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t.Before(v.t) {
		return fmt.Errorf("clock: virtual clock cannot go back from %s to %s", v.t.Format(time.RFC3339Nano), t.Format(time.RFC3339Nano))
	}
	v.t = t
	return nil
}

// Advance moves the clock forward by d (negative d is an error).
func (v *Virtual) Advance(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("clock: cannot advance by negative duration %s", d)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.t = v.t.Add(d)
	return nil
}
