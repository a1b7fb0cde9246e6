package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
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

const tok = "s3cret"

func setup(t *testing.T, token string, hosts ...string) (*httptest.Server, *audit.Bus, *clock.Virtual) {
	vc := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	bus := audit.NewBus(vc, audit.BusOptions{Retain: -1})
	t.Cleanup(bus.Close)
	h := New(Config{Bus: bus, Outbox: smtpd.NewOutbox(1 << 20), Clock: vc, Token: token, AllowedHosts: hosts,
		Users: func() any { return []map[string]string{{"address": "a@interieur.test"}} }})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, bus, vc
}

func get(t *testing.T, url, token string) (*http.Response, string) {
	return do(t, "GET", url, token, "", "")
}

// do sends a request with an optional bearer token, Host header and body.
func do(t *testing.T, method, url, token, host, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// refusals returns the admin.request events published so far.
func refusals(t *testing.T, bus *audit.Bus) []*audit.Event {
	t.Helper()
	return published(t, bus, audit.AdminRequest)
}

// published returns the events of one action published so far.
func published(t *testing.T, bus *audit.Bus, action string) []*audit.Event {
	t.Helper()
	sub, err := bus.SubscribeFrom(1)
	require.NoError(t, err)
	defer sub.Close()
	var out []*audit.Event
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		evs, err := sub.NextBatch(ctx, 256)
		cancel()
		if err != nil {
			return out
		}
		for _, e := range evs {
			if e.Action == action {
				out = append(out, e)
			}
		}
	}
}

func TestAdminTokenRequired(t *testing.T) {
	srv, bus, _ := setup(t, tok)
	resp, _ := get(t, srv.URL+"/healthz", "")
	assert.Equal(t, 200, resp.StatusCode, "health needs no token")
	resp, body := get(t, srv.URL+"/api/users", "")
	assert.Equal(t, 401, resp.StatusCode)
	assert.Contains(t, body, "Bearer")
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
	resp, _ = get(t, srv.URL+"/api/users", "wrong")
	assert.Equal(t, 401, resp.StatusCode)
	resp, _ = do(t, "GET", srv.URL+"/api/events?follow=false", "", "", "")
	assert.Equal(t, 401, resp.StatusCode, "the event stream needs the token")
	resp, _ = do(t, "POST", srv.URL+"/api/clock", "", "", `{"advance":"1h"}`)
	assert.Equal(t, 401, resp.StatusCode, "moving the clock needs the token")
	resp, body = get(t, srv.URL+"/api/users", tok)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, "a@interieur.test")

	var reasons []string
	for _, e := range refusals(t, bus) {
		reasons = append(reasons, e.Reason)
		assert.Equal(t, audit.Failure, e.Outcome)
		assert.Equal(t, "admin", e.ServiceType)
		assert.Equal(t, "127.0.0.1", e.SourceIP)
		assert.NotZero(t, e.SourcePort)
		assert.NotEmpty(t, e.SessionID)
	}
	assert.Equal(t, []string{ReasonMissingToken, ReasonInvalidToken, ReasonMissingToken, ReasonMissingToken}, reasons)
}

// TestAdminNoTokenRefusesAll: an API configured without a token (the old
// loopback default) serves nothing but /healthz: a web page on this
// machine could otherwise read it.
func TestAdminNoTokenRefusesAll(t *testing.T) {
	srv, _, _ := setup(t, "")
	resp, _ := get(t, srv.URL+"/healthz", "")
	assert.Equal(t, 200, resp.StatusCode)
	for _, path := range []string{"/api/users", "/api/info", "/api/clock", "/api/outbox", "/api/events?follow=false"} {
		resp, _ := get(t, srv.URL+path, "")
		assert.Equal(t, 401, resp.StatusCode, path)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/api/users", nil)
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode, "an empty bearer token never matches")
}

