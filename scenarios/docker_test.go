package scenarios

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

func needDocker(t testing.TB) {
	t.Helper()
	if os.Getenv("MAILDRILL_DOCKER") != "1" {
		t.Skip("set MAILDRILL_DOCKER=1 (needs a Docker daemon; see docs/containers.md)")
	}
}

// TestDockerTargetMatchesEmbedded runs a library scenario on the embedded
// target and on the mailsim container: same events, same verdicts, and
// the attacker's address in the container's audit trail.
func TestDockerTargetMatchesEmbedded(t *testing.T) {
	needDocker(t)
	sc, err := Load("brute-force")
	if err != nil {
		t.Fatal(err)
	}
	emb, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	dock, err := Run(context.Background(), sc, Options{Target: "docker", Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("docker run: %s wall (embedded %s)", time.Since(t0), emb.Wall)
	if dock.Events != emb.Events || len(dock.Alerts) != len(emb.Alerts) {
		t.Errorf("docker: %d events %d alerts; embedded: %d events %d alerts", dock.Events, len(dock.Alerts), emb.Events, len(emb.Alerts))
	}
	for i, v := range dock.Verdicts {
		if v.OK() != emb.Verdicts[i].OK() {
			t.Errorf("verdict %d differs: docker %v, embedded %v", i, v.OK(), emb.Verdicts[i].OK())
		}
	}
	if len(dock.attackerIPs) == 0 {
		t.Fatal("no attacker address in the truth")
	}
	seen := false
	for _, ip := range dock.eventSrc {
		if dock.attackerIPs[ip] {
			seen = true
		}
	}
	if !seen {
		t.Errorf("the container's events never show an attacker address %v", dock.attackerIPs)
	}
}
