//go:build linux

package schedslice

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestCheck(t *testing.T) {
	for _, d := range []time.Duration{0, 99 * time.Microsecond, Max + 1, -time.Millisecond} {
		assert.Error(t, Check(d), d)
		assert.Error(t, Start(context.Background(), d), d)
	}
	for _, d := range []time.Duration{Min, time.Millisecond, Max} {
		assert.NoError(t, Check(d), d)
	}
}

// Every thread has the slice soon after Start returns, and so does a thread the
// runtime starts afterwards (a thread cloned from one with a slice has it
// from the start on Linux 6.18; one started from the runtime's template
// thread gets it at the next rescan).
func TestStart(t *testing.T) {
	const d = 300 * time.Microsecond
	ctx, cancel := context.WithCancel(context.Background())
	err := Start(ctx, d)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("%v (kernel %s)", err, uname())
	}
	require.NoError(t, err)
	// Every thread has the slice (a thread the runtime started while
	// Start listed them gets it at the next rescan).
	_, err = WaitAll(0, d, 20*Rescan)
	require.NoError(t, err)

	// A goroutine locked to its thread holds it; others that block in a
	// system call make the runtime start new threads.
	newThread := func() (tid int, release func()) {
		ch := make(chan int)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // the thread ends with the goroutine
			ch <- unix.Gettid()
			<-stop
		}()
		return <-ch, func() { close(stop); wg.Wait() }
	}
	var held []func()
	defer func() {
		for _, r := range held {
			r()
		}
	}()
	fresh := func() int {
		known := map[int]bool{}
		all, _ := threads(0)
		for _, tid := range all {
			known[tid] = true
		}
		for range 64 {
			tid, release := newThread()
			held = append(held, release)
			if !known[tid] {
				return tid
			}
		}
		t.Fatal("no new thread after 64 locked goroutines")
		return 0
	}
	tid := fresh()
	deadline := time.Now().Add(20 * Rescan)
	for {
		got, err := of(tid)
		require.NoError(t, err)
		if got == d {
			break
		}
		require.True(t, time.Now().Before(deadline), "a new thread kept %v after %v", got, 20*Rescan)
		time.Sleep(Rescan / 5)
	}

	cancel()
}

func uname() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// setAll sets the slice on threads it has not set yet, and only those.
func TestSetAll(t *testing.T) {
	if _, err := of(0); err != nil {
		t.Skip(err)
	}
	ch := make(chan int)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		runtime.LockOSThread()
		ch <- unix.Gettid()
		<-stop
	}()
	tid := <-ch
	if err := set(tid, 2*time.Millisecond); err != nil {
		t.Skip(err)
	}
	if got, _ := of(tid); got != 2*time.Millisecond {
		t.Skipf("the kernel keeps %v: %v", got, ErrUnsupported)
	}
	done := map[int]bool{tid: true}
	require.NoError(t, setAll(time.Millisecond, done))
	got, err := of(tid)
	require.NoError(t, err)
	assert.Equal(t, 2*time.Millisecond, got, "a thread already done is left alone")
	delete(done, tid)
	require.NoError(t, setAll(time.Millisecond, done))
	got, err = of(tid)
	require.NoError(t, err)
	assert.Equal(t, time.Millisecond, got)
	assert.True(t, done[tid])
}

// Supported changes no thread that lives on.
func TestSupported(t *testing.T) {
	before, err := Slices(0)
	require.NoError(t, err)
	if err := Supported(); err != nil {
		require.ErrorIs(t, err, ErrUnsupported)
		t.Skip(err)
	}
	after, err := Slices(0)
	require.NoError(t, err)
	for tid, d := range after {
		if was, ok := before[tid]; ok {
			assert.Equal(t, was, d, "thread %d", tid)
		}
	}
}
