package main

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maildrill collects at GOGC=50 unless the environment says otherwise.
func TestSetGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	assert.Equal(t, defaultGCPercent, setGC(func(string) string { return "" }))
	assert.Equal(t, defaultGCPercent, debug.SetGCPercent(77), "applied")
	// GOGC set: the runtime already read it; setGC leaves it alone.
	assert.Equal(t, 77, setGC(func(k string) string {
		if k == "GOGC" {
			return "77"
		}
		return ""
	}))
	assert.Equal(t, 77, debug.SetGCPercent(old))
}

// Unless GOGC or GOMEMLIMIT is set, the first collection waits for
// firstGCHeap; after it, the percent and the limit are those before.
func TestHoldFirstGC(t *testing.T) {
	oldP := debug.SetGCPercent(defaultGCPercent)
	defer debug.SetGCPercent(oldP)
	oldL := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(oldL)
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		assert.False(t, holdFirstGC(func(e string) string {
			if e == k {
				return "80"
			}
			return ""
		}, nil), k)
		assert.Equal(t, defaultGCPercent, debug.SetGCPercent(defaultGCPercent), "%s set: left alone", k)
	}
	done := make(chan struct{})
	require.True(t, holdFirstGC(func(string) string { return "" }, func() { close(done) }))
	assert.Equal(t, -1, debug.SetGCPercent(-1), "GOGC off until the first collection")
	assert.Equal(t, int64(firstGCHeap), debug.SetMemoryLimit(-1))
	runtime.GC()
	<-done
	assert.Equal(t, defaultGCPercent, debug.SetGCPercent(defaultGCPercent), "restored")
	assert.Equal(t, oldL, debug.SetMemoryLimit(-1))
}

// Unless GOMAXPROCS is set, one P more than the default.
func TestSetProcs(t *testing.T) {
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	set := func(k string) string {
		if k == "GOMAXPROCS" {
			return "5"
		}
		return ""
	}
	// GOMAXPROCS set: the runtime already applied it; left alone.
	procs, before := setProcs(set)
	assert.Equal(t, [2]int{old, old}, [2]int{procs, before})
	assert.Equal(t, old, runtime.GOMAXPROCS(0))
	procs, before = setProcs(func(string) string { return "" })
	assert.Equal(t, [2]int{old + 1, old}, [2]int{procs, before})
	assert.Equal(t, old+1, runtime.GOMAXPROCS(0))
}
