package audit

import "fmt"

// Events kept only for subscribers that may join late (BusOptions.Retain)
// are frozen: held encoded (codec.go), back to back in chunks of bytes, rather
// than as Event structs. An Event holds dozens of strings, and the
// garbage collector scans every pointer of every retained struct in each
// cycle: with the default bound (64 MB of events) that was most of serve's
// marking work during bulk downloads (docs/performance.md, "Retained
// events frozen"), while frozen bytes hold no pointers and are not
// scanned. Events a current subscriber has not read stay as structs; a
// late subscriber that reads frozen events gets them decoded, equal to
// what was published (the same fields, the same JSON).
//
// Freezing (freeze) is done by the subscriber whose read made a batch
// freezable, or with no subscriber by the publisher that found one
// waiting, a batch at a time: the events are encoded with the bus
// unlocked, then swapped in under the lock, so that no other publisher or
// subscriber waits for the encoding.

// freezeOff turns freezing off (BenchmarkBusRetaining compares).
var freezeOff = false

const (
	// freezeBatch is how many freezable events it takes before they are
	// frozen, and the most frozen at a time.
	freezeBatch = 256
	// freezeChunk is the size of the chunks frozen events are written to.
	freezeChunk = 256 << 10
)

// coldRef places a frozen event: in chunk (counted since the bus began)
// at bytes [off, end).
type coldRef struct {
	chunk    uint64
	off, end uint32
}

// freezeEvent appends e's frozen form to dst: its fields in order, each
// as codec.go's eventCodec writes it.
func freezeEvent(dst []byte, e *Event) ([]byte, error) {
	return eventCodec.encode(dst, e)
}

// thawEvent decodes a frozen event.
func thawEvent(b []byte) (*Event, error) {
	e := new(Event)
	if err := eventCodec.decode(b, e); err != nil {
		return nil, fmt.Errorf("audit: a retained event does not decode: %w", err)
	}
	return e, nil
}

// freezableLocked is the range of log indexes [from, to) that may be
// frozen: after those frozen already, up to the first event a current
// subscriber has not read.
func (b *Bus) freezableLocked() (from, to int) {
	if b.opts.Retain == 0 || freezeOff {
		return 0, 0 // nothing is kept for late subscribers
	}
	read := b.last()
	for s := range b.subs {
		read = min(read, s.cursor)
	}
	if read <= b.base {
		return b.ncold, b.ncold
	}
	return b.ncold, max(b.ncold, int(read-b.base))
}

// freeze freezes what may be frozen, a batch at a time, once a batch is
// waiting; it returns at once when another goroutine is freezing. Called
// with b.mu not held.
func (b *Bus) freeze() {
	if !b.freezing.TryLock() {
		return
	}
	defer b.freezing.Unlock()
	evs, enc, ends := b.frz.evs, b.frz.enc, b.frz.ends
	defer func() {
		clear(evs)
		b.frz.evs, b.frz.enc, b.frz.ends = evs[:0], enc[:0], ends[:0]
	}()
	for {
		b.mu.Lock()
		from, to := b.freezableLocked()
		if to-from < freezeBatch {
			b.mu.Unlock()
			return
		}
		to = from + freezeBatch
		first := b.base + uint64(from) + 1 // sequence of evs[0]
		evs = append(evs[:0], b.log[from:to]...)
		b.mu.Unlock()

		enc, ends = enc[:0], ends[:0]
		for _, e := range evs {
			var err error
			if enc, err = freezeEvent(enc, e); err != nil {
				// Not expected (every field encodes); the event stays a
				// struct, and so do those after it.
				b.freezeErr.CompareAndSwap(nil, &err)
				return
			}
			ends = append(ends, uint32(len(enc)))
		}

		b.mu.Lock()
		b.installLocked(first, enc, ends)
		b.mu.Unlock()
	}
}

// installLocked puts the frozen events, sequences first onwards, in place
// of their structs. Those trim dropped meanwhile are skipped; the rest are
// still at the front of the unfrozen events (only this bus's freeze, one
// at a time, moves that front).
func (b *Bus) installLocked(first uint64, enc []byte, ends []uint32) {
	skip := 0
	if next := b.base + uint64(b.ncold) + 1; next > first {
		skip = int(min(next-first, uint64(len(ends))))
	}
	var start uint32
	if skip > 0 {
		start = ends[skip-1]
	}
	for k := skip; k < len(ends); k++ {
		end := ends[k]
		n := end - start
		if len(b.chunks) == 0 || len(b.chunks[len(b.chunks)-1])+int(n) > cap(b.chunks[len(b.chunks)-1]) {
			b.chunks = append(b.chunks, make([]byte, 0, max(freezeChunk, int(n))))
		}
		ci := len(b.chunks) - 1
		c := b.chunks[ci]
		off := uint32(len(c))
		b.chunks[ci] = append(c, enc[start:end]...)
		b.refs = append(b.refs, coldRef{chunk: b.chunk0 + uint64(ci), off: off, end: off + n})
		i := b.ncold
		b.log[i] = nil
		b.bytes += int64(n) - int64(b.sizes[i])
		b.sizes[i] = int32(n)
		b.ncold++
		start = end
	}
}

// dropColdLocked forgets the first n frozen events (trim), and the chunks
// that held only them.
func (b *Bus) dropColdLocked(n int) {
	if n <= 0 {
		return
	}
	b.refs = b.refs[n:] // forward over the array, as trim does with log
	b.ncold -= n
	if len(b.chunks) == 0 {
		return
	}
	keepFrom := b.chunk0 + uint64(len(b.chunks)) - 1 // the chunk being filled stays
	if len(b.refs) > 0 {
		keepFrom = b.refs[0].chunk
	}
	if d := int(keepFrom - b.chunk0); d > 0 {
		clear(b.chunks[:d])
		b.chunks = b.chunks[d:]
		b.chunk0 = keepFrom
	}
}

// coldLocked returns the bytes of frozen event i (log index), which stay
// valid once b.mu is released: chunks are only appended to and dropped.
func (b *Bus) coldLocked(i int) []byte {
	r := b.refs[i]
	return b.chunks[r.chunk-b.chunk0][r.off:r.end:r.end]
}
