// Package mailsimtest starts a mail system for a test, in the manner of
// net/http/httptest: on 127.0.0.1 with ephemeral ports, closed by
// t.Cleanup, its audit trail readable by the test.
package mailsimtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
)

// Server is a mail system under test.
type Server struct {
	*mailsim.Server
	t   testing.TB
	sub *audit.Subscription

	mu     sync.Mutex
	events []*audit.Event
}

// DefaultStart is the virtual clock's start when none is given.
var DefaultStart = time.Date(2025, 12, 11, 23, 40, 0, 0, time.FixedZone("CET", 3600))

// New starts a small organisation (10 users × 40 messages, seed 1) unless
// cfg says otherwise, with a virtual clock at DefaultStart unless cfg.Clock
// is set. Every audit event is captured for Events.
func New(t testing.TB, cfg ...mailsim.Config) *Server {
	t.Helper()
	var c mailsim.Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.Users == 0 {
		c.Users = 10
	}
	if c.MessagesPerUser == 0 {
		c.MessagesPerUser = 40
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Clock == nil {
		c.Clock = clock.NewVirtual(DefaultStart)
	}
	if c.CertDir == "" {
		c.CertDir = t.TempDir()
	}
	srv, err := mailsim.Start(context.Background(), c)
	if err != nil {
		t.Fatalf("mailsimtest: start: %v", err)
	}
	s := &Server{Server: srv, t: t}
	s.sub = srv.Bus.Subscribe() // nothing happened yet: no event is missed
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("mailsimtest: close: %v", err)
		}
	})
	return s
}

// VirtualClock returns the virtual clock, or nil when another is in use.
func (s *Server) VirtualClock() *clock.Virtual {
	vc, _ := s.Clock.(*clock.Virtual)
	return vc
}

// Events returns every audit event published so far, waiting until the
// servers have been quiet for settle (default 200ms) so that events of
// actions just performed are included.
func (s *Server) Events(settle ...time.Duration) []*audit.Event {
	s.t.Helper()
	d := 200 * time.Millisecond
	if len(settle) > 0 {
		d = settle[0]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		evs, err := s.sub.NextBatch(ctx, 0)
		cancel()
		if err != nil {
			break
		}
		s.events = append(s.events, evs...)
	}
	return append([]*audit.Event(nil), s.events...)
}

// EventsFor filters Events by action.
func (s *Server) EventsFor(action string) []*audit.Event {
	var out []*audit.Event
	for _, e := range s.Events() {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// Person returns the first person account with the given role ("" for any).
func (s *Server) Person(role string) account.Account {
	s.t.Helper()
	for _, a := range s.Accounts() {
		if a.Kind == "person" && (role == "" || a.Role == role) {
			return a
		}
	}
	s.t.Fatalf("mailsimtest: no account with role %q", role)
	return account.Account{}
}
