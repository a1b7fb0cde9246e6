// Package admin is mailsim's small HTTP API: health, users, the clock, the
// audit event stream (NDJSON) and the outside-world outbox. Off loopback,
// every request needs the bearer token.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/smtpd"
)

// Config wires the API to a running mail system.
type Config struct {
	Bus    *audit.Bus
	Outbox *smtpd.Outbox
	Clock  clock.Clock
	// Token, when set, is required as "Authorization: Bearer <token>" (or
	// ?token=) on every request but /healthz.
	Token string
	// Users returns the accounts, Info the listening addresses.
	Users func() any
	Info  func() any
	// Context ends long-running streams on shutdown.
	Context context.Context
	Logger  *slog.Logger
}

// New returns the API handler.
func New(cfg Config) http.Handler {
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	a := &api{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /api/info", a.auth(a.info))
	mux.HandleFunc("GET /api/users", a.auth(a.users))
	mux.HandleFunc("GET /api/clock", a.auth(a.getClock))
	mux.HandleFunc("POST /api/clock", a.auth(a.setClock))
	mux.HandleFunc("GET /api/events", a.auth(a.events))
	mux.HandleFunc("GET /api/outbox", a.auth(a.outbox))
	mux.HandleFunc("GET /api/outbox/{id}/raw", a.auth(a.outboxRaw))
	return mux
}

type api struct{ cfg Config }

func (a *api) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Token != "" {
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if got == "" {
				got = r.URL.Query().Get("token")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.Token)) != 1 {
				writeError(w, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token>")
				return
			}
		}
		h(w, r)
	}
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
func (a *api) setClock(w http.ResponseWriter, r *http.Request) {
	vc, ok := a.cfg.Clock.(*clock.Virtual)
	if !ok {
		writeError(w, http.StatusConflict, "the clock is not virtual; only a virtual clock can be set")
		return
	}
	var req struct {
		Set     *time.Time `json:"set"`
		Advance string     `json:"advance"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be {\"set\": \"<RFC3339 time>\"} or {\"advance\": \"<duration>\"}: "+err.Error())
		return
	}
	var err error
	switch {
	case req.Set != nil && req.Advance != "":
		err = errors.New("give either set or advance, not both")
	case req.Set != nil:
		err = vc.Set(*req.Set)
	case req.Advance != "":
		var d time.Duration
		d, err = time.ParseDuration(req.Advance)
		if err == nil {
			err = vc.Advance(d)
		}
	default:
		err = errors.New("give set or advance")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.getClock(w, r)
}

// events streams audit events as NDJSON. ?from=N starts at sequence N
// (default: the next event); ?follow=false ends once caught up.
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var sub *audit.Subscription
	if f := q.Get("from"); f != "" {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "from must be a sequence number: "+err.Error())
			return
		}
		sub, err = a.cfg.Bus.SubscribeFrom(n)
		if err != nil {
			writeError(w, http.StatusGone, err.Error())
			return
		}
	} else {
		sub = a.cfg.Bus.Subscribe()
	}
	defer sub.Close()
	follow := q.Get("follow") != "false"
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
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
		for _, e := range evs {
			if err := enc.Encode(audit.Wire(e)); err != nil {
				return
			}
		}
		if fl != nil {
			fl.Flush()
		}
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
		writeError(w, http.StatusBadRequest, "id must be a number")
		return
	}
	m, ok := a.cfg.Outbox.Get(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no outbox message %d", id))
		return
	}
	if m.RawDropped || m.Raw == nil {
		writeError(w, http.StatusGone, "raw bytes were not kept (outbox byte cap reached); metadata is in /api/outbox")
		return
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Write(m.Raw)
}
