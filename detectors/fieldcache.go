package detectors

import "time"

// fieldCache remembers the fields read from one event while the engine
// evaluates it: rules read the same few fields (event.action, service.type,
// user.name ...) again and again, and an event's Field may be a map lookup or
// box a struct field into an interface on every call. It is reused from event
// to event and never retained.
type fieldCache struct {
	ev   Event
	n    int
	keys [32]string
	vals [32]any
	oks  [32]bool
}

func (c *fieldCache) reset(ev Event) {
	c.ev = ev
	clear(c.vals[:c.n]) // drop references to the previous event's values
	c.n = 0
}

func (c *fieldCache) Field(name string) (any, bool) {
	for i := 0; i < c.n; i++ {
		if c.keys[i] == name {
			return c.vals[i], c.oks[i]
		}
	}
	v, ok := c.ev.Field(name)
	if c.n < len(c.keys) {
		c.keys[c.n], c.vals[c.n], c.oks[c.n] = name, v, ok
		c.n++
	}
	return v, ok
}

func (c *fieldCache) Time() time.Time { return c.ev.Time() }
func (c *fieldCache) ID() string      { return c.ev.ID() }

// RangeFields forwards keyword search support.
func (c *fieldCache) RangeFields(yield func(string, any) bool) {
	if r, ok := c.ev.(interface {
		RangeFields(func(string, any) bool)
	}); ok {
		r.RangeFields(yield)
	}
}
