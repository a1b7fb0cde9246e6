//go:build unix

package procgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSignalReachesGrandchild starts a shell in its own group that starts
// a sleeping grandchild, signals the group, and checks that the
// grandchild is gone too: signalling the shell alone would leave it.
func TestSignalReachesGrandchild(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command("sh", "-c", `sleep 60 & echo $! > "$1"; wait`, "sh", pidFile)
	cmd.SysProcAttr = Own()
	require.NoError(t, cmd.Start())
	var grandchild int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		grandchild, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	pgid, err := syscall.Getpgid(grandchild)
	require.NoError(t, err)
	require.Equal(t, cmd.Process.Pid, pgid, "the grandchild is in the child's group")
	require.NotEqual(t, syscall.Getpgrp(), pgid, "the group is not the test's own")

	require.NoError(t, Signal(cmd.Process, syscall.SIGTERM))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Eventually(t, func() bool { return gone(grandchild) },
		10*time.Second, 10*time.Millisecond, "grandchild %d still runs", grandchild)
}

// gone: no process pid, or one that has exited and waits to be reaped
// (the grandchild is reparented, and whoever adopts it may not reap it).
func gone(pid int) bool {
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && strings.HasPrefix(string(b[i:]), ") Z")
}
