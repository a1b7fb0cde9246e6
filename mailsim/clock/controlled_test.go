package clock

import (
	"testing"
	"time"
)

// A controlled clock stands still while paused, runs when resumed, and
// wakes waiters on every change.
func TestControlled(t *testing.T) {
	origin := time.Date(2025, 12, 11, 23, 0, 0, 0, time.UTC)
	c, err := NewControlled(origin, 3600)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Paused() || !c.Now().Equal(origin) {
		t.Fatalf("a new clock is paused at its origin: %v %v", c.Paused(), c.Now())
	}
	if _, ok, _ := c.WallUntil(origin.Add(time.Hour)); ok {
		t.Fatal("no wall duration while paused")
	}
	_, _, ch := c.WallUntil(origin.Add(time.Hour))
	c.Resume()
	select {
	case <-ch:
	default:
		t.Fatal("resume must wake waiters")
	}
	time.Sleep(20 * time.Millisecond)
	if !c.Now().After(origin) {
		t.Fatal("a resumed clock runs")
	}
	c.Pause()
	p := c.Now()
	time.Sleep(20 * time.Millisecond)
	if !c.Now().Equal(p) {
		t.Fatalf("a paused clock stands still: %v then %v", p, c.Now())
	}
	if !c.LastJump().IsZero() {
		t.Fatalf("no jump yet, LastJump %v", c.LastJump())
	}
	if err := c.Jump(p.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !c.Now().Equal(p.Add(time.Hour)) {
		t.Fatal("jump moves the clock")
	}
	if c.Jump(p) == nil {
		t.Fatal("jumping back is refused")
	}
	if !c.LastJump().Equal(p.Add(time.Hour)) {
		t.Fatalf("LastJump %v, want the jump's %v (a refused one does not count)", c.LastJump(), p.Add(time.Hour))
	}
	if c.SetFactor(0) == nil || c.SetFactor(-1) == nil {
		t.Fatal("a non-positive speed is refused")
	}
	c.Resume()
	if err := c.SetFactor(7200); err != nil || c.Factor() != 7200 {
		t.Fatal("speed change")
	}
	d, ok, _ := c.WallUntil(c.Now().Add(2 * time.Hour))
	if !ok || d <= 0 || d > time.Second {
		t.Fatalf("two scenario hours at ×7200 are about one wall second, got %v", d)
	}
}
