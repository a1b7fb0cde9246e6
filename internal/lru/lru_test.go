package lru

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCountBound(t *testing.T) {
	c := New[int, string](3, 0, nil)
	loads := 0
	get := func(k int) string {
		v, err := c.Get(k, func() (string, error) { loads++; return fmt.Sprint(k), nil })
		require.NoError(t, err)
		return v
	}
	for k := 1; k <= 3; k++ {
		assert.Equal(t, fmt.Sprint(k), get(k))
	}
	get(1) // 1 is now the most recently used; 2 the least
	get(4) // evicts 2
	n, _ := c.Len()
	assert.Equal(t, 3, n)
	loads = 0
	get(1)
	get(3)
	get(4)
	assert.Zero(t, loads, "1, 3 and 4 are kept")
	get(2)
	assert.Equal(t, 1, loads, "2 was evicted and is loaded again")
}

func TestByteBound(t *testing.T) {
	c := New[string, []byte](0, 10, func(b []byte) int64 { return int64(len(b)) })
	load := func(n int) func() ([]byte, error) {
		return func() ([]byte, error) { return make([]byte, n), nil }
	}
	_, _ = c.Get("a", load(4))
	_, _ = c.Get("b", load(4))
	n, b := c.Len()
	assert.Equal(t, 2, n)
	assert.EqualValues(t, 8, b)
	_, _ = c.Get("c", load(4)) // 12 > 10: a goes
	n, b = c.Len()
	assert.Equal(t, 2, n)
	assert.EqualValues(t, 8, b)
	v, err := c.Get("huge", load(11))
	require.NoError(t, err)
	assert.Len(t, v, 11, "a value over the bound is returned")
	n, b = c.Len()
	assert.Equal(t, 2, n, "but not kept, and it evicts nothing")
	assert.EqualValues(t, 8, b)
}

func TestLoadOnceAndErrorsNotKept(t *testing.T) {
	c := New[string, int](10, 0, nil)
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Get("k", func() (int, error) { calls.Add(1); <-release; return 7, nil })
			assert.NoError(t, err)
			assert.Equal(t, 7, v)
		}()
	}
	// Every caller either waits on the one load or finds its value.
	for {
		c.mu.Lock()
		_, loading := c.inflight["k"]
		c.mu.Unlock()
		if loading {
			break
		}
	}
	close(release)
	wg.Wait()
	assert.EqualValues(t, 1, calls.Load(), "one load for concurrent callers")

	boom := errors.New("boom")
	_, err := c.Get("bad", func() (int, error) { return 0, boom })
	assert.ErrorIs(t, err, boom)
	v, err := c.Get("bad", func() (int, error) { return 3, nil })
	require.NoError(t, err)
	assert.Equal(t, 3, v, "a failed load is not kept")
}

// TryGet loads a value nobody is loading, returns a held one, and does not
// wait for a load another caller started.
func TestTryGetDoesNotWait(t *testing.T) {
	c := New[string, int](10, 0, nil)
	v, ok, err := c.TryGet("a", func() (int, error) { return 1, nil })
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 1, v, "loaded")
	v, ok, _ = c.TryGet("a", func() (int, error) { return 2, nil })
	assert.True(t, ok)
	assert.Equal(t, 1, v, "held")

	release, started := make(chan struct{}), make(chan struct{})
	done := make(chan int)
	go func() {
		v, _ := c.Get("b", func() (int, error) { close(started); <-release; return 5, nil })
		done <- v
	}()
	<-started
	_, ok, err = c.TryGet("b", func() (int, error) { t.Error("a second load of b"); return 6, nil })
	require.NoError(t, err)
	assert.False(t, ok, "b is being loaded: not waited for")
	close(release)
	assert.Equal(t, 5, <-done)
	v, ok, _ = c.TryGet("b", func() (int, error) { return 6, nil })
	assert.True(t, ok)
	assert.Equal(t, 5, v, "the load's value, held once it ended")

	boom := errors.New("boom")
	_, ok, err = c.TryGet("bad", func() (int, error) { return 0, boom })
	assert.True(t, ok)
	assert.ErrorIs(t, err, boom)
}

// A load that panics does not leave the key loading for ever: a caller
// waiting for it gets an error, and the next Get loads again.
func TestPanickingLoadReleasesWaiters(t *testing.T) {
	c := New[string, int](10, 0, nil)
	started, release := make(chan struct{}), make(chan struct{})
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		_, _ = c.Get("k", func() (int, error) {
			close(started)
			<-release
			panic("render failed")
		})
	}()
	<-started
	waited := make(chan error, 1)
	go func() {
		_, err := c.Get("k", func() (int, error) { return 0, errors.New("second load while the first runs") })
		waited <- err
	}()
	_, ok, _ := c.TryGet("k", func() (int, error) { return 0, nil })
	require.False(t, ok, "the first load is in flight")
	close(release)
	require.Equal(t, "render failed", <-panicked, "the panic goes on up to the loading caller")
	err := <-waited
	// The waiter either waited for the panicked load (its error) or came
	// after it and loaded itself (its own error): never a hang.
	require.Error(t, err)
	v, err := c.Get("k", func() (int, error) { return 7, nil })
	require.NoError(t, err)
	assert.Equal(t, 7, v, "the key loads again after the panic")
}
