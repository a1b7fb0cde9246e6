package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/maildrill/maildrill/mailsim/clock"
)

// ErrClosed is returned by a subscription once the bus is closed and every
// event has been read.
var ErrClosed = errors.New("audit: bus closed")

// ErrNotRetained is returned when a subscriber asks for events older than the
// bus retained. Events are never silently skipped.
var ErrNotRetained = errors.New("audit: events requested are no longer retained")

// BusOptions tune the bus.
type BusOptions struct {
	// RunID is stamped on every event as labels.run_id.
	RunID string
	// MaxLag is how many events a subscriber may fall behind before
	// publishers block (backpressure). Default 65536.
	MaxLag int
	// Retain is how many past events are kept for subscribers that join
	// late and ask to start from an earlier sequence number. Default 0:
	// keep only what current subscribers have not read. Negative keeps all.
	Retain int
	// RetainBytes bounds the memory of the events kept for late
	// subscribers (an estimate: each event's struct and its strings, or
	// for an event every subscriber has read, frozen, its encoded size:
	// about a quarter of that).
	// Default DefaultRetainBytes; negative: no bound but Retain's. It
	// applies when Retain is not negative. Events that current subscribers
	// have not read are kept whatever it says (they are bounded by MaxLag).
	RetainBytes int64
}

// DefaultRetainBytes is the default bound of BusOptions.RetainBytes.
const DefaultRetainBytes = 64 << 20

// Bus carries audit events from the servers to subscribers, in publication
// order, without loss. It is an append-only log read by cursors: a publisher
// blocks while any subscriber lags more than MaxLag events, so under
// backpressure the servers slow down instead of dropping events.
type Bus struct {
	clock clock.Clock
	opts  BusOptions

	mu     sync.Mutex
	cond   *sync.Cond
	log    []*Event // events with sequence base+1 .. base+len(log); nil: frozen
	sizes  []int32  // estimated bytes of each event of log (frozen: its encoded size)
	bytes  int64    // sum of sizes
	base   uint64
	subs   map[*Subscription]struct{}
	closed bool
	stage  *staging // nil: no stager (SetStager)

	// Frozen events (freeze.go): the first ncold of log, placed by refs
	// in chunks (chunks[0] is chunk number chunk0).
	ncold  int
	refs   []coldRef
	chunks [][]byte
	chunk0 uint64

	freezing  sync.Mutex            // held by the goroutine freezing
	freezeErr atomic.Pointer[error] // why freezing stopped (not expected)
	frz       struct {              // the freezing goroutine's buffers, kept
		evs  []*Event
		enc  []byte
		ends []uint32
	}
}

// NewBus returns a bus stamping events from c.
func NewBus(c clock.Clock, opts BusOptions) *Bus {
	if c == nil {
		c = clock.Real{}
	}
	if opts.MaxLag <= 0 {
		opts.MaxLag = 65536
	}
	if opts.RetainBytes == 0 {
		opts.RetainBytes = DefaultRetainBytes
	}
	b := &Bus{clock: c, opts: opts, subs: map[*Subscription]struct{}{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// Clock returns the clock that stamps events.
func (b *Bus) Clock() clock.Clock { return b.clock }

// RunID returns the run id stamped on events.
func (b *Bus) RunID() string { return b.opts.RunID }

func (b *Bus) last() uint64 { return b.base + uint64(len(b.log)) }

// Publish stamps e (time, sequence, id, run id) and appends it to the log.
// It blocks while a subscriber lags by MaxLag events. Publishing on a closed
// bus returns ErrClosed; callers treat that as shutdown.
func (b *Bus) Publish(e Event) (uint64, error) {
	b.mu.Lock()
	for !b.closed && b.lagging() {
		b.cond.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		return 0, ErrClosed
	}
	if b.stage != nil && b.publishStagedLocked(&e) {
		b.mu.Unlock()
		return 0, nil // held: numbered when committed
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = b.clock.Now()
	}
	seq := b.appendLocked(e)
	b.cond.Broadcast()
	// With subscribers, their reads freeze what they have read; without,
	// the publishers do.
	frz := len(b.subs) == 0 && b.opts.Retain != 0 && len(b.log)-b.ncold >= freezeBatch
	b.mu.Unlock()
	if frz {
		b.freeze()
	}
	return seq, nil
}

// appendLocked numbers e (sequence, id, run id) and appends it to the log.
func (b *Bus) appendLocked(e Event) uint64 {
	seq := b.last() + 1
	e.Sequence = seq
	e.ID = strconv.FormatUint(seq, 10)
	if b.opts.RunID != "" {
		e.ID = b.opts.RunID + "-" + e.ID
		e.RunID = b.opts.RunID
	}
	b.log = append(b.log, &e)
	sz := e.memSize()
	b.sizes = append(b.sizes, int32(min(sz, 1<<30)))
	b.bytes += sz
	b.trim()
	return seq
}

func (b *Bus) lagging() bool {
	last := b.last()
	for s := range b.subs {
		if last-s.cursor >= uint64(b.opts.MaxLag) {
			return true
		}
	}
	return false
}

// trim drops events every subscriber has read, beyond the retention window.
func (b *Bus) trim() {
	if b.opts.Retain < 0 {
		return
	}
	keepFrom := b.last() // events with sequence > keepFrom are still needed
	for s := range b.subs {
		if s.cursor < keepFrom {
			keepFrom = s.cursor
		}
	}
	// With a retention window, events after retainFrom are also kept for
	// late subscribers, within both the count and the byte bounds.
	if r := uint64(b.opts.Retain); r > 0 {
		var retainFrom uint64
		if b.last() > r {
			retainFrom = b.last() - r
		}
		if over := b.bytes - b.opts.RetainBytes; b.opts.RetainBytes > 0 && over > 0 {
			i := 0
			for ; over > 0 && i < len(b.sizes); i++ {
				over -= int64(b.sizes[i])
			}
			retainFrom = max(retainFrom, b.base+uint64(i))
		}
		keepFrom = min(keepFrom, retainFrom)
	}
	if keepFrom <= b.base {
		return
	}
	drop := int(keepFrom - b.base)
	for _, sz := range b.sizes[:drop] {
		b.bytes -= int64(sz)
	}
	b.dropColdLocked(min(drop, b.ncold))
	// The slices move forward over their arrays rather than being copied
	// down: append copies what is left into a new array once the old one
	// is full, a few copies of each event over its life. Copying down
	// every 1,024 events copied the whole window each time, under the
	// lock: 6.5 KB an event with a window of 240,000 frozen events.
	clear(b.log[:drop])
	b.log = b.log[drop:]
	b.sizes = b.sizes[drop:]
	b.base = keepFrom
}

// Retained returns how many events the bus holds and their estimated
// bytes (unread by a subscriber, or kept for late ones).
func (b *Bus) Retained() (events int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.log), b.bytes
}

// Subscribe returns a subscription that reads events published after this
// call.
func (b *Bus) Subscribe() *Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &Subscription{bus: b, cursor: b.last()}
	b.subs[s] = struct{}{}
	return s
}

// SubscribeFrom returns a subscription whose first event has sequence
// number from (1 is the first event ever published). It fails with
// ErrNotRetained when that event is gone.
func (b *Bus) SubscribeFrom(from uint64) (*Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if from == 0 {
		from = 1
	}
	if from <= b.base {
		return nil, fmt.Errorf("%w: first retained sequence is %d, asked for %d", ErrNotRetained, b.base+1, from)
	}
	cur := from - 1
	if cur > b.last() {
		cur = b.last()
	}
	s := &Subscription{bus: b, cursor: cur}
	b.subs[s] = struct{}{}
	return s, nil
}

// Published returns the sequence number of the last event published.
func (b *Bus) Published() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last()
}

