// Package admin is mailsim's small HTTP API: health, users (without
// passwords), the clock, the audit event stream (NDJSON) and the
// outside-world outbox. Every request but /healthz needs the bearer token,
// on loopback too; the Host header must be an IP address, localhost or a
// configured name (DNS rebinding); a token in the query string is refused.
// Every refusal is an admin.request audit event.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/smtpd"
)

// Defaults of the HTTP server's limits (Config fields, zero = default).
// They are wall time, generous for a local API: the event stream is exempt
// from the read and write timeouts (it lives as long as its client) and
// has its own per-write limit instead.
const (
	DefaultReadHeaderTimeout  = 10 * time.Second
	DefaultReadTimeout        = time.Minute     // headers and body of one request
	DefaultWriteTimeout       = 5 * time.Minute // one response (a raw outbox message may be 25 MiB)
	DefaultIdleTimeout        = 2 * time.Minute // keep-alive between requests
	DefaultStreamWriteTimeout = time.Minute     // one write of the event stream to a client that stopped reading
	DefaultMaxHeaderBytes     = 64 << 10
	DefaultMaxBodyBytes       = 64 << 10
)

// Refusal reasons (event.reason of admin.request events).
const (
	ReasonHostRefused        = "host_refused"
	ReasonTokenInQuery       = "token_in_query"
	ReasonMissingToken       = "missing_token"
	ReasonInvalidToken       = "invalid_token"
	ReasonBodySize           = "limit_body_size"
	ReasonReadTimeout        = "timeout_read"
	ReasonStreamWriteTimeout = "timeout_stream_write"
	ReasonHeaderTimeout      = "timeout_header" // no complete request within ReadHeaderTimeout
	ReasonNoRequest          = "no_request"     // closed before a complete request: headers over MaxHeaderBytes, malformed, or the client left
	// admin.clock reasons: what was done, or why it was not.
	ReasonClockSet        = "set"
	ReasonClockAdvance    = "advance"
	ReasonClockNotVirtual = "clock_not_virtual"
	ReasonInvalidRequest  = "invalid_request"
	// Refusals of a request past the access rules: a path or method the
	// API does not serve, a parameter it does not take, a thing it no
	// longer holds.
	ReasonNotFound         = "not_found"
	ReasonMethodNotAllowed = "method_not_allowed"
	ReasonGone             = "gone"
)

// Config wires the API to a running mail system.
type Config struct {
	Bus    *audit.Bus
	Outbox *smtpd.Outbox
	Clock  clock.Clock
	// Token is required as "Authorization: Bearer <token>" on every
	// request but /healthz, whatever the listen address. Empty refuses
	// every such request (mailsim.Start always sets one).
	Token string
	// AllowedHosts are host names accepted in the Host header besides IP
	// addresses and localhost (any port), e.g. a Docker service name. A
	// web page reaching the API by DNS rebinding sends its own domain
	// name, which is refused.
	AllowedHosts []string
	// Users returns the accounts (never their passwords), Info the
	// listening addresses.
	Users func() any
	Info  func() any
	// Context ends long-running streams on shutdown.
	Context context.Context
	Logger  *slog.Logger

	// Limits; zero means the Default above.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	StreamWriteTimeout                                        time.Duration
	MaxHeaderBytes                                            int
	MaxBodyBytes                                              int64
}

func (c *Config) defaults() {
	if c.Context == nil {
		c.Context = context.Background()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.StreamWriteTimeout, DefaultStreamWriteTimeout)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// New returns the API handler.
func New(cfg Config) http.Handler { return newAPI(cfg).handler() }

func newAPI(cfg Config) *api {
	cfg.defaults()
	a := &api{cfg: cfg, hosts: map[string]bool{"localhost": true}}
	for _, h := range cfg.AllowedHosts {
		a.hosts[normHost(h)] = true
	}
	return a
}

func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /api/info", a.info)
	mux.HandleFunc("GET /api/users", a.users)
	mux.HandleFunc("GET /api/clock", a.getClock)
	mux.HandleFunc("POST /api/clock", a.setClock)
	mux.HandleFunc("GET /api/events", a.events)
	mux.HandleFunc("GET /api/outbox", a.outbox)
	mux.HandleFunc("GET /api/outbox/{id}/raw", a.outboxRaw)
	return a.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			// No route: the mux answers 404 or 405; audited like any
			// other refusal (a client with the token probing paths).
			sw := &statusWriter{ResponseWriter: w}
			mux.ServeHTTP(sw, r)
			reason := ReasonNotFound
			if sw.code == http.StatusMethodNotAllowed {
				reason = ReasonMethodNotAllowed
			}
			a.audit(r, reason)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

// statusWriter notes the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// NewServer returns an http.Server for the API with the configured
// timeouts and header limit. The event stream lifts the read and write
// deadlines for itself. A connection closed before it delivered a
// complete request (net/http's header timeout, headers over the limit, a
// malformed request: refused before any handler runs) is audited too.
func NewServer(cfg Config) *http.Server {
	a := newAPI(cfg)
	return &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.ReadTimeout,
		WriteTimeout:      a.cfg.WriteTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		MaxHeaderBytes:    a.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.cfg.Logger.Handler(), slog.LevelDebug),
		ConnContext:       a.connContext,
		ConnState:         a.connState,
	}
}

