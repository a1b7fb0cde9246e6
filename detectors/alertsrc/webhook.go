package alertsrc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/maildrill/maildrill/detectors"
)

// Webhook receives alerts a SIEM posts over HTTP: POST a JSON object, an
// array of objects, or JSON lines, to any path. With RunID set, alerts of
// other runs are counted and dropped; without, it keeps every run's alerts
// and For gives each run its own. It answers 202 with the counts, 400 for
// a body it cannot read, 401 without the token when one is set.
type Webhook struct {
	Mapping Mapping
	RunID   string // "" keeps every run's alerts (see For)
	// Token, when set, is required as "Authorization: Bearer TOKEN".
	Token  string
	Logger *slog.Logger

	mu       sync.Mutex
	alerts   []tagged
	other    int
	rejected int

	srv *http.Server
	ln  net.Listener
}

var _ Source = (*Webhook)(nil)

// MaxBody bounds a posted body.
const MaxBody = 8 << 20

// ServeHTTP takes one post of alerts.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", "POST")
		http.Error(rw, "POST alerts as JSON", http.StatusMethodNotAllowed)
		return
	}
	if w.Token != "" {
		want := "Bearer " + w.Token
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
			http.Error(rw, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > MaxBody {
		http.Error(rw, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	all, err := w.Mapping.decodeAll(body)
	var alerts []tagged
	other := 0
	for _, t := range all {
		if w.RunID == "" || w.Mapping.accepts(t.runID, t.hasRunID, w.RunID) {
			alerts = append(alerts, t)
		} else {
			other++
		}
	}
	w.mu.Lock()
	w.alerts = append(w.alerts, alerts...)
	w.other += other
	if err != nil {
		w.rejected++
	}
	w.mu.Unlock()
	if w.Logger != nil {
		w.Logger.Debug("outside alerts", "accepted", len(alerts), "other_run", other, "err", err)
	}
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(rw, `{"accepted":%d,"other_run":%d}`+"\n", len(alerts), other)
}

// Listen starts serving on addr (host:port; port 0 picks one).
func (w *Webhook) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("alert webhook: %w", err)
	}
	w.ln = ln
	w.srv = &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := w.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && w.Logger != nil {
			w.Logger.Error("alert webhook", "err", err)
		}
	}()
	return nil
}

// URL is where to post alerts, once listening.
func (w *Webhook) URL() string {
	if w.ln == nil {
		return ""
	}
	return "http://" + w.ln.Addr().String() + "/alerts"
}

// Close stops the server, waiting for posts in flight.
func (w *Webhook) Close() error {
	if w.srv == nil {
		return nil
	}
	return w.srv.Shutdown(context.Background())
}

// Alerts returns the alerts received so far (of RunID, when set).
func (w *Webhook) Alerts(context.Context) ([]detectors.Alert, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]detectors.Alert, 0, len(w.alerts))
	for _, t := range w.alerts {
		out = append(out, t.alert)
	}
	return out, nil
}

// For is the source of one run's alerts, for a webhook shared by runs
// (RunID unset): alerts naming that run, and alerts naming none unless the
// mapping requires a run id.
func (w *Webhook) For(runID string) Source { return runView{w, runID} }

type runView struct {
	w     *Webhook
	runID string
}

func (v runView) Alerts(context.Context) ([]detectors.Alert, error) {
	v.w.mu.Lock()
	defer v.w.mu.Unlock()
	var out []detectors.Alert
	for _, t := range v.w.alerts {
		if v.w.Mapping.accepts(t.runID, t.hasRunID, v.runID) {
			out = append(out, t.alert)
		}
	}
	return out, nil
}

// Counts says how many alerts were accepted, dropped as another run's, and
// how many posts were refused.
func (w *Webhook) Counts() (accepted, otherRun, rejected int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.alerts), w.other, w.rejected
}
