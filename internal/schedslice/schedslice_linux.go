package schedslice

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// attr is struct sched_attr (include/uapi/linux/sched/types.h), version 1.
type attr struct {
	size     uint32
	policy   uint32
	flags    uint64
	nice     int32
	priority uint32
	runtime  uint64
	deadline uint64
	period   uint64
	utilMin  uint32
	utilMax  uint32
}

func getattr(tid int) (attr, error) {
	var a attr
	_, _, e := unix.Syscall6(unix.SYS_SCHED_GETATTR, uintptr(tid), uintptr(unsafe.Pointer(&a)), unsafe.Sizeof(a), 0, 0, 0)
	if e != 0 {
		return a, e
	}
	return a, nil
}

// set gives thread tid the slice d, keeping its policy and nice value
// (only SCHED_OTHER and SCHED_BATCH threads have a slice; others are left
// alone).
func set(tid int, d time.Duration) error {
	a, err := getattr(tid)
	if err != nil {
		return err
	}
	if a.policy != unix.SCHED_NORMAL && a.policy != unix.SCHED_BATCH {
		return nil
	}
	if a.runtime == uint64(d) {
		return nil
	}
	a.size = uint32(unsafe.Sizeof(a))
	a.flags = 0
	a.runtime = uint64(d)
	_, _, e := unix.Syscall(unix.SYS_SCHED_SETATTR, uintptr(tid), uintptr(unsafe.Pointer(&a)), 0)
	if e != 0 {
		return e
	}
	return nil
}

func of(tid int) (time.Duration, error) {
	a, err := getattr(tid)
	return time.Duration(a.runtime), err
}

// threads lists the threads of process pid (0: this process).
func threads(pid int) ([]int, error) {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid) + "/task"
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

func slices(pid int) (map[int]time.Duration, error) {
	tids, err := threads(pid)
	if err != nil {
		return nil, err
	}
	m := make(map[int]time.Duration, len(tids))
	for _, tid := range tids {
		switch d, err := of(tid); err {
		case nil:
			m[tid] = d
		case unix.ESRCH: // ended since the listing
		default:
			return nil, fmt.Errorf("thread %d: %w", tid, err)
		}
	}
	return m, nil
}

// setAll sets d on the threads not in done, and records them; a thread
// that has exited meanwhile is skipped.
func setAll(d time.Duration, done map[int]bool) error {
	tids, err := threads(0)
	if err != nil {
		return err
	}
	live := make(map[int]bool, len(tids))
	for _, tid := range tids {
		live[tid] = true
		if done[tid] {
			continue
		}
		switch err := set(tid, d); err {
		case nil:
			done[tid] = true
		case unix.ESRCH:
		default:
			return fmt.Errorf("thread %d: %w", tid, err)
		}
	}
	for tid := range done {
		if !live[tid] {
			delete(done, tid)
		}
	}
	return nil
}

func start(ctx context.Context, d time.Duration) error {
	if err := supported(); err != nil {
		return err
	}
	done := map[int]bool{}
	if err := setAll(d, done); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(Rescan)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// Errors here are threads gone between the listing and the
				// call, or a sandbox that changed its mind: the threads
				// already set keep their slice either way.
				_ = setAll(d, done)
			}
		}
	}()
	return nil
}

func supported() error {
	errc := make(chan error)
	go func() {
		// Locked and never unlocked: the runtime ends the thread with this
		// goroutine. The slice it had is put back all the same, in case
		// the runtime keeps the thread.
		runtime.LockOSThread()
		tid := unix.Gettid()
		was, err := of(tid)
		if err != nil {
			errc <- fmt.Errorf("%w: sched_getattr: %v", ErrUnsupported, err)
			return
		}
		if err := set(tid, Min); err != nil {
			errc <- fmt.Errorf("%w: sched_setattr: %v", ErrUnsupported, err)
			return
		}
		// A kernel before 6.12 accepts sched_runtime for a fair thread
		// and ignores it: read it back.
		got, _ := of(tid)
		if was != 0 {
			_ = set(tid, was)
		}
		if got != Min {
			errc <- fmt.Errorf("%w: the kernel ignored the request", ErrUnsupported)
			return
		}
		errc <- nil
	}()
	return <-errc
}
