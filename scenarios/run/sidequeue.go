package run

// sideQueue is the side-by-side scheduler's queue of waiting actions in
// scenario order: a slice with room at both ends, so that inserting or
// removing an action moves the shorter side. Actions leave near the front
// (the earliest start first) and arrive anywhere; with thousands of staff
// waiting, moving the whole tail at each start was a measurable share of
// the run.
type sideQueue struct {
	buf    []*waiter
	lo, hi int // the queue is buf[lo:hi]
}

func (q *sideQueue) len() int         { return q.hi - q.lo }
func (q *sideQueue) at(i int) *waiter { return q.buf[q.lo+i] }
func (q *sideQueue) items() []*waiter { return q.buf[q.lo:q.hi] }

// insert puts w at position i (0 ≤ i ≤ len).
func (q *sideQueue) insert(i int, w *waiter) {
	n := q.len()
	switch {
	case i < n/2 && q.lo > 0:
		copy(q.buf[q.lo-1:], q.buf[q.lo:q.lo+i])
		q.lo--
	case q.hi < len(q.buf):
		copy(q.buf[q.lo+i+1:q.hi+1], q.buf[q.lo+i:q.hi])
		q.hi++
	case q.lo > 0:
		copy(q.buf[q.lo-1:], q.buf[q.lo:q.lo+i])
		q.lo--
	default:
		// Full: centre the items in a buffer twice as large.
		nb := make([]*waiter, 2*n+16)
		lo := (len(nb) - n - 1) / 2
		copy(nb[lo:], q.buf[q.lo:q.lo+i])
		copy(nb[lo+i+1:], q.buf[q.lo+i:q.hi])
		q.buf, q.lo, q.hi = nb, lo, lo+n+1
	}
	q.buf[q.lo+i] = w
}

// remove takes out the action at position i (0 ≤ i < len).
func (q *sideQueue) remove(i int) {
	if i < q.len()/2 {
		copy(q.buf[q.lo+1:q.lo+i+1], q.buf[q.lo:q.lo+i])
		q.buf[q.lo] = nil
		q.lo++
		return
	}
	copy(q.buf[q.lo+i:], q.buf[q.lo+i+1:q.hi])
	q.hi--
	q.buf[q.hi] = nil
}

// reset empties the queue.
func (q *sideQueue) reset() { *q = sideQueue{} }
