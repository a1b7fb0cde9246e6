package imapd

import (
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testPool(t *testing.T, size int, lower bool) *bulkPool {
	t.Helper()
	p := newBulkPool(size, lower, slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		p.close()
		assert.True(t, waitTimeout(&p.ended, 5*time.Second), "every writer ended")
	})
	return p
}

// queued waits until n jobs wait in p's queue.
func queued(t *testing.T, p *bulkPool, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.queue) == n
	}, 5*time.Second, time.Millisecond, "%d jobs queued", n)
}

// Jobs take turns, one step (one message) each: downloads on several
// connections go ahead side by side rather than one after the other.
func TestBulkPoolTurns(t *testing.T) {
	p := testPool(t, 1, false)
	var mu sync.Mutex
	var order []string
	hold := make(chan struct{})
	job := func(name string, steps int, first chan struct{}) func() bool {
		n := 0
		return func() bool {
			if n == 0 && first != nil {
				<-first
			}
			n++
			mu.Lock()
			order = append(order, name+string(rune('0'+n)))
			mu.Unlock()
			return n == steps
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, p.run(job("a", 3, hold), nil)) })
	// a's first step holds the only writer until b and c wait.
	require.Eventually(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.writers) == 1 && len(p.queue) == 0 }, 5*time.Second, time.Millisecond)
	wg.Go(func() { assert.NoError(t, p.run(job("b", 2, nil), nil)) })
	queued(t, p, 1)
	wg.Go(func() { assert.NoError(t, p.run(job("c", 1, nil), nil)) })
	queued(t, p, 2)
	close(hold)
	wg.Wait()
	assert.Equal(t, []string{"a1", "b1", "c1", "a2", "b2", "a3"}, order)
	assert.Equal(t, int64(0), p.extra.Load(), "no writer was stalled")
}

// At most size writers run steps at once, however many jobs there are.
func TestBulkPoolBounded(t *testing.T) {
	p := testPool(t, 2, false)
	var running, most atomic.Int64
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			n := 0
			assert.NoError(t, p.run(func() bool {
				r := running.Add(1)
				for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
				}
				time.Sleep(200 * time.Microsecond)
				running.Add(-1)
				n++
				return n == 20
			}, nil))
		})
	}
	wg.Wait()
	assert.Equal(t, int64(2), most.Load(), "two writers, every one of them used")
	p.mu.Lock()
	assert.Len(t, p.writers, 2)
	p.mu.Unlock()
}

// A writer that waits for a client that does not read lets a waiting job
// go ahead on one more writer; that writer ends once it is not needed.
func TestBulkPoolStall(t *testing.T) {
	p := testPool(t, 1, false)
	var since atomic.Int64
	release := make(chan struct{})
	stuck := make(chan error, 1)
	go func() {
		stuck <- p.run(func() bool {
			since.Store(time.Now().UnixNano()) // waiting for room from now on
			<-release
			since.Store(0)
			return true
		}, since.Load)
	}()
	require.Eventually(t, func() bool { return since.Load() != 0 }, 5*time.Second, time.Millisecond)
	done := make(chan error, 1)
	go func() {
		n := 0
		done <- p.run(func() bool { n++; return n == 3 }, func() int64 { return 0 })
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("a job waited behind a stalled writer")
	}
	assert.Equal(t, int64(1), p.extra.Load(), "one more writer")
	close(release)
	require.NoError(t, <-stuck)
	require.Eventually(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.writers) == 1 }, 5*time.Second, time.Millisecond,
		"the extra writer ended")
}

// A writer that is only slow (its step long, its client not waited for)
// is not stalled: no writer is added for it.
func TestBulkPoolSlowIsNotStalled(t *testing.T) {
	p := testPool(t, 1, false)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			n := 0
			assert.NoError(t, p.run(func() bool { time.Sleep(3 * bulkHold); n++; return n == 3 }, func() int64 { return 0 }))
		})
	}
	wg.Wait()
	assert.Equal(t, int64(0), p.extra.Load())
}

// A step that panics ends its job with an error, not the process; the
// writer goes on with the next job.
func TestBulkPoolPanic(t *testing.T) {
	p := testPool(t, 1, false)
	err := p.run(func() bool { panic("boom") }, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "internal error")
	ran := false
	require.NoError(t, p.run(func() bool { ran = true; return true }, nil))
	assert.True(t, ran)
}

// A closed pool refuses jobs, and its writers end.
func TestBulkPoolClosed(t *testing.T) {
	p := newBulkPool(2, false, slog.New(slog.DiscardHandler))
	require.NoError(t, p.run(func() bool { return true }, nil))
	p.close()
	assert.ErrorIs(t, p.run(func() bool { return true }, nil), errPoolClosed)
	assert.True(t, waitTimeout(&p.ended, 5*time.Second), "writers ended")
}

// On Linux the writers' threads run in SCHED_IDLE, and the goroutine that
// submitted the job keeps its thread's class.
func TestBulkPoolLowered(t *testing.T) {
	if !canLowerThreads {
		t.Skip("no SCHED_IDLE on " + runtime.GOOS)
	}
	const schedIdle = 5
	p := testPool(t, 1, true)
	var policy uint32
	var perr error
	require.NoError(t, p.run(func() bool { policy, perr = threadPolicy(0); return true }, nil))
	require.NoError(t, perr)
	assert.Equal(t, uint32(schedIdle), policy, "the writer's thread")
	assert.Equal(t, int64(1), p.lowered.Load())
	assert.Nil(t, p.lowerErr.Load(), "lowered without error")

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own, err := threadPolicy(0)
	require.NoError(t, err)
	assert.NotEqual(t, uint32(schedIdle), own, "the submitter's thread")

	normal := testPool(t, 1, false)
	require.NoError(t, normal.run(func() bool { policy, perr = threadPolicy(0); return true }, nil))
	require.NoError(t, perr)
	assert.NotEqual(t, uint32(schedIdle), policy, "BulkNormalPriority")
	assert.False(t, normal.lower)
}

// A writer with nothing to do for bulkLinger ends; the next job starts
// another.
func TestBulkPoolLinger(t *testing.T) {
	p := testPool(t, 2, false)
	require.NoError(t, p.run(func() bool { return true }, nil))
	start := time.Now()
	require.Eventually(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.writers) == 0 && p.kept == 0 },
		5*bulkLinger, 10*time.Millisecond, "the idle writer ended")
	assert.GreaterOrEqual(t, time.Since(start), bulkLinger/2)
	require.NoError(t, p.run(func() bool { return true }, nil))
	p.mu.Lock()
	assert.Len(t, p.writers, 1)
	p.mu.Unlock()
}
