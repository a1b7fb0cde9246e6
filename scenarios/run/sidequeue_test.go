package run

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// The side-by-side queue keeps the order a plain slice would, whichever
// side each insert and removal moves, through growth and emptying.
func TestSideQueueIsASlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		var q sideQueue
		var ref []*waiter
		for op := range 2000 {
			if len(ref) == 0 || rng.IntN(100) < 55 {
				i := rng.IntN(len(ref) + 1)
				w := &waiter{seq: uint64(round*10000 + op)}
				q.insert(i, w)
				ref = slices.Insert(ref, i, w)
			} else {
				// Mostly near the front, as the scheduler starts them.
				i := rng.IntN(min(len(ref), 1+rng.IntN(8)*len(ref)/8))
				q.remove(i)
				ref = slices.Delete(ref, i, i+1)
			}
			require.Equal(t, len(ref), q.len())
			if op%97 == 0 || len(ref) < 4 {
				require.Equal(t, ref, slices.Clone(q.items()), "round %d op %d", round, op)
			}
		}
		require.Equal(t, ref, slices.Clone(q.items()))
		for i := range ref {
			require.Same(t, ref[i], q.at(i))
		}
		// Nothing outside the queue is kept alive.
		for i, w := range q.buf {
			if i < q.lo || i >= q.hi {
				require.Nil(t, w, "slot %d outside [%d,%d)", i, q.lo, q.hi)
			}
		}
		q.reset()
		require.Zero(t, q.len())
	}
}
