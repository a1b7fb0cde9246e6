package admin

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/smtpd"
)

func setup(t *testing.T, token string) (*httptest.Server, *audit.Bus, *clock.Virtual) {
	vc := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	bus := audit.NewBus(vc, audit.BusOptions{Retain: -1})
	t.Cleanup(bus.Close)
	h := New(Config{Bus: bus, Outbox: smtpd.NewOutbox(1 << 20), Clock: vc, Token: token,
		Users: func() any { return []map[string]string{{"address": "a@interieur.test"}} }})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, bus, vc
}

func get(t *testing.T, url, token string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestTokenRequired(t *testing.T) {
	srv, _, _ := setup(t, "s3cret")
	resp, _ := get(t, srv.URL+"/healthz", "")
	assert.Equal(t, 200, resp.StatusCode, "health needs no token")
	resp, body := get(t, srv.URL+"/api/users", "")
	assert.Equal(t, 401, resp.StatusCode)
	assert.Contains(t, body, "Bearer")
	resp, _ = get(t, srv.URL+"/api/users", "wrong")
	assert.Equal(t, 401, resp.StatusCode)
	resp, body = get(t, srv.URL+"/api/users", "s3cret")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, "a@interieur.test")
}

func TestClock(t *testing.T) {
	srv, _, vc := setup(t, "")
	resp, err := http.Post(srv.URL+"/api/clock", "application/json", strings.NewReader(`{"advance":"90m"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "2025-12-12T01:10:00Z", vc.Now().Format(time.RFC3339))
	for _, bad := range []string{`{"set":"2020-01-01T00:00:00Z"}`, `{"advance":"-1s"}`, `{}`, `{"nope":1}`, `garbage`} {
		resp, err := http.Post(srv.URL+"/api/clock", "application/json", strings.NewReader(bad))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 400, resp.StatusCode, bad)
		assert.Contains(t, string(b), "error")
	}
}

func TestEventStream(t *testing.T) {
	srv, bus, _ := setup(t, "")
	for i := 0; i < 5; i++ {
		bus.Publish(audit.Event{Action: audit.IMAPLogin})
	}
	resp, body := get(t, srv.URL+"/api/events?from=2&follow=false", "")
	assert.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	lines := strings.Split(strings.TrimSpace(body), "\n")
	require.Len(t, lines, 4)
	var e audit.Event
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &e))
	assert.Equal(t, uint64(2), e.Sequence)

	// Following: an event published after connecting arrives.
	resp2, err := http.Get(srv.URL + "/api/events")
	require.NoError(t, err)
	defer resp2.Body.Close()
	go func() {
		time.Sleep(100 * time.Millisecond)
		bus.Publish(audit.Event{Action: audit.SMTPConnect})
	}()
	line, err := bufio.NewReader(resp2.Body).ReadString('\n')
	require.NoError(t, err)
	assert.Contains(t, line, `"smtp.connect"`)

	resp3, _ := get(t, srv.URL+"/api/events?from=abc", "")
	assert.Equal(t, 400, resp3.StatusCode)
}

func TestOutbox(t *testing.T) {
	srv, _, _ := setup(t, "")
	resp, body := get(t, srv.URL+"/api/outbox", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, "[]", body)
	resp, _ = get(t, srv.URL+"/api/outbox/7/raw", "")
	assert.Equal(t, 404, resp.StatusCode)
}