// Flush waits until every subscriber has read every event published before
// the call, or ctx ends.
func (b *Bus) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { b.mu.Lock(); b.cond.Broadcast(); b.mu.Unlock() })
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	target := b.last()
	for {
		done := true
		for s := range b.subs {
			if s.cursor < target {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		b.cond.Wait()
	}
}

// Close stops the bus: further publishes fail, subscribers read what is left
// and then get ErrClosed.
func (b *Bus) Close() {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

// Subscription reads the bus at its own cursor.
type Subscription struct {
	bus      *Bus
	cursor   uint64 // sequence of the last event read
	detached bool
}

// Next returns the next event, waiting for one. It returns ErrClosed after
// the bus is closed and drained, or ctx's error. The event must not be
// modified. An event frozen for late subscribers (freeze.go) comes back
// decoded, a struct of its own.
func (s *Subscription) Next(ctx context.Context) (*Event, error) {
	evs, err := s.NextBatch(ctx, 1)
	if err != nil {
		return nil, err
	}
	return evs[0], nil
}

// NextBatch returns between 1 and max events, waiting for at least one.
func (s *Subscription) NextBatch(ctx context.Context, max int) ([]*Event, error) {
	out, frozen, err := s.nextBatch(ctx, max)
	if err != nil {
		return nil, err
	}
	for i, raw := range frozen { // out[i] is nil: decoded with the bus unlocked
		if out[i], err = thawEvent(raw); err != nil {
			return nil, err
		}
	}
	s.bus.freeze() // what this read made freezable, if a batch
	return out, nil
}

// nextBatch is NextBatch under the lock: the events, and in frozen the
// bytes of those frozen (nil entries of out), if any.
func (s *Subscription) nextBatch(ctx context.Context, max int) (out []*Event, frozen [][]byte, err error) {
	b := s.bus
	stop := context.AfterFunc(ctx, func() { b.mu.Lock(); b.cond.Broadcast(); b.mu.Unlock() })
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for s.cursor == b.last() && !b.closed && !s.detached {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		b.cond.Wait()
	}
	if s.detached {
		return nil, nil, ErrClosed
	}
	avail := b.last() - s.cursor
	if avail == 0 {
		return nil, nil, ErrClosed
	}
	if max <= 0 || uint64(max) > avail {
		max = int(avail)
	}
	start := int(s.cursor - b.base)
	out = make([]*Event, max)
	copy(out, b.log[start:start+max])
	if start < b.ncold {
		frozen = make([][]byte, min(max, b.ncold-start))
		for i := range frozen {
			frozen[i] = b.coldLocked(start + i)
		}
	}
	s.cursor += uint64(max)
	b.trim()           // what every subscriber has now read may go, within the retention bounds
	b.cond.Broadcast() // publishers may be waiting on our lag
	return out, frozen, nil
}

// Close detaches the subscription; publishers no longer wait for it.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	delete(b.subs, s)
	s.detached = true
	b.trim()
	b.cond.Broadcast()
	b.mu.Unlock()
}
