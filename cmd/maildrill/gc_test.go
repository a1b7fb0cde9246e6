package main

import (
	"os"
	"os/exec"
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
//
// The check runs in a fresh process of this test binary: in this one the
// earlier tests may have left a heap above firstGCHeap, and then the
// collection the limit starts can come (and restore the limit) before the
// test looks at it.
func TestHoldFirstGC(t *testing.T) {
	if os.Getenv(holdFirstGCChild) != "" {
		checkHoldFirstGC(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldFirstGC$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), holdFirstGCChild+"=1")
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		cmd.Env = append(cmd.Env, k+"=") // unset for the runtime: empty is the default
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestHoldFirstGC", "the child ran the check")
}

const holdFirstGCChild = "MAILDRILL_TEST_HOLD_FIRST_GC"

func checkHoldFirstGC(t *testing.T) {
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

// Unless GOMAXPROCS is set, twice the default, at least 8.
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
	assert.Equal(t, [2]int{max(8, 2*old), old}, [2]int{procs, before})
	assert.Equal(t, max(8, 2*old), runtime.GOMAXPROCS(0))
	assert.Equal(t, []int{8, 8, 8, 8, 10, 32}, []int{spareProcs(1), spareProcs(2), spareProcs(3), spareProcs(4), spareProcs(5), spareProcs(16)})
}
