package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
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
			"--accounts", accounts, "--events", auditLog, "--cert-dir", filepath.Join(dir, "certs")}, &out, &errb)
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

	// The admin API wants the generated token, printed in the banner, on
	// loopback too, and serves no password.
	m := regexp.MustCompile(`admin token: ([0-9a-f]{32})\b`).FindStringSubmatch(out.String())
	require.NotNil(t, m, "banner: %s", out.String())
	code, body := adminGet(t, "http://"+admin+"/api/users", "")
	assert.Equal(t, 401, code, body)
	code, body = adminGet(t, "http://"+admin+"/api/users", m[1])
	assert.Equal(t, 200, code, body)
	assert.Contains(t, body, accs[0]["address"].(string))
	assert.NotContains(t, body, accs[0]["password"].(string))
	assert.NotContains(t, out.String(), "/api/users", "the banner no longer sends people to the API for passwords")

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

func adminGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeCertDirInUse: a second serve with a running one's --cert-dir
// fails at once, naming the directory, and the first one's CA is
// byte-identical afterwards (it used to be overwritten before the second
// failed to bind); --admin-host names are accepted in the Host header.
func TestServeCertDirInUse(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	admin := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	args := []string{"serve", "--imap", freeAddr(t), "--imaps", freeAddr(t), "--submission", freeAddr(t), "--mx", freeAddr(t),
		"--admin", admin, "--users", "3", "--messages", "5", "--cert-dir", certDir, "--admin-host", "mailsim", "--admin-token", "tok-123"}
	go func() { done <- run(ctx, args, &out, &errb) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Ctrl-C to stop") }, 20*time.Second, 20*time.Millisecond, "banner: %s %s", out.String(), errb.String())
	assert.NotContains(t, out.String(), "tok-123", "a given token is not printed")
	ca, err := os.ReadFile(filepath.Join(certDir, "ca.pem"))
	require.NoError(t, err)

	for name, second := range map[string][]string{
		"free ports": {"serve", "--imap", freeAddr(t), "--imaps", freeAddr(t), "--submission", freeAddr(t), "--mx", freeAddr(t),
			"--admin", freeAddr(t), "--users", "3", "--messages", "5", "--cert-dir", certDir},
		"same ports": args,
	} {
		t.Run(name, func(t *testing.T) {
			var out2, errb2 syncBuffer
			// Bounded: on a server that does not refuse, the second would
			// serve until cancelled.
			ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel2()
			err := run(ctx2, second, &out2, &errb2)
			require.Error(t, err)
			assert.Contains(t, err.Error(), certDir)
			assert.Contains(t, err.Error(), "in use by another maildrill")
			now, rerr := os.ReadFile(filepath.Join(certDir, "ca.pem"))
			require.NoError(t, rerr)
			assert.Equal(t, ca, now, "the running server's CA was overwritten")
		})
	}

	req, _ := http.NewRequest("GET", "http://"+admin+"/api/info", nil)
	req.Host = "mailsim:8025"
	req.Header.Set("Authorization", "Bearer tok-123")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "--admin-host mailsim")
	req.Host = "other.example"
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on cancellation")
	}
}

func TestServeBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"users":   {"serve", "--users", "0"},
		"speed":   {"serve", "--speed", "10"},
		"nan":     {"serve", "--start", "2025-12-11T22:00:00Z", "--speed", "NaN"},
		"huge":    {"serve", "--start", "2025-12-11T22:00:00Z", "--speed", "1e12"},
		"quota 0": {"serve", "--quota", "0"}, // used to serve the default, 1 GiB
		"quota-2": {"serve", "--quota", "-2"},
		"run id":  {"serve", "--run-id", "a\nb"},                // labels every event, mail-log line and event id
		"future":  {"serve", "--start", "2999-01-01T00:00:00Z"}, // event times wrapped round to 1830
		"certs":   {"serve", "--cert-dir", "/dev/null/certs"},
		"start":   {"serve", "--start", "yesterday"},
		"unknown": {"serve", "--no-such-flag"},
		"args":    {"serve", "extra"},
		"pprof":   {"serve", "--pprof", "0.0.0.0:0"},
		"slice":   {"serve", "--sched-slice", "50us"}, // below what the kernel accepts
		"slice+":  {"serve", "--sched-slice", "1s"},
		"slice-":  {"serve", "--sched-slice", "-1ms"},
		"bulk":    {"serve", "--bulk-priority", "low"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), args, &out, &errb)
			require.Error(t, err)
			assert.Equal(t, exitBadInput, exitCode(err, &errb))
			assert.Contains(t, err.Error(), args[len(args)-2], "the error names the flag")
		})
	}
}