// TestAdminHostCheck: a page that rebinds its own domain name to 127.0.0.1
// sends that name as Host; only IP literals, localhost and configured
// names are served (any port: Docker maps ports).
func TestAdminHostCheck(t *testing.T) {
	srv, bus, _ := setup(t, tok, "mailsim", "Admin.Example.")
	for _, host := range []string{"127.0.0.1:8025", "127.0.0.1", "localhost:49153", "LOCALHOST", "localhost.:1", "[::1]:8025", "[::1]", "10.0.0.7:80",
		"mailsim:8025", "MAILSIM", "admin.example:443"} {
		resp, body := do(t, "GET", srv.URL+"/api/users", tok, host, "")
		assert.Equal(t, 200, resp.StatusCode, "%s: %s", host, body)
	}
	for _, host := range []string{"evil.example", "evil.example:8025", "localhost.evil.example:8025", "mailsim.evil.example", "127.0.0.1.nip.io:8025", "x"} {
		for _, path := range []string{"/api/users", "/healthz"} {
			resp, body := do(t, "GET", srv.URL+path, tok, host, "")
			assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, "%s %s", host, path)
			assert.Contains(t, body, "DNS rebinding")
			assert.NotContains(t, body, "a@interieur.test")
		}
	}
	evs := refusals(t, bus)
	require.Len(t, evs, 12)
	assert.Equal(t, ReasonHostRefused, evs[0].Reason)
	assert.Equal(t, "/api/users", evs[0].URLPath)
	assert.Equal(t, "GET", evs[0].HTTPMethod)
}

// TestAdminTokenInQuery: a token in the URL (logs, history, Referer) is
// refused even when the header carries it too.
func TestAdminTokenInQuery(t *testing.T) {
	srv, bus, _ := setup(t, tok)
	for _, q := range []string{"token=" + tok, "access_token=" + tok, "from=1&Token=" + tok, "%74oken=" + tok, "token=%zz", "follow=false&token", "follow=false;access_token=" + tok} {
		for _, header := range []string{"", tok} {
			resp, body := do(t, "GET", srv.URL+"/api/events?"+q, header, "", "")
			assert.Equal(t, 400, resp.StatusCode, "%s (header %q)", q, header)
			assert.Contains(t, body, "Authorization")
		}
	}
	resp, _ := get(t, srv.URL+"/healthz?token=x", "")
	assert.Equal(t, 400, resp.StatusCode, "not on /healthz either")
	resp, _ = get(t, srv.URL+"/api/users?tokens=1&mytoken=2", tok)
	assert.Equal(t, 200, resp.StatusCode, "other parameters are fine")
	evs := refusals(t, bus)
	require.Len(t, evs, 15)
	for _, e := range evs {
		assert.Equal(t, ReasonTokenInQuery, e.Reason)
	}
}

// TestAdminBodyLimit: a body over the limit is refused with 413 and
// audited, whether its length is announced or not.
func TestAdminBodyLimit(t *testing.T) {
	srv, bus, vc := setup(t, tok)
	before := vc.Now()
	big := `{"advance":"1s","x":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`
	resp, body := do(t, "POST", srv.URL+"/api/clock", tok, "", big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, body)
	// Chunked: no Content-Length, the reader stops at the limit.
	req, _ := http.NewRequest("POST", srv.URL+"/api/clock", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, before, vc.Now())
	evs := refusals(t, bus)
	require.Len(t, evs, 2)
	assert.Equal(t, ReasonBodySize, evs[0].Reason)
	assert.Equal(t, ReasonBodySize, evs[1].Reason)
	assert.Equal(t, "POST", evs[1].HTTPMethod)
}

