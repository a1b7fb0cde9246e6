package imapd

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The server's bulk writers write message bodies (FETCH of BODY[...] or
// BINARY[...]) on behalf of every session, one message at a time: a
// session's bulk FETCH becomes a job, and the writers take the waiting
// jobs in turn, one message each, so that downloads on several
// connections go ahead side by side. A FETCH of flags or other metadata
// never goes through them.
//
// Why a pool rather than each session writing its own bodies:
//
//   - Bounded: Config.BulkWriters sessions write bodies at once, so that Ps
//     stay free to notice other clients' commands (with every P busy, Go
//     notices ready connections only through sysmon, every 10 ms:
//     golang/go#51651).
//   - Low priority without privilege: on Linux each writer runs on a thread
//     of its own that it puts in the SCHED_IDLE class for good
//     (Config.BulkNormalPriority keeps the normal class). A thread woken by
//     a command then preempts a writer at once, and the kernel counts a core
//     that runs only writers as idle when it places the thread, so a small
//     request on another connection no longer queues behind bulk downloads
//     for milliseconds. An unprivileged thread cannot leave SCHED_IDLE,
//     which is why the threads are the writers' own and end with them.
//   - Few wake-ups: a writer's thread that finds the client's socket full
//     waits for room in the kernel (blockingWrite), instead of parking its
//     goroutine on the network poller, which would take two more threads'
//     wake-ups to resume it.
//
// A client that reads slowly must not hold the others up: a writer that
// has waited bulkHold or longer for room in its client's socket counts as
// stalled, and while jobs wait and fewer than Config.BulkWriters writers
// are not stalled, one more writer starts (one more per bulkHold, never
// all at once); an extra writer ends once it is not needed. A writer that
// is merely slow (its thread not run, at idle priority, because the
// cores are busy) is not stalled: one more writer would not run either.

// DefaultBulkWriters is Config.BulkWriters's default: GOMAXPROCS−1, at
// least 1.
func DefaultBulkWriters() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// bulkLinger is how long a writer with nothing to do waits for a job
// before it ends, and its thread with it.
const bulkLinger = time.Second

// bulkHold is how long a writer may wait for its client before a waiting
// job gets a writer of its own.
const bulkHold = 2 * time.Millisecond

// errPoolClosed is the error of a job submitted to a pool that has
// stopped: the server is shutting down.
var errPoolClosed = errors.New("imapd: server shutting down")

// bulkJob is one session's bulk FETCH: step writes the next message and
// tells whether the job is over.
type bulkJob struct {
	step func() bool
	// waiting tells since when (UnixNano) the step in progress has been
	// waiting for its client to make room; 0: it is not.
	waiting func() int64
	err     error // a step that panicked
	done    chan struct{}
}

// bulkWriter is one of the pool's goroutines.
type bulkWriter struct {
	job  atomic.Pointer[bulkJob] // its current step's job; nil between steps
	wake chan struct{}           // a job waits (or the pool closed): buffered, 1
}

// stalled tells whether w has waited for its client since now−bulkHold or
// longer.
func (w *bulkWriter) stalled(now int64) bool {
	j := w.job.Load()
	if j == nil || j.waiting == nil {
		return false
	}
	s := j.waiting()
	return s != 0 && now-s >= int64(bulkHold)
}

type bulkPool struct {
	size  int  // writers kept
	lower bool // put the writers' threads in SCHED_IDLE
	log   *slog.Logger

	mu      sync.Mutex
	queue   []*bulkJob // in turn order
	writers map[*bulkWriter]bool
	idle    []*bulkWriter // writers waiting for a job, the latest last
	kept    int           // writers that wait for jobs rather than end
	armed   bool          // a stall check is due
	closed  bool

	lowered  atomic.Int64 // threads put in SCHED_IDLE
	extra    atomic.Int64 // writers started past size (stalls)
	ended    sync.WaitGroup
	lowerErr atomic.Pointer[error] // why a thread could not be lowered
}

func newBulkPool(size int, lower bool, log *slog.Logger) *bulkPool {
	return &bulkPool{size: max(1, size), lower: lower && canLowerThreads, log: log, writers: map[*bulkWriter]bool{}}
}

// run submits a job and waits until it is over. Its steps run on the
// pool's writers, one message at a time, in turn with the other jobs.
func (p *bulkPool) run(step func() bool, waiting func() int64) error {
	j := &bulkJob{step: step, waiting: waiting, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errPoolClosed
	}
	p.queue = append(p.queue, j)
	switch {
	case len(p.idle) > 0:
		w := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		w.wake <- struct{}{}
	case p.kept < p.size:
		p.kept++
		p.startLocked(true)
	default:
		p.armLocked()
	}
	p.mu.Unlock()
	<-j.done
	return j.err
}

