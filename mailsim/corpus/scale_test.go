package corpus

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestScale builds 10,000 mailboxes of about 10,000 messages and reads the
// last user's newest mail: nothing but the directory may stay in memory.
func TestScale(t *testing.T) {
	before := heapAlloc()
	start := time.Now()
	o, err := New(Config{Seed: 1, Users: 10_000, MessagesPerUser: 10_000})
	elapsed := time.Since(start)
	require.NoError(t, err)
	// Signed: the collector may free more than New kept (the heap then
	// shrinks). Time is logged, not asserted (BenchmarkNew10k measures it).
	orgBytes := int64(heapAlloc()) - int64(before)
	t.Logf("New: %v, %.1f MiB", elapsed, float64(orgBytes)/(1<<20))
	assert.Less(t, orgBytes, int64(40<<20), "the Org holds the directory only")

	u := o.Users()[9_999]
	require.Equal(t, "person", u.Kind)
	folders := o.Folders(u.Address)
	total := 0
	for _, f := range folders {
		total += int(f.Count)
	}
	assert.InDelta(t, 10_000, total, 10_000*0.5, "about 10,000 messages in %v", folders)

	var fetched int
	for _, f := range folders {
		if f.Count == 0 {
			continue
		}
		var prev time.Time
		for _, uid := range []uint32{1, f.Count / 2, f.Count - 1, f.Count} {
			if uid == 0 {
				continue
			}
			start := time.Now()
			m, err := o.Message(u.Address, f.Name, uid)
			require.NoError(t, err, "%s %d", f.Name, uid)
			t.Logf("%s uid %d: %d bytes, %d attachments, %v", f.Name, uid, len(m.Raw), len(m.Attachments), time.Since(start))
			assert.False(t, m.InternalDate.Before(prev))
			prev = m.InternalDate
			parseMessage(t, m)
			fetched++
		}
	}
	assert.Positive(t, fetched)
	// The inbox's newest messages of the last user.
	inbox := folders[0]
	for uid := inbox.Count - 20; uid <= inbox.Count; uid++ {
		m, err := o.Message(u.Address, "INBOX", uid)
		require.NoError(t, err)
		assert.Equal(t, uid, m.UID)
	}

	docs, cached := o.docs.Len()
	after := heapAlloc()
	t.Logf("after fetching: %.1f MiB of which %d cached attachments %.1f MiB", float64(after-before)/(1<<20), docs, float64(cached)/(1<<20))
	assert.Less(t, after-before, uint64(cached)+uint64(60<<20), "memory is the directory plus the attachment cache")
	runtime.KeepAlive(o)
}

func TestCacheIsBounded(t *testing.T) {
	o, err := New(Config{Seed: 1, CacheBytes: 2 << 20, MaxAttachmentSize: 512 << 10})
	require.NoError(t, err)
	u := o.Users()[2].Address
	for uid := uint32(1); uid <= o.Folders(u)[0].Count; uid++ {
		_, err := o.Message(u, "INBOX", uid)
		require.NoError(t, err)
		_, cached := o.docs.Len()
		require.LessOrEqual(t, cached, int64(2<<20))
	}
}

func BenchmarkNew10k(b *testing.B) {
	for b.Loop() {
		if _, err := New(Config{Users: 10_000, MessagesPerUser: 10_000}); err != nil {
			b.Fatal(err)
		}
	}
}

type msgRef struct {
	addr, folder string
	uid          uint32
}

// benchRefs picks messages of the default organisation with or without
// attachments and warms the attachment cache.
func benchRefs(b *testing.B, o *Org, withAttachments bool) []msgRef {
	b.Helper()
	var refs []msgRef
	var size int
	for _, u := range o.Users()[:10] {
		for _, f := range o.Folders(u.Address) {
			for uid := uint32(1); uid <= f.Count && len(refs) < 300; uid++ {
				m, err := o.Message(u.Address, f.Name, uid)
				if err != nil {
					b.Fatal(err)
				}
				if (len(m.Attachments) > 0) == withAttachments {
					refs = append(refs, msgRef{u.Address, f.Name, uid})
					size += len(m.Raw)
				}
			}
		}
	}
	b.SetBytes(int64(size / len(refs)))
	b.ReportMetric(float64(size/len(refs))/1024, "KiB/msg")
	return refs
}