// TestAdminStreamOutlivesTimeouts: the event stream is not cut by the
// server's read and write timeouts (a detector follows it for hours),
// while an ordinary request still works.
func TestAdminStreamOutlivesTimeouts(t *testing.T) {
	vc := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	bus := audit.NewBus(vc, audit.BusOptions{Retain: -1})
	t.Cleanup(bus.Close)
	srv := NewServer(Config{Bus: bus, Outbox: smtpd.NewOutbox(1 << 20), Clock: vc, Token: tok,
		ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond, StreamWriteTimeout: 5 * time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()

	req, _ := http.NewRequest("GET", base+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	time.Sleep(400 * time.Millisecond) // past both timeouts
	bus.Publish(audit.Event{Action: audit.IMAPLogin})
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err, "the stream was cut")
	assert.Contains(t, line, `"imap.login"`)

	r2, body := get(t, base+"/api/clock", tok)
	assert.Equal(t, 200, r2.StatusCode, body)
}

func TestClock(t *testing.T) {
	srv, bus, vc := setup(t, tok)
	resp, _ := do(t, "POST", srv.URL+"/api/clock", tok, "", `{"advance":"90m"}`)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "2025-12-12T01:10:00Z", vc.Now().Format(time.RFC3339))
	for _, bad := range []string{`{"set":"2020-01-01T00:00:00Z"}`, `{"advance":"-1s"}`, `{}`, `{"nope":1}`, `garbage`} {
		resp, b := do(t, "POST", srv.URL+"/api/clock", tok, "", bad)
		assert.Equal(t, 400, resp.StatusCode, bad)
		assert.Contains(t, b, "error")
	}
	// Every move, and every refused one, is in the audit trail.
	evs := published(t, bus, audit.AdminClock)
	require.Len(t, evs, 6)
	assert.Equal(t, audit.Success, evs[0].Outcome)
	assert.Equal(t, ReasonClockAdvance, evs[0].Reason)
	assert.Equal(t, "2025-12-12T01:10:00Z", evs[0].Timestamp.Format(time.RFC3339), "stamped with the new time")
	assert.Equal(t, "POST", evs[0].HTTPMethod)
	assert.Equal(t, "/api/clock", evs[0].URLPath)
	assert.Equal(t, "127.0.0.1", evs[0].SourceIP)
	for _, e := range evs[1:] {
		assert.Equal(t, audit.Failure, e.Outcome)
		assert.Equal(t, ReasonInvalidRequest, e.Reason)
	}
}

func TestEventStream(t *testing.T) {
	srv, bus, _ := setup(t, tok)
	for i := 0; i < 5; i++ {
		bus.Publish(audit.Event{Action: audit.IMAPLogin})
	}
	resp, body := get(t, srv.URL+"/api/events?from=2&follow=false", tok)
	assert.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	lines := strings.Split(strings.TrimSpace(body), "\n")
	require.Len(t, lines, 4)
	var e audit.Event
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &e))
	assert.Equal(t, uint64(2), e.Sequence)

	// Following: an event published after connecting arrives.
	req, _ := http.NewRequest("GET", srv.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp2.Body.Close()
	go func() {
		time.Sleep(100 * time.Millisecond)
		bus.Publish(audit.Event{Action: audit.SMTPConnect})
	}()
	line, err := bufio.NewReader(resp2.Body).ReadString('\n')
	require.NoError(t, err)
	assert.Contains(t, line, `"smtp.connect"`)

	resp3, _ := get(t, srv.URL+"/api/events?from=abc", tok)
	assert.Equal(t, 400, resp3.StatusCode)
}

func TestOutbox(t *testing.T) {
	srv, _, _ := setup(t, tok)
	resp, body := get(t, srv.URL+"/api/outbox", tok)
	assert.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, "[]", body)
	resp, _ = get(t, srv.URL+"/api/outbox/7/raw", tok)
	assert.Equal(t, 404, resp.StatusCode)
}

