package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	accounts := filepath.Join(dir, "accounts.json")
	auditLog := filepath.Join(dir, "audit.jsonl")
	imaps, admin := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--imap", "off", "--imaps", imaps, "--submission", freeAddr(t), "--mx", freeAddr(t),
			"--admin", admin, "--users", "5", "--messages", "20", "--seed", "7",
			"--accounts", accounts, "--audit-log", auditLog, "--cert-dir", filepath.Join(dir, "certs")}, &out, &errb)
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Ctrl-C to stop") }, 20*time.Second, 20*time.Millisecond, "banner: %s %s", out.String(), errb.String())
	assert.Contains(t, out.String(), imaps)
	assert.Regexp(t, regexp.MustCompile(`log in, e.g.: \S+@interieur.test / \S+`), out.String())

	b, err := os.ReadFile(accounts)
	require.NoError(t, err)
	var accs []map[string]any
	require.NoError(t, json.Unmarshal(b, &accs))
	require.GreaterOrEqual(t, len(accs), 5)
	for _, k := range []string{"address", "password", "name", "department", "role"} {
		assert.NotEmpty(t, accs[0][k], k)
	}
	resp, err := http.Get("http://" + admin + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	// A login over IMAPS with the CA written to --cert-dir.
	caPool := loadCA(t, filepath.Join(dir, "certs", "ca.pem"))
	c, err := imapclient.DialTLS(imaps, &imapclient.Options{TLSConfig: caPool})
	require.NoError(t, err)
	require.NoError(t, c.Login(accs[0]["address"].(string), accs[0]["password"].(string)).Wait())
	c.Close()

	cancel() // like SIGINT
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on cancellation")
	}
	assert.Contains(t, out.String(), "stopped;")
	log, err := os.ReadFile(auditLog)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	require.GreaterOrEqual(t, len(lines), 3)
	assert.Contains(t, lines[len(lines)-1], `"event.action":"imap.logout"`, "the session's logout was flushed before exit")
}

func TestServeBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"users":   {"serve", "--users", "0"},
		"speed":   {"serve", "--speed", "10"},
		"start":   {"serve", "--start", "yesterday"},
		"unknown": {"serve", "--no-such-flag"},
		"args":    {"serve", "extra"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), args, &out, &errb)
			require.Error(t, err)
			assert.Equal(t, exitBadInput, exitCode(err, &errb))
		})
	}
}