// connInfo follows one connection, to audit what net/http refuses before
// any handler runs.
type connInfo struct {
	mu        sync.Mutex
	readStart time.Time // when the server began waiting for the current request
	active    int       // requests whose first bytes were read
	handled   int       // requests that reached the handler
}

type connKey struct{}

func (a *api) connContext(ctx context.Context, c net.Conn) context.Context {
	ci := &connInfo{readStart: time.Now()}
	a.conns.Store(c, ci)
	return context.WithValue(ctx, connKey{}, ci)
}

// connState audits a connection that ends with a request that never
// reached the handler (net/http answered 400 or 431, or timed it out), or
// that never sent a byte within the header timeout: timeout_header when
// the wait lasted ReadHeaderTimeout, no_request otherwise (headers too
// large, a malformed request, or a client that left mid-request). A
// client that connects and leaves without sending is not audited.
func (a *api) connState(c net.Conn, st http.ConnState) {
	v, ok := a.conns.Load(c)
	if !ok {
		return
	}
	ci := v.(*connInfo)
	ci.mu.Lock()
	defer ci.mu.Unlock()
	switch st {
	case http.StateActive:
		ci.active++
	case http.StateIdle:
		ci.readStart = time.Now()
	case http.StateHijacked:
		a.conns.Delete(c)
	case http.StateClosed:
		a.conns.Delete(c)
		timedOut := time.Since(ci.readStart) >= a.cfg.ReadHeaderTimeout
		var reason string
		switch {
		case ci.active > ci.handled && timedOut:
			reason = ReasonHeaderTimeout
		case ci.active > ci.handled:
			reason = ReasonNoRequest
		case ci.active == 0 && timedOut:
			reason = ReasonHeaderTimeout
		default:
			return
		}
		e := audit.Event{Action: audit.AdminRequest, Outcome: audit.Failure, Reason: reason}
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			e.SourceIP, e.SourcePort = ap.Addr().Unmap().String(), int(ap.Port())
		}
		if la, ok := c.LocalAddr().(*net.TCPAddr); ok {
			e.DestPort = la.Port
		}
		a.emit(e)
	}
}

type api struct {
	cfg   Config
	hosts map[string]bool
	reqs  atomic.Uint64
	conns sync.Map // net.Conn -> *connInfo (NewServer only)
}