// TestAdminStalledStreamFreesPublishers: a client that opens the event
// stream and stops reading must lose its own stream, not freeze the mail
// system (the bus makes publishers wait for a lagging subscriber). Its
// write timeout cuts it, and that is audited.
func TestAdminStalledStreamFreesPublishers(t *testing.T) {
	vc := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	bus := audit.NewBus(vc, audit.BusOptions{Retain: -1, MaxLag: 1000})
	t.Cleanup(bus.Close)
	srv := NewServer(Config{Bus: bus, Outbox: smtpd.NewOutbox(1 << 20), Clock: vc, Token: tok, StreamWriteTimeout: 200 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	_, err = c.Write([]byte("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + tok + "\r\n\r\n"))
	require.NoError(t, err)
	// The status line comes once the stream has subscribed; then publish
	// far more than the socket buffers and the bus's lag allow, never
	// reading again.
	status, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, status, "200")
	done := make(chan struct{})
	go func() {
		defer close(done)
		big := strings.Repeat("x", 2000)
		for i := 0; i < 20000; i++ {
			if _, err := bus.Publish(audit.Event{Action: audit.IMAPFetch, MessageSubj: big}); err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("publishers are still blocked by the stalled stream")
	}
	var reasons []string
	for _, e := range refusals(t, bus) {
		reasons = append(reasons, e.Reason)
	}
	assert.Equal(t, []string{ReasonStreamWriteTimeout}, reasons)
}

// TestAdminSlowBody: a body that does not arrive within ReadTimeout is
// refused with 408 and audited; the clock does not move.
func TestAdminSlowBody(t *testing.T) {
	vc := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	bus := audit.NewBus(vc, audit.BusOptions{Retain: -1})
	t.Cleanup(bus.Close)
	srv := NewServer(Config{Bus: bus, Outbox: smtpd.NewOutbox(1 << 20), Clock: vc, Token: tok, ReadTimeout: 300 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("POST /api/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + tok + "\r\nContent-Length: 40\r\n\r\n{\"advance\":"))
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	assert.Contains(t, status, "408")
	assert.Equal(t, "2025-12-11T23:40:00Z", vc.Now().Format(time.RFC3339), "the clock moved")
	evs := refusals(t, bus)
	require.Len(t, evs, 1)
	assert.Equal(t, ReasonReadTimeout, evs[0].Reason)
}

// TestAdminRefusedBeforeHandler: what net/http refuses before any handler
// runs — a request not sent within ReadHeaderTimeout, headers over
// MaxHeaderBytes — is audited from the connection's end.
func TestAdminRefusedBeforeHandler(t *testing.T) {
	vc := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	bus := audit.NewBus(vc, audit.BusOptions{Retain: -1})
	t.Cleanup(bus.Close)
	srv := NewServer(Config{Bus: bus, Outbox: smtpd.NewOutbox(1 << 20), Clock: vc, Token: tok,
		// Over net/http's half-second wait before closing a refused
		// connection, which the reason's timing must not mistake.
		ReadHeaderTimeout: 1500 * time.Millisecond, MaxHeaderBytes: 1024})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	// Half a request line, then nothing: the server hangs up.
	slow, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer slow.Close()
	slow.Write([]byte("GET /api/users HT"))
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(slow)
	require.NoError(t, err, "closed by the server, not by our deadline")

	// Headers far over the limit: 431.
	big, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer big.Close()
	big.Write([]byte("GET /api/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"))
	big.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReader(big).ReadString('\n')
	require.NoError(t, err)
	assert.Contains(t, status, "431")

	var reasons []string
	require.Eventually(t, func() bool {
		reasons = reasons[:0]
		for _, e := range refusals(t, bus) {
			reasons = append(reasons, e.Reason)
			assert.Equal(t, "127.0.0.1", e.SourceIP)
		}
		return len(reasons) == 2
	}, 10*time.Second, 20*time.Millisecond)
	assert.ElementsMatch(t, []string{ReasonHeaderTimeout, ReasonNoRequest}, reasons)

	// A served connection is not one of them.
	r, _ := get(t, "http://"+ln.Addr().String()+"/api/clock", tok)
	assert.Equal(t, 200, r.StatusCode)
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, refusals(t, bus), 2)
}

// Requests that pass the access rules but that the API refuses (a path it
// does not serve, a parameter it does not take, an outbox message it does
// not hold) were answered without an event: a client holding the token and
// probing the API left no trace. And /api/events took any parameter, so
// that "since=0" (a typo for from=) silently streamed only new events.
func TestAdminRefusalsPastTheAccessRulesAreAudited(t *testing.T) {
	srv, bus, _ := setup(t, tok)
	for _, c := range []struct {
		method, path string
		code         int
		reason       string
	}{
		{"GET", "/api/nothing", 404, ReasonNotFound},
		{"DELETE", "/api/users", 405, ReasonMethodNotAllowed},
		{"GET", "/api/events?since=0&follow=false", 400, ReasonInvalidRequest},
		{"GET", "/api/events?follow=maybe", 400, ReasonInvalidRequest},
		{"GET", "/api/events?from=1&from=2&follow=false", 400, ReasonInvalidRequest},
		{"GET", "/api/events?from=x&follow=false", 400, ReasonInvalidRequest},
		{"GET", "/api/outbox/x/raw", 400, ReasonInvalidRequest},
		{"GET", "/api/outbox/7/raw", 404, ReasonNotFound},
	} {
		resp, body := do(t, c.method, srv.URL+c.path, tok, "", "")
		assert.Equal(t, c.code, resp.StatusCode, "%s %s: %s", c.method, c.path, body)
	}
	resp, _ := get(t, srv.URL+"/api/events?from=1&follow=false", tok)
	assert.Equal(t, 200, resp.StatusCode)
	var got []string
	for _, e := range refusals(t, bus) {
		got = append(got, e.HTTPMethod+" "+e.URLPath+" "+e.Reason)
	}
	assert.Equal(t, []string{
		"GET /api/nothing not_found", "DELETE /api/users method_not_allowed",
		"GET /api/events invalid_request", "GET /api/events invalid_request", "GET /api/events invalid_request", "GET /api/events invalid_request",
		"GET /api/outbox/x/raw invalid_request", "GET /api/outbox/7/raw not_found",
	}, got)
}