// startLocked starts a writer; a kept one waits for jobs when there are
// none, an extra one ends.
func (p *bulkPool) startLocked(kept bool) {
	w := &bulkWriter{wake: make(chan struct{}, 1)}
	p.writers[w] = true
	p.ended.Add(1)
	go p.work(w, kept)
}

// armLocked schedules a stall check after bulkHold, unless one is due.
func (p *bulkPool) armLocked() {
	if p.armed {
		return
	}
	p.armed = true
	time.AfterFunc(bulkHold, p.checkStall)
}

// checkStall starts one more writer when jobs wait and fewer than size
// writers are not stalled; it checks again after bulkHold while jobs
// wait.
func (p *bulkPool) checkStall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	if p.closed || len(p.queue) == 0 || len(p.idle) > 0 {
		return
	}
	if p.activeLocked(nil) < p.size {
		p.extra.Add(1)
		p.startLocked(false)
	}
	p.armLocked()
}

// activeLocked counts the writers other than self that are not stalled.
func (p *bulkPool) activeLocked(self *bulkWriter) int {
	now := time.Now().UnixNano()
	n := 0
	for w := range p.writers {
		if w != self && !w.stalled(now) {
			n++
		}
	}
	return n
}

func (p *bulkPool) work(w *bulkWriter, kept bool) {
	defer p.ended.Done()
	if p.lower {
		// Never unlocked: a thread in SCHED_IDLE must not go back to the
		// runtime's pool of threads, and an unprivileged thread cannot
		// leave that class. It ends when this goroutine does.
		runtime.LockOSThread()
		if err := lowerThread(); err != nil {
			if p.lowerErr.CompareAndSwap(nil, &err) {
				p.log.Warn("bulk writers stay in the normal scheduling class", "err", err)
			}
		} else {
			p.lowered.Add(1)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for len(p.queue) == 0 || (!kept && p.activeLocked(w) >= p.size) {
			if p.closed || !kept || !p.idleLocked(w) {
				delete(p.writers, w)
				if kept {
					p.kept--
				}
				return
			}
		}
		j := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		w.job.Store(j)
		p.mu.Unlock()
		over := p.step(j)
		w.job.Store(nil)
		p.mu.Lock()
		if over {
			close(j.done)
		} else {
			p.queue = append(p.queue, j)
		}
	}
}

// idleLocked waits up to bulkLinger for a job; it tells whether the
// writer should look for one (false: it has waited in vain and ends).
// p.mu is held on entry and on return.
func (p *bulkPool) idleLocked(w *bulkWriter) bool {
	p.idle = append(p.idle, w)
	p.mu.Unlock()
	t := time.NewTimer(bulkLinger)
	select {
	case <-w.wake:
	case <-t.C:
	}
	t.Stop()
	p.mu.Lock()
	if i := slices.Index(p.idle, w); i >= 0 {
		// Not woken: nobody has handed it a job.
		p.idle = slices.Delete(p.idle, i, i+1)
		return len(p.queue) > 0
	}
	select { // woken as the timer fired: the wake-up is spent
	case <-w.wake:
	default:
	}
	return true
}

// step runs one step of j; a step that panics ends its job with an
// error rather than the process.
func (p *bulkPool) step(j *bulkJob) (over bool) {
	defer func() {
		if v := recover(); v != nil {
			buf := make([]byte, 8<<10)
			buf = buf[:runtime.Stack(buf, false)]
			p.log.Error("bulk writer: panic", "panic", fmt.Sprint(v), "stack", string(buf))
			j.err = fmt.Errorf("imapd: internal error writing a message")
			over = true
		}
	}()
	return j.step()
}

// close stops the pool once its jobs are over: writers waiting for jobs
// end, and a job submitted afterwards fails with errPoolClosed.
func (p *bulkPool) close() {
	p.mu.Lock()
	p.closed = true
	for _, w := range p.idle {
		w.wake <- struct{}{}
	}
	p.idle = nil
	p.mu.Unlock()
}

// kernelWriteState is what a write waiting in the kernel for room
// (kernelWrite) shares with the rest of the connection.
type kernelWriteState struct {
	closed   atomic.Bool  // the connection was closed: give up
	deadline atomic.Int64 // the write deadline, UnixNano; 0: none
	polling  atomic.Int64 // since when (UnixNano) it has waited for room; 0: it is not waiting
}
