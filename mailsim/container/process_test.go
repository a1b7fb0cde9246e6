package container

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deadProcess is the LabelProcess of a process that has exited.
func deadProcess(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	require.NoError(t, cmd.Start())
	v := processID(cmd.Process.Pid)
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	return v
}

func TestAlive(t *testing.T) {
	assert.True(t, Alive(Process()), "this process")
	assert.NotEmpty(t, startTicks(os.Getpid()))
	assert.False(t, Alive(deadProcess(t)), "a process that exited")
	host, _ := os.Hostname()
	assert.False(t, Alive(host+"/"+strconv.Itoa(os.Getpid())+"/1"), "this PID, started at another time: another process")
	assert.True(t, Alive("another-host.example/1/1"), "another host's process cannot be checked")
	assert.False(t, Alive(""), "an older maildrill's object")
	assert.False(t, Alive("garbage"))
}

// TestSweepLeavesRunningProcesses: a sweep (serve --docker --docker-sweep)
// removes what a killed process left, and leaves the objects of a
// maildrill still running; it used to remove every maildrill container on
// the host, another CI job's included.
func TestSweepLeavesRunningProcesses(t *testing.T) {
	needDocker(t)
	img := testImage(t)
	before := counts(t)
	live, err := Start(context.Background(), Options{Image: img, Users: 4, Messages: 5})
	require.NoError(t, err)
	defer live.Close()
	removed, inUse, err := sweepLeftovers(context.Background(), LabelSession+"="+live.session)
	require.NoError(t, err)
	assert.Equal(t, 0, removed)
	assert.Equal(t, 2, inUse, "the container and its network, of this running process")
	_, err = live.Published(context.Background())
	require.NoError(t, err, "still serving")

	saved := process
	process = deadProcess(t)
	left, err := Start(context.Background(), Options{Image: img, Users: 4, Messages: 5})
	process = saved
	require.NoError(t, err)
	removed, inUse, err = sweepLeftovers(context.Background(), LabelSession+"="+left.session)
	require.NoError(t, err)
	assert.Equal(t, 2, removed, "a killed process's container and network")
	assert.Equal(t, 0, inUse)
	left.Close()
	live.Close()
	sameCounts(t, "after both", before)
}