// guard checks, in order, the Host header, the query string and the token
// (except for /healthz), and bounds the request body.
func (a *api) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ci, ok := r.Context().Value(connKey{}).(*connInfo); ok {
			ci.mu.Lock()
			ci.handled++
			ci.mu.Unlock()
		}
		if !a.hostAllowed(r.Host) {
			a.refuse(w, r, http.StatusMisdirectedRequest, ReasonHostRefused,
				fmt.Sprintf("host %q is not accepted by the admin API (DNS rebinding protection): use an IP address or localhost, or name the host with --admin-host", r.Host))
			return
		}
		if tokenInQuery(r.URL.RawQuery) {
			a.refuse(w, r, http.StatusBadRequest, ReasonTokenInQuery,
				"a token in the query string is refused (it ends up in logs and browser history): send Authorization: Bearer <token>")
			return
		}
		if r.URL.Path != "/healthz" {
			if reason := a.checkToken(r.Header.Get("Authorization")); reason != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="maildrill admin"`)
				a.refuse(w, r, http.StatusUnauthorized, reason, "missing or wrong token: send Authorization: Bearer <token> (printed by maildrill serve, or set with --admin-token / MAILDRILL_ADMIN_TOKEN)")
				return
			}
		}
		if r.ContentLength > a.cfg.MaxBodyBytes {
			a.refuse(w, r, http.StatusRequestEntityTooLarge, ReasonBodySize, fmt.Sprintf("request body over %d bytes", a.cfg.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func normHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

// hostAllowed accepts an IP literal, localhost or a configured name, with
// any port. An absent Host (HTTP/1.0) is accepted: browsers always send one.
func (a *api) hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimPrefix(strings.TrimSuffix(h, "]"), "[")
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return a.hosts[normHost(h)]
}

// tokenInQuery reports a token= or access_token= parameter, however
// encoded or separated (a malformed escape or a ';' does not hide it).
func tokenInQuery(raw string) bool {
	for _, kv := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(kv, "=")
		if u, err := url.QueryUnescape(k); err == nil {
			k = u
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "token", "access_token":
			return true
		}
	}
	return false
}

func (a *api) checkToken(h string) string {
	if h == "" {
		return ReasonMissingToken
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || a.cfg.Token == "" ||
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(a.cfg.Token)) != 1 {
		return ReasonInvalidToken
	}
	return ""
}

// refuse answers code with a JSON error and audits the refusal.
func (a *api) refuse(w http.ResponseWriter, r *http.Request, code int, reason, msg string) {
	a.audit(r, reason)
	writeError(w, code, msg)
}

// audit publishes an admin.request failure for r.
func (a *api) audit(r *http.Request, reason string) {
	a.publish(r, audit.AdminRequest, audit.Failure, reason)
}

// publish records an admin API event about r.
func (a *api) publish(r *http.Request, action, outcome, reason string) {
	e := audit.Event{
		Action: action, Outcome: outcome, Reason: reason,
		HTTPMethod: r.Method, URLPath: truncate(r.URL.Path, 256),
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		e.SourceIP, e.SourcePort = ap.Addr().Unmap().String(), int(ap.Port())
	} else {
		e.SourceIP = r.RemoteAddr
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		e.DestPort = la.Port
	}
	a.emit(e)
}

// emit stamps the service and a session id on e and publishes it.
func (a *api) emit(e audit.Event) {
	if a.cfg.Bus == nil {
		return
	}
	e.ServiceType, e.ServiceName = "admin", "admin"
	e.SessionID = "admin-" + strconv.FormatUint(a.reqs.Add(1), 10)
	if _, err := a.cfg.Bus.Publish(e); err != nil {
		a.cfg.Logger.Debug("admin: audit event not published", "action", e.Action, "reason", e.Reason, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "time": a.cfg.Clock.Now(), "events": a.cfg.Bus.Published()})
}

func (a *api) info(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Info == nil {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	writeJSON(w, http.StatusOK, a.cfg.Info())
}

func (a *api) users(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Users == nil {
		writeJSON(w, http.StatusOK, []any{})
		return
	}
	writeJSON(w, http.StatusOK, a.cfg.Users())
}

func (a *api) getClock(w http.ResponseWriter, r *http.Request) {
	mode := "real"
	switch a.cfg.Clock.(type) {
	case *clock.Virtual:
		mode = "virtual"
	case *clock.Scaled:
		mode = "scaled"
	}
	writeJSON(w, http.StatusOK, map[string]any{"now": a.cfg.Clock.Now(), "mode": mode})
}

// setClock moves a virtual clock: {"set": RFC3339} or {"advance": "90s"}.
// Every attempt is an admin.clock event (success stamped with the new time).
func (a *api) setClock(w http.ResponseWriter, r *http.Request) {
	vc, ok := a.cfg.Clock.(*clock.Virtual)
	if !ok {
		a.publish(r, audit.AdminClock, audit.Failure, ReasonClockNotVirtual)
		writeError(w, http.StatusConflict, "the clock is not virtual; only a virtual clock can be set")
		return
	}
	var req struct {
		Set     *time.Time `json:"set"`
		Advance string     `json:"advance"`
	}
	dec := json.NewDecoder(r.Body) // bounded by guard
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			a.refuse(w, r, http.StatusRequestEntityTooLarge, ReasonBodySize, fmt.Sprintf("request body over %d bytes", mbe.Limit))
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			a.refuse(w, r, http.StatusRequestTimeout, ReasonReadTimeout, "request body not received in time")
			return
		}
		a.publish(r, audit.AdminClock, audit.Failure, ReasonInvalidRequest)
		writeError(w, http.StatusBadRequest, "body must be {\"set\": \"<RFC3339 time>\"} or {\"advance\": \"<duration>\"}: "+err.Error())
		return
	}
	var err error
	how := ReasonClockSet
	switch {
	case req.Set != nil && req.Advance != "":
		err = errors.New("give either set or advance, not both")
	case req.Set != nil:
		err = vc.Set(*req.Set)
	case req.Advance != "":
		how = ReasonClockAdvance
		var d time.Duration
		d, err = time.ParseDuration(req.Advance)
		if err == nil {
			err = vc.Advance(d)
		}
	default:
		err = errors.New("give set or advance")
	}
	if err != nil {
		a.publish(r, audit.AdminClock, audit.Failure, ReasonInvalidRequest)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.publish(r, audit.AdminClock, audit.Success, how)
	a.getClock(w, r)
}

// events streams audit events as NDJSON. ?from=N starts at sequence N
// (default: the next event); ?follow=false ends once caught up.
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, v := range q {
		switch {
		case k != "from" && k != "follow":
			a.refuse(w, r, http.StatusBadRequest, ReasonInvalidRequest, fmt.Sprintf("unknown parameter %q: /api/events takes from=N and follow=false", truncate(k, 64)))
			return
		case len(v) > 1:
			a.refuse(w, r, http.StatusBadRequest, ReasonInvalidRequest, fmt.Sprintf("parameter %s given %d times", k, len(v)))
			return
		case k == "follow" && v[0] != "true" && v[0] != "false":
			a.refuse(w, r, http.StatusBadRequest, ReasonInvalidRequest, "follow must be true or false")
			return
		}
	}
	var sub *audit.Subscription
	if f := q.Get("from"); f != "" {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			a.refuse(w, r, http.StatusBadRequest, ReasonInvalidRequest, "from must be a sequence number: "+err.Error())
			return
		}
		sub, err = a.cfg.Bus.SubscribeFrom(n)
		if err != nil {
			a.refuse(w, r, http.StatusGone, ReasonGone, err.Error())
			return
		}
	} else {
		sub = a.cfg.Bus.Subscribe()
	}
	defer sub.Close()
	follow := q.Get("follow") != "false"
	// The stream outlives the server's read and write timeouts: lift them
	// for this response and bound each write instead, so that a client
	// that stops reading loses its own stream and nothing else.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Now().Add(a.cfg.StreamWriteTimeout))
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		a.streamError(r, sub, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(a.cfg.Context, cancel)
	defer stop()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for {
		rctx := ctx
		var rcancel context.CancelFunc = func() {}
		if !follow {
			rctx, rcancel = context.WithTimeout(ctx, 50*time.Millisecond)
		}
		evs, err := sub.NextBatch(rctx, 256)
		rcancel()
		if err != nil {
			return
		}
		rc.SetWriteDeadline(time.Now().Add(a.cfg.StreamWriteTimeout))
		for _, e := range evs {
			if err := enc.Encode(audit.Wire(e)); err != nil {
				a.streamError(r, sub, err)
				return
			}
		}
		if err := rc.Flush(); err != nil {
			a.streamError(r, sub, err)
			return
		}
	}
}

// streamError audits a stream cut by its write timeout (a client that
// went away is not a refusal). The subscription is closed first: the bus
// makes publishers wait for a lagging subscriber, which this one is.
func (a *api) streamError(r *http.Request, sub *audit.Subscription, err error) {
	sub.Close()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		a.audit(r, ReasonStreamWriteTimeout)
	}
}

func (a *api) outbox(w http.ResponseWriter, r *http.Request) {
	msgs := a.cfg.Outbox.List()
	if msgs == nil {
		msgs = []smtpd.OutboxMessage{}
	}
	for i := range msgs {
		msgs[i].Raw = nil
	}
	writeJSON(w, http.StatusOK, msgs)
}

func (a *api) outboxRaw(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		a.refuse(w, r, http.StatusBadRequest, ReasonInvalidRequest, "id must be a number")
		return
	}
	m, ok := a.cfg.Outbox.Get(id)
	if !ok {
		a.refuse(w, r, http.StatusNotFound, ReasonNotFound, fmt.Sprintf("no outbox message %d", id))
		return
	}
	if m.RawDropped || m.Raw == nil {
		a.refuse(w, r, http.StatusGone, ReasonGone, "raw bytes were not kept (outbox byte cap reached); metadata is in /api/outbox")
		return
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Write(m.Raw)
}
