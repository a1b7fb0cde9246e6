package run

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/stretchr/testify/require"
)

func TestFlagshipDebug(t *testing.T) {
	if os.Getenv("MD_DEBUG") == "" {
		t.Skip()
	}
	sc, err := scenarios.Load("ministry-overnight")
	require.NoError(t, err)
	t0 := time.Now()
	res, err := Run(context.Background(), sc, Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)), Progress: func(n Note) {
		if n.Actor == "attacker" && n.Kind != "progress" {
			t.Logf("%s %-8s %-10s %s", n.Time.Format("15:04:05"), n.Kind, n.Actor, n.Text)
		}
	}})
	t.Logf("wall %s, events %d, truth %d, alerts %d", time.Since(t0), res.Events, len(res.Truth), len(res.Alerts))
	require.NoError(t, err)
	for _, a := range res.Alerts {
		t.Logf("ALERT %s %s %s %v", a.Time.In(sc.Env.Location).Format("15:04:05"), a.Level, a.Title, a.Group)
	}
}