func benchmarkMessage(b *testing.B, withAttachments bool) {
	o, err := New(Config{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	refs := benchRefs(b, o, withAttachments)
	i := 0
	b.ResetTimer()
	for b.Loop() {
		r := refs[i%len(refs)]
		i++
		if _, err := o.Message(r.addr, r.folder, r.uid); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessageAttachmentsCached: messages with attachments, whose
// encoded attachments are in the cache.
func BenchmarkMessageAttachmentsCached(b *testing.B) { benchmarkMessage(b, true) }

func BenchmarkMessageNoAttachments(b *testing.B) { benchmarkMessage(b, false) }

func BenchmarkMessageParallel(b *testing.B) {
	o, err := New(Config{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	refs := benchRefs(b, o, true)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := refs[i%len(refs)]
			i++
			if _, err := o.Message(r.addr, r.folder, r.uid); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestPrewarm(t *testing.T) {
	o, err := New(Config{Seed: 4, MaxAttachmentSize: 8 << 10})
	require.NoError(t, err)
	require.NoError(t, o.Prewarm(t.Context(), 2))
	n, _ := o.docs.Len()
	assert.Equal(t, len(docTypes)*docVariants, n)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	o2, err := New(Config{Seed: 4, MaxAttachmentSize: 8 << 10})
	require.NoError(t, err)
	assert.ErrorIs(t, o2.Prewarm(ctx, 1), context.Canceled)
}

// The attachment cache is sized from the organisation: its whole pool when
// that is small (and then the pool fits: nothing is evicted), capped by
// DefaultCacheBytes, or by DefaultDiskBackedCacheBytes when the pool is
// kept on disk (more for a large organisation, up to
// MaxDiskBackedCacheBytes); an explicit CacheBytes wins.
func TestCacheSizedFromThePool(t *testing.T) {
	small, err := New(Config{Seed: 4, MaxAttachmentSize: 64 << 10})
	require.NoError(t, err)
	full, err := New(Config{Seed: 4})
	require.NoError(t, err)
	assert.Less(t, small.PoolBytes(), full.PoolBytes()/10, "a lower size cap plans a smaller pool")
	assert.Greater(t, full.PoolBytes(), int64(DefaultCacheBytes), "the default pool is larger than the cap")

	assert.Equal(t, small.PoolBytes(), small.CacheStats().Limit, "a small pool is held whole")
	assert.EqualValues(t, DefaultCacheBytes, full.CacheStats().Limit)
	disk, err := New(Config{Seed: 4, CacheDir: t.TempDir()})
	require.NoError(t, err)
	assert.EqualValues(t, DefaultDiskBackedCacheBytes, disk.CacheStats().Limit)
	for users, want := range map[int]int64{1000: DefaultDiskBackedCacheBytes, 1024: DefaultDiskBackedCacheBytes, 1500: 1500 * DiskBackedCachePerUser, 2000: 2000 * DiskBackedCachePerUser, 5000: MaxDiskBackedCacheBytes} {
		large, err := New(Config{Seed: 4, Users: users, MessagesPerUser: 1, CacheDir: t.TempDir()})
		require.NoError(t, err)
		assert.EqualValues(t, want, large.CacheStats().Limit, "%d users", users)
	}
	given, err := New(Config{Seed: 4, CacheBytes: 5 << 20})
	require.NoError(t, err)
	assert.EqualValues(t, 5<<20, given.CacheStats().Limit)

	// The plan is an upper bound of what the pool turns out to be.
	require.NoError(t, small.Prewarm(t.Context(), 2))
	st := small.CacheStats()
	assert.Equal(t, len(docTypes)*docVariants, st.Docs, "the whole pool is kept")
	assert.LessOrEqual(t, st.Bytes, small.PoolBytes())
	assert.Greater(t, st.Bytes, small.PoolBytes()/2, "and the plan is not far above it")
	assert.EqualValues(t, st.Docs, st.Rendered)
}
