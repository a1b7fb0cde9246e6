package corpus

import (
	"runtime"
	"sync"
)

// Readahead. A client's first download of a folder (`UID FETCH 1:*
// BODY.PEEK[]`) asks for its messages one after the other, and each waits
// for its documents to be rendered: one core works, the others idle. When
// Message is asked for the UID after the one it was last asked for in the
// same folder, the documents of the next readaheadMsgs messages are
// rendered into the cache by background workers (GOMAXPROCS-1 of them,
// at least one: the reading goroutine renders too when it catches up with
// them), nearest first, so that they are ready, or under way, when
// their message is asked for. The cache's one-generation-per-document rule
// means a message never renders a document twice: it waits for the worker
// making it. Workers exist only while there is work; the bytes of every
// message are the same with or without readahead.

const (
	readaheadMsgs  = 16 // messages whose documents are made ahead
	readaheadSlots = 64 // folders followed at once (hashed; a collision only loses readahead)
)

type readahead struct {
	mu      sync.Mutex
	slots   [readaheadSlots]raSlot
	queue   []raJob
	workers int
	closed  bool
	idle    sync.Cond // on mu: a worker ended
}

// raSlot follows one folder: the last UID asked for and the highest UID
// whose documents were queued.
type raSlot struct {
	ui          int
	folder      string
	last, ahead uint32
}

type raJob struct {
	ui  int
	fs  folderSpec
	uid uint32
}

// noteRead tells readahead that message uid of folder fs of user ui is
// being generated, and queues the documents of the following messages when
// the folder is read in order.
func (o *Org) noteRead(ui int, fs folderSpec, uid uint32) {
	if o.cfg.NoReadahead {
		return
	}
	ra := &o.ra
	h := uint64(ui)*0x9e3779b97f4a7c15 ^ uint64(key(0).str(fs.Name))
	ra.mu.Lock()
	if ra.closed {
		ra.mu.Unlock()
		return
	}
	s := &ra.slots[h%readaheadSlots]
	if s.ui != ui || s.folder != fs.Name || s.last == 0 || s.last+1 != uid {
		*s = raSlot{ui: ui, folder: fs.Name, last: uid, ahead: uid}
		ra.mu.Unlock()
		return
	}
	s.last = uid
	to := min(uid+readaheadMsgs, fs.Count)
	for u := max(s.ahead, uid) + 1; u <= to; u++ {
		ra.queue = append(ra.queue, raJob{ui, fs, u})
	}
	s.ahead = max(s.ahead, to)
	start := len(ra.queue) > 0 && ra.workers < max(runtime.GOMAXPROCS(0)-1, 1)
	if start {
		ra.workers++
	}
	ra.mu.Unlock()
	if start {
		go o.readaheadWorker()
	}
}

// readaheadWorker renders the queued messages' documents until the queue
// is empty. Errors are left to the message's own generation to report.
func (o *Org) readaheadWorker() {
	ra := &o.ra
	for {
		ra.mu.Lock()
		if len(ra.queue) == 0 {
			ra.queue = nil
			ra.workers--
			if ra.idle.L != nil {
				ra.idle.Broadcast()
			}
			ra.mu.Unlock()
			return
		}
		j := ra.queue[0]
		ra.queue = ra.queue[1:]
		ra.mu.Unlock()
		p := o.plan(j.ui, j.fs, j.uid)
		for i := range p.docs {
			_, _ = o.document(&p.docs[i])
		}
	}
}

// Close ends readahead: queued documents are dropped, and Close returns
// once the ones being rendered are done (they are cached, and written to
// the disk cache, as usual). The Org stays usable, without readahead.
// Servers close their Org when they stop, so that no rendering outlives
// them.
func (o *Org) Close() {
	ra := &o.ra
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ra.closed = true
	ra.queue = nil
	if ra.idle.L == nil {
		ra.idle.L = &ra.mu
	}
	for ra.workers > 0 {
		ra.idle.Wait()
	}
}

// readaheadIdle waits until no readahead worker runs.
func (o *Org) readaheadIdle() {
	ra := &o.ra
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if ra.idle.L == nil {
		ra.idle.L = &ra.mu
	}
	for ra.workers > 0 {
		ra.idle.Wait()
	}
}
