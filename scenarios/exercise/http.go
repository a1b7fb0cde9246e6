package exercise

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Handler serves both views: the facilitator's under /f/TOKEN/ and the
// players' under /soc/TOKEN/. A wrong token is a 404 and a refusal on
// the facilitator's log. ctx ends the live streams (server shutdown).
func (x *Exercise) Handler(ctx context.Context) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "maildrill exercise: open the facilitator's or the players' link printed when the exercise started.\n")
	})
	fac := func(h http.HandlerFunc) http.HandlerFunc { return x.guard("facilitator", x.cfg.FacilitatorToken, h) }
	soc := func(h http.HandlerFunc) http.HandlerFunc { return x.guard("soc", x.cfg.SOCToken, h) }

	mux.HandleFunc("GET /f/{tok}/{$}", fac(asset("assets/facilitator.html")))
	mux.HandleFunc("GET /f/{tok}/app.css", fac(asset("assets/app.css")))
	mux.HandleFunc("GET /f/{tok}/facilitator.js", fac(asset("assets/facilitator.js")))
	mux.HandleFunc("GET /f/{tok}/stream", fac(func(w http.ResponseWriter, r *http.Request) { x.fac.serve(ctx, w, r) }))
	mux.HandleFunc("GET /f/{tok}/scenario", fac(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, x.scenarioInfo()) }))
	mux.HandleFunc("POST /f/{tok}/control", fac(x.handleControl))
	mux.HandleFunc("POST /f/{tok}/note", fac(x.handleNote))
	mux.HandleFunc("GET /f/{tok}/debrief", fac(x.handleDebrief))

	mux.HandleFunc("GET /soc/{tok}/{$}", soc(asset("assets/soc.html")))
	mux.HandleFunc("GET /soc/{tok}/app.css", soc(asset("assets/app.css")))
	mux.HandleFunc("GET /soc/{tok}/soc.js", soc(asset("assets/soc.js")))
	mux.HandleFunc("GET /soc/{tok}/stream", soc(func(w http.ResponseWriter, r *http.Request) { x.soc.serve(ctx, w, r) }))
	mux.HandleFunc("POST /soc/{tok}/answer", soc(x.handleAnswer))
	mux.HandleFunc("POST /soc/{tok}/ack", soc(x.handleAck))
	return mux
}

func (x *Exercise) guard(view, token string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got := r.PathValue("tok")
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			x.refused(view+" view", "wrong access token", r.RemoteAddr)
			http.Error(w, "unknown link: use the link printed when the exercise started", http.StatusNotFound)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h(w, r)
	}
}

func asset(name string) http.HandlerFunc {
	ctype := "text/html; charset=utf-8"
	switch {
	case strings.HasSuffix(name, ".css"):
		ctype = "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		ctype = "text/javascript; charset=utf-8"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
		w.Write(b)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// readJSON decodes a small JSON body strictly; errors say why.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %v", err)
	}
	if dec.More() {
		return errors.New("request body: one JSON object expected")
	}
	return nil
}

func (x *Exercise) bad(w http.ResponseWriter, r *http.Request, view string, err error) {
	x.refused(view+" "+r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:], err.Error(), r.RemoteAddr)
	http.Error(w, err.Error(), http.StatusBadRequest)
}

func (x *Exercise) handleControl(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Action string  `json:"action"`
		Speed  float64 `json:"speed"`
	}
	if err := readJSON(r, &req); err != nil {
		x.bad(w, r, "facilitator", err)
		return
	}
	msg, err := x.control(req.Action, req.Speed)
	if err != nil {
		x.bad(w, r, "facilitator", err)
		return
	}
	writeJSON(w, map[string]string{"ok": msg})
}

func (x *Exercise) handleNote(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Text string `json:"text"`
	}
	if err := readJSON(r, &req); err != nil {
		x.bad(w, r, "facilitator", err)
		return
	}
	req.Text = strings.TrimSpace(req.Text)
	if req.Text == "" || len(req.Text) > maxAnswer {
		x.bad(w, r, "facilitator", fmt.Errorf("note: 1 to %d bytes of text", maxAnswer))
		return
	}
	n := x.note(req.Text)
	writeJSON(w, map[string]string{"ok": stamp(n.At, x.loc())})
}

func (x *Exercise) handleAnswer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Inject   int    `json:"inject"`
		Question string `json:"question"`
		Answer   string `json:"answer"`
	}
	if err := readJSON(r, &req); err != nil {
		x.bad(w, r, "soc", err)
		return
	}
	rc, err := x.answer(req.Inject, req.Question, req.Answer)
	if err != nil {
		x.bad(w, r, "soc", err)
		return
	}
	writeJSON(w, rc)
}

func (x *Exercise) handleAck(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Alert int `json:"alert"`
	}
	if err := readJSON(r, &req); err != nil {
		x.bad(w, r, "soc", err)
		return
	}
	rc, err := x.ack(req.Alert)
	if err != nil {
		x.bad(w, r, "soc", err)
		return
	}
	writeJSON(w, rc)
}

func (x *Exercise) handleDebrief(w http.ResponseWriter, r *http.Request) {
	select {
	case <-x.done:
	default:
		http.Error(w, "the debrief is ready when the exercise has ended", http.StatusConflict)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="debrief-%s-%s.html"`, x.sc.ID, time.Now().Format("20060102-1504")))
	}
	if err := x.Debrief(w); err != nil {
		x.log.Error("exercise: debrief", "err", err)
	}
}

// scenarioInfo is the facilitator's static picture of the scenario.
func (x *Exercise) scenarioInfo() map[string]any {
	var actors []map[string]any
	for _, a := range x.sc.Actors {
		item := map[string]any{"id": a.ID, "kind": a.Kind}
		var steps []map[string]any
		for _, st := range a.Steps {
			s := map[string]any{"id": st.ID, "text": st.Describe()}
			if st.At != nil {
				s["at"] = stamp(x.atTime(st.At), x.loc())
			}
			steps = append(steps, s)
		}
		item["steps"] = steps
		actors = append(actors, item)
	}
	var expect []map[string]any
	for _, e := range x.sc.Expect {
		m := map[string]any{"rule": e.Rule, "after": orStart(e.Anchor), "within": e.MaxDelay.String(), "must_not_fire": e.NotFire}
		expect = append(expect, m)
	}
	var injects []map[string]any
	for _, in := range x.sc.Injects {
		var qs []map[string]any
		for _, q := range in.Questions {
			qs = append(qs, map[string]any{"id": q.ID, "text": q.Text, "choices": q.Choices, "expected": q.Answer})
		}
		injects = append(injects, map[string]any{"id": in.ID, "title": in.Title, "text": in.Text, "when": releaseText(in.Release), "questions": qs})
	}
	return map[string]any{"id": x.sc.ID, "title": x.sc.Title, "narrative": x.sc.Narrative, "start": stamp(x.sc.Env.Start, x.loc()),
		"end": stamp(x.sc.Env.Start.Add(x.sc.Env.Duration), x.loc()), "actors": actors, "expect": expect, "injects": injects}
}
