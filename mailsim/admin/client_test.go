package admin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// TestFollowReadsTheStream follows a live admin API's event stream over
// TCP: every event arrives once, in order, and a refused token is said on
// the log and retried.
func TestFollowReadsTheStream(t *testing.T) {
	srv, bus, _ := setup(t, tok)
	for _, u := range []string{"a@interieur.test", "b@interieur.test", "c@interieur.test"} {
		bus.Publish(audit.Event{Action: audit.IMAPLogin, Outcome: audit.Success, UserName: u})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var users []string
	var log bytes.Buffer
	Follow(ctx, srv.URL+"/api/events", tok, 0, &syncWriter{w: &log, mu: &mu, cancel: func() {}}, func(e audit.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if e.Action == audit.IMAPLogin {
			users = append(users, e.UserName)
		}
		if len(users) == 3 {
			cancel()
		}
		return nil
	})
	assert.Equal(t, []string{"a@interieur.test", "b@interieur.test", "c@interieur.test"}, users)
	assert.Contains(t, log.String(), "detect: following "+srv.URL+"/api/events?from=1")

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	log.Reset()
	Follow(ctx, srv.URL+"/api/events", "wrong", 0, &syncWriter{w: &log, mu: &mu, cancel: cancel}, func(audit.Event) error {
		t.Error("an event through a refused token")
		return nil
	})
	assert.Contains(t, log.String(), "detect: 401 Unauthorized")
	assert.Contains(t, log.String(), "retrying in 0s")
}

// TestFollowStopsOnItsHandlersError: a handler that cannot deliver (a
// detector whose stdout is a full disk) stops Follow with its error, at
// the event it failed on; Follow used to log it as a stream error, skip
// that event and reconnect for ever, every later alert lost as well.
func TestFollowStopsOnItsHandlersError(t *testing.T) {
	srv, bus, _ := setup(t, tok)
	for _, u := range []string{"a@interieur.test", "b@interieur.test", "c@interieur.test"} {
		bus.Publish(audit.Event{Action: audit.IMAPLogin, Outcome: audit.Success, UserName: u})
	}
	full := errors.New("no space left on device")
	var mu sync.Mutex
	var log bytes.Buffer
	var calls []string
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		done <- Follow(ctx, srv.URL+"/api/events", tok, 0, &syncWriter{w: &log, mu: &mu, cancel: func() {}}, func(e audit.Event) error {
			if e.Action != audit.IMAPLogin {
				return nil
			}
			calls = append(calls, e.UserName)
			if e.UserName == "b@interieur.test" {
				return full
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, full)
	case <-time.After(10 * time.Second):
		t.Fatal("Follow went on after its handler failed")
	}
	assert.Equal(t, []string{"a@interieur.test", "b@interieur.test"}, calls, "nothing after the failed event")
	assert.NotContains(t, log.String(), "retrying")

	// A stream that ends with the context is not an error.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	assert.NoError(t, Follow(ctx2, srv.URL+"/api/events", tok, 0, &bytes.Buffer{}, func(audit.Event) error { return nil }))
}

// syncWriter serialises writes to the log, and calls cancel once Follow
// says it retries.
type syncWriter struct {
	w      *bytes.Buffer
	mu     *sync.Mutex
	cancel func()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.Contains(string(p), "retrying") {
		s.cancel()
	}
	return s.w.Write(p)
}

// TestReadEventsNamesTheBadLine: a line that is not an event is reported
// with the stream's name and line.
func TestReadEventsNamesTheBadLine(t *testing.T) {
	in := `{"event.id":"1","event.action":"imap.login"}` + "\n" + `{"event.id":` + "\n"
	var got []string
	err := ReadEvents(strings.NewReader(in), "events", func(e audit.Event) error {
		got = append(got, e.ID)
		return nil
	})
	require.ErrorContains(t, err, "events:2: ")
	assert.Equal(t, []string{"1"}, got)
}
