package scenarios

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const miniYAML = `
id: mini
title: mini
environment: {users: 8, messages: 20, start: 2025-12-11T23:00:00+01:00, duration: 2h}
actors:
  - id: attacker
    kind: attacker
    source: 203.0.113.9
    client: {name: X, version: "1"}
    credentials: {user: secretariat}
    steps:
      - login: {}
      - list: {}
      - logout
      - spray: {users: 3, passwords: [a], delay: 10s}
      - send: {to: [x@out.example], subject: hi}
`

func TestMiniDebug(t *testing.T) {
	if os.Getenv("MD_DEBUG") == "" {
		t.Skip()
	}
	sc, err := Parse("mini.yaml", []byte(miniYAML))
	require.NoError(t, err)
	t0 := time.Now()
	res, err := Run(context.Background(), sc, Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)), Progress: func(n Note) {
		t.Logf("%s %s %s %s (wall %s)", n.Time.Format("15:04:05"), n.Kind, n.Actor, n.Text, time.Since(t0))
	}})
	require.NoError(t, err)
	t.Logf("wall %s events %d truth %d", time.Since(t0), res.Events, len(res.Truth))
	for _, tr := range res.Truth {
		t.Logf("%+v", tr)
	}
}
