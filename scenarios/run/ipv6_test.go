package run

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"testing"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A session's key is the same whether made from the address the runner
// dialled from or from the address and port its events carry, for both
// address families.
func TestLaneKeyIsTheAddressPort(t *testing.T) {
	for _, s := range []string{"203.0.113.5:40001", "[2001:db8:77::2d86]:40002", "[::1]:993"} {
		ap := netip.MustParseAddrPort(s)
		assert.Equal(t, ap.String(), laneKey(ap.Addr().String(), int(ap.Port())), s)
	}
}

// safeBuffer is a bytes.Buffer for a logger written from several
// goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An attacker from an IPv6 network: the runner sees the end of each of its
// sessions in the trail (it used to key the ends it waited for as
// [ip]:port and the ends it saw as ip:port, and waited 10 s for each).
func TestIPv6SourceSessionsEnd(t *testing.T) {
	v6 := netip.MustParsePrefix("2001:db8:77::/48")
	for _, oneAtATime := range []bool{false, true} {
		sc, err := scenarios.Parse("v6.yaml", []byte(`
id: v6
title: an attacker from an IPv6 network
environment: {users: 5, messages: 10, seed: 1, start: 2025-12-11T07:00:00+01:00, duration: 1h}
actors:
  - id: staff
    kind: staff
    staff: {count: 3, workday: "07:00-08:00"}
  - id: a
    kind: attacker
    source: 2001:db8:77::/48
    credentials: {user: director, from: stolen}
    steps:
      - login: {}
      - list
      - logout
      - login: {}
      - logout
`))
		require.NoError(t, err)
		var logs safeBuffer
		var mu sync.Mutex
		ends := map[netip.AddrPort]int{}
		_, err = Run(context.Background(), sc, Options{
			OneAtATime: oneAtATime,
			Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
			OnEvent: func(e audit.Event) {
				a, err := netip.ParseAddr(e.SourceIP)
				if e.Action == audit.IMAPLogout && err == nil && v6.Contains(a) {
					mu.Lock()
					ends[netip.AddrPortFrom(a, uint16(e.SourcePort))]++
					mu.Unlock()
				}
			},
		})
		require.NoError(t, err)
		assert.NotContains(t, logs.String(), "session end not seen", "one at a time: %v", oneAtATime)
		assert.Len(t, ends, 2, "the attacker's two sessions ended, from its IPv6 network")
	}
}
