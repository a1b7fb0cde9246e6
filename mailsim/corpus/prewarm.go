package corpus

import (
	"context"
	"sync"
)

// Prewarm generates every document of the attachment pool into the cache,
// with up to workers goroutines (at least 1), so that later messages are
// assembled without generating anything. The whole pool takes tens of
// seconds of CPU and about 500 MiB: the cache keeps what its bound allows
// (Config.CacheBytes; by default at most 256 MiB), so set CacheBytes to
// PoolBytes() to keep it all. It stops early when ctx is
// done and returns ctx's error then.
func (o *Org) Prewarm(ctx context.Context, workers int) error {
	workers = max(workers, 1)
	jobs := make(chan docMeta)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range jobs {
				if _, err := o.document(&m); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	// Largest documents first: when the cache cannot hold everything, the
	// least recently made (the large ones) are the ones it drops.
	var metas []docMeta
	for t := range docTypes {
		for v := 0; v < docVariants; v++ {
			metas = append(metas, o.docMeta(t, v))
		}
	}
	sortBySize(metas)
loop:
	for _, m := range metas {
		select {
		case jobs <- m:
		case <-ctx.Done():
			break loop
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return firstErr
}

// sortBySize orders ms by decreasing planned size.
func sortBySize(ms []docMeta) {
	// insertion sort is enough for the pool's few hundred entries
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].Target > ms[j-1].Target; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}
