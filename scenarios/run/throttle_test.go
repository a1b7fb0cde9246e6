package run

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/stretchr/testify/require"
)

const throttledSpray = `
id: throttled-spray
title: a spray against a server that throttles
environment:
  seed: 11
  users: 30
  messages: 5
  start: 2025-12-09T19:00:00+01:00
  duration: 1h
  auth_throttling: {failure_delay: 2s, max_failures_per_source: 10, window: 15m}
actors:
  - id: sprayer
    kind: attacker
    source: 45.155.205.17
    steps:
      - id: imap-spray
        at: "19:10"
        spray: {users: 25, passwords: [Hiver2025!], delay: 6s}
expect:
  - rule: IMAP Password Spray From One Source
    after: imap-spray
    within: 5m
    group: {source.ip: 45.155.205.17}
`

// TestThrottledSpray: with environment.auth_throttling, the mail system
// throttles on the scenario clock (a virtual-clock run waits no wall time
// for the failure delays), the refusals past the per-source limit are in
// the audit trail, and the spray rule still sees the spray.
func TestThrottledSpray(t *testing.T) {
	sc, err := scenarios.Parse("throttled.yaml", []byte(throttledSpray))
	require.NoError(t, err)
	require.Equal(t, 10, sc.Env.Throttle.MaxFailuresPerSource)
	var events bytes.Buffer
	res, err := Run(context.Background(), sc, Options{Events: &events})
	require.NoError(t, err)
	require.False(t, res.Failed, "%+v", res.Verdicts)
	reasons := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(events.String()), "\n") {
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &e))
		if e["event.action"] == "imap.login" && e["event.outcome"] == "failure" {
			reasons[e["event.reason"].(string)]++
		}
	}
	require.Equal(t, 10, reasons["invalid_credentials"]+reasons["unknown_user"], "the first ten failures are checked: %v", reasons)
	require.Equal(t, 15, reasons["throttled_source"], "the rest are refused unchecked: %v", reasons)
}

// TestThrottleValidation: a throttle that throttles nothing, or bad values,
// are refused at their line; the dovecot target refuses it before any packet.
func TestThrottleValidation(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"auth_throttling: {window: 5m}", "auth_throttling throttles nothing"},
		{"auth_throttling: {failure_delay: soon}", `failure_delay: invalid duration "soon"`},
		{"auth_throttling: {max_failures_per_source: 0}", "max_failures_per_source"},
		{"auth_throttling: {max_failures_per_sorce: 3}", `unknown key "max_failures_per_sorce"`},
	} {
		src := strings.Replace(throttledSpray, "auth_throttling: {failure_delay: 2s, max_failures_per_source: 10, window: 15m}", tc.env, 1)
		_, err := scenarios.Parse("t.yaml", []byte(src))
		require.ErrorContains(t, err, tc.want)
		require.ErrorContains(t, err, "t.yaml:10:")
	}
	sc, err := scenarios.Parse("throttled.yaml", []byte(throttledSpray))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = Run(ctx, sc, Options{Target: "dovecot"})
	require.ErrorContains(t, err, "auth_throttling is mailsim's")
}
