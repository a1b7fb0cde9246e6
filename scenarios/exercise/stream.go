package exercise

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// stream is one view's append-only event log, served as server-sent
// events. Every event keeps its id for the life of the exercise, so a
// browser that reconnects (EventSource sends Last-Event-ID) gets exactly
// what it missed.
type stream struct {
	mu     sync.Mutex
	events []sseEvent
	notify chan struct{} // closed and replaced at each append
	drop   chan struct{} // closed and replaced to end the open connections (tests)
}

type sseEvent struct {
	ID   int
	Type string
	Data []byte
}

func newStream() *stream {
	return &stream{notify: make(chan struct{}), drop: make(chan struct{})}
}

// publish appends an event (v marshalled as JSON) and returns its id.
func (s *stream) publish(typ string, v any) int {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := len(s.events) + 1
	s.events = append(s.events, sseEvent{ID: id, Type: typ, Data: data})
	close(s.notify)
	s.notify = make(chan struct{})
	return id
}

// since returns the events after id and the channel closed at the next
// append.
func (s *stream) since(id int) ([]sseEvent, <-chan struct{}, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 0 {
		id = 0
	}
	if id > len(s.events) {
		id = len(s.events)
	}
	return s.events[id:], s.notify, s.drop
}

func (s *stream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// dropConnections ends every open connection (the browsers reconnect).
func (s *stream) dropConnections() {
	s.mu.Lock()
	close(s.drop)
	s.drop = make(chan struct{})
	s.mu.Unlock()
}

// lastEventID reads where a client is: the Last-Event-ID header of a
// reconnecting EventSource, else ?last= (a page opened afresh sends 0).
func lastEventID(r *http.Request) (int, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("Last-Event-ID %q: want a non-negative event number", v)
	}
	return n, nil
}

// serve writes the stream as text/event-stream until the client leaves,
// the server stops or the connections are dropped.
func (s *stream) serve(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	last, err := lastEventID(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 500\n\n")
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		evs, notify, drop := s.since(last)
		for _, e := range evs {
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, e.Data)
			last = e.ID
		}
		if len(evs) > 0 {
			fl.Flush()
		}
		select {
		case <-notify:
		case <-drop:
			return
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		case <-r.Context().Done():
			return
		case <-ctx.Done():
			return
		}
	}
}
