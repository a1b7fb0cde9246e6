package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/internal/cliout"
)

// TestDetectUsesTheRulesDirConfig: detect --rules DIR reads time modifiers
// in the zone of DIR's pack.yml, as run, test and replay do (not in the
// built-in pack's Europe/Paris). A login at 10:00 UTC is 19h in Tokyo.
func TestDetectUsesTheRulesDirConfig(t *testing.T) {
	dir := t.TempDir()
	rule := "title: Login At Seven In Tokyo\nid: 5c6f0a39-1d1e-4c38-9d4b-0d0e3a0b1a09\nlogsource: {product: maildrill, service: imap}\ndetection:\n  sel:\n    event.action: imap.login\n    '@timestamp|hour': 19\n  condition: sel\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokyo.yml"), []byte(rule), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pack.yml"), []byte("time_modifiers: {timezone: Asia/Tokyo}\n"), 0o644))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("from") != "1" {
			cancel() // the event went through: detect asks for the next one
			return
		}
		fmt.Fprintln(w, `{"@timestamp":"2025-12-11T10:00:00Z","event.id":"e1","event.sequence":1,"event.action":"imap.login","event.outcome":"success","service.type":"imap","user.name":"a@interieur.test"}`)
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	require.NoError(t, run(ctx, []string{"detect", "--events-url", srv.URL + "/api/events", "--retry", "1ms", "--no-pack", "--rules", dir}, &out, &errb))
	assert.Contains(t, out.String(), "Login At Seven In Tokyo", errb.String())
}

// TestDetectStopsWhenItsAlertsCannotBeWritten: an alert that cannot be
// written (stdout on a full disk) stops detect with the error, exit 2; it
// used to be taken for a broken stream, the event skipped and the stream
// followed again for ever, every alert lost.
func TestDetectStopsWhenItsAlertsCannotBeWritten(t *testing.T) {
	dir := t.TempDir()
	rule := "title: Any Login\nid: 0b7c8a2e-4f0e-4c1a-9a57-3c1f6f2e0d11\nlogsource: {product: maildrill, service: imap}\ndetection:\n  sel:\n    event.action: imap.login\n  condition: sel\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "login.yml"), []byte(rule), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fmt.Fprintln(w, `{"@timestamp":"2025-12-11T10:00:00Z","event.id":"e1","event.sequence":1,"event.action":"imap.login","event.outcome":"success","service.type":"imap","user.name":"a@interieur.test"}`)
	}))
	defer srv.Close()
	var errb bytes.Buffer
	err := run(ctx, []string{"detect", "--events-url", srv.URL + "/api/events", "--retry", "1ms", "--no-pack", "--rules", dir}, &cliout.Writer{W: &fullDisk{}}, &errb)
	require.Error(t, err, errb.String())
	require.NoError(t, ctx.Err(), "detect stopped by itself")
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.Contains(t, err.Error(), "writing the alerts")
	assert.Equal(t, int32(1), requests.Load(), "the stream is not followed again")
}

func TestDetectBadURL(t *testing.T) {
	for _, u := range []string{"ftp://x/api/events", "127.0.0.1:8025/api/events", "http:///api/events", "%zz"} {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"detect", "--events-url", u}, &out, &errb)
		require.Error(t, err, u)
		assert.Equal(t, exitBadInput, exitCode(err, &errb))
		assert.Contains(t, err.Error(), "--events-url")
		assert.NotContains(t, errb.String(), "retrying", "nothing dialled")
	}
}

func TestDetectBadRetry(t *testing.T) {
	for _, r := range []string{"0s", "-1s"} {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"detect", "--events-url", "http://127.0.0.1:1/api/events", "--retry", r}, &out, &errb)
		require.Error(t, err)
		assert.Equal(t, exitBadInput, exitCode(err, &errb))
		assert.Contains(t, err.Error(), "--retry "+r)
		assert.NotContains(t, errb.String(), "retrying", "nothing dialled")
	}
}
