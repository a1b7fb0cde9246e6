// Package schedslice asks the kernel for a short scheduling slice on every
// thread of the process, so that a thread the kernel wakes runs soon.
//
// Linux's fair scheduler (EEVDF, since 6.6) gives each runnable thread a
// virtual deadline one slice after it becomes eligible, and runs the
// earliest; since 6.12 a thread may ask for its own slice, from 0.1 ms to
// 100 ms (sched_setattr(2), sched_runtime), unprivileged. The slice sets
// how soon a thread runs once woken, not how much CPU it gets: the shares
// stay fair. A Go server's threads are interchangeable (any of them may
// run the goroutine that answers a command), so the slice is set on all of
// them, and again on threads the runtime starts later.
//
// On other systems, and on kernels that ignore the setting, Start says so
// and does nothing.
package schedslice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Min and Max bound the slice the kernel accepts.
const (
	Min = 100 * time.Microsecond
	Max = 100 * time.Millisecond
)

// Rescan is how often Start looks for threads the runtime has started.
const Rescan = 250 * time.Millisecond

// ErrUnsupported is Start's error where threads cannot ask for a slice:
// not Linux, or a kernel older than 6.12 (it accepts the request and
// ignores it).
var ErrUnsupported = errors.New("per-thread scheduling slices are not supported here (Linux 6.12 or later)")

// Check reports whether d is a slice the kernel accepts.
func Check(d time.Duration) error {
	if d < Min || d > Max {
		return fmt.Errorf("%v: want from %v to %v", d, Min, Max)
	}
	return nil
}

// Start sets the slice d on every thread of the process, and on threads
// started later (looked for every Rescan) until ctx ends. It returns an
// error, having changed nothing, if d is out of range or the system does
// not support it (ErrUnsupported); if a thread refuses (a sandbox that
// allows the trial but not the rest), the error names it, and the threads
// set before it keep the slice.
func Start(ctx context.Context, d time.Duration) error {
	if err := Check(d); err != nil {
		return err
	}
	return start(ctx, d)
}

// Supported returns nil where threads can ask for a slice, else an error
// wrapping ErrUnsupported. It tries on a thread of its own, which then
// ends: no thread of the process keeps the trial's slice.
func Supported() error { return supported() }

// Slices returns the slice of every thread of process pid (0: this
// process), by thread id.
func Slices(pid int) (map[int]time.Duration, error) { return slices(pid) }

// WaitAll waits, up to within, until every thread of process pid (0: this
// process) has the slice d, as threads the runtime starts while Start
// sets the others get it at the next rescan. It returns how many threads
// it saw last, and an error naming those without d when within has passed.
func WaitAll(pid int, d, within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for {
		all, err := Slices(pid)
		if err != nil {
			return 0, err
		}
		var wrong []string
		for tid, got := range all {
			if got != d {
				wrong = append(wrong, fmt.Sprintf("thread %d: %v", tid, got))
			}
		}
		if len(wrong) == 0 {
			return len(all), nil
		}
		if time.Now().After(deadline) {
			return len(all), fmt.Errorf("after %v, want %v: %s", within, d, strings.Join(wrong, ", "))
		}
		time.Sleep(Rescan / 5)
	}
}

// Of returns the slice the kernel uses for thread tid (0: the calling
// thread).
func Of(tid int) (time.Duration, error) { return of(tid) }
