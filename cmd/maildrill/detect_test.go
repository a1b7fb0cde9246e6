package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
