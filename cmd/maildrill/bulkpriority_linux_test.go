package main

import (
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// idleThreads counts the threads of process pid in SCHED_IDLE.
func idleThreads(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	require.NoError(t, err)
	n := 0
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		require.NoError(t, err)
		if a, err := unix.SchedGetAttr(tid, 0); err == nil && a.Policy == unix.SCHED_IDLE {
			n++
		}
	}
	return n
}

// serve writes message bodies from threads in SCHED_IDLE by default, and
// says so with -v; --bulk-priority normal keeps them in the normal class.
func TestServeBulkPriority(t *testing.T) {
	re := regexp.MustCompile(`msg=scheduler .* bulk_priority=(\S+)`)
	for _, tc := range []struct {
		args []string
		want string
	}{{[]string{"-v"}, "idle"}, {[]string{"-v", "--bulk-priority", "normal"}, "normal"}} {
		cmd, w, addrs := startServeEnv(t, nil, append(tc.args, "--allow-plaintext-auth")...)
		m := re.FindStringSubmatch(w.text())
		require.NotNil(t, m, "%v: %s", tc.args, w.text())
		assert.Equal(t, tc.want, m[1], "%v", tc.args)
		require.Zero(t, idleThreads(t, cmd.Process.Pid), "%v: no bulk writer before any download", tc.args)

		b, err := os.ReadFile(addrs["accounts"])
		require.NoError(t, err)
		user := regexp.MustCompile(`"address": "([^"]+)"`).FindSubmatch(b)
		pass := regexp.MustCompile(`"password": "([^"]+)"`).FindSubmatch(b)
		require.NotNil(t, user)
		c, err := imapclient.DialInsecure(addrs["IMAP"], nil)
		require.NoError(t, err)
		require.NoError(t, c.Login(string(user[1]), string(pass[1])).Wait())
		_, err = c.Select("INBOX", nil).Wait()
		require.NoError(t, err)
		msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		require.NoError(t, err)
		require.Len(t, msgs, 3)
		for _, msg := range msgs {
			require.Len(t, msg.BodySection, 1)
			assert.NotEmpty(t, msg.BodySection[0].Bytes)
		}
		// The writer that wrote them waits a second for more before it
		// ends, and its thread with it.
		idle := idleThreads(t, cmd.Process.Pid)
		if tc.want == "idle" {
			assert.Equal(t, 1, idle, "%v: the bulk writer's thread", tc.args)
			require.Eventually(t, func() bool { return idleThreads(t, cmd.Process.Pid) == 0 }, 10*time.Second, 50*time.Millisecond,
				"%v: the idle writer's thread ended", tc.args)
		} else {
			assert.Zero(t, idle, "%v", tc.args)
		}
		require.NoError(t, c.Logout().Wait())
		require.NoError(t, cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, 0, waitExit(t, cmd, 30*time.Second))
	}
}
