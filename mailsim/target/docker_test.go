package target_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/container"
	"github.com/maildrill/maildrill/mailsim/dovecot"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/run"
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
	sc, err := scenarios.Load("brute-force")
	if err != nil {
		t.Fatal(err)
	}
	emb, err := run.Run(context.Background(), sc, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var events bytes.Buffer
	dock, err := run.Run(context.Background(), sc, run.Options{Target: "docker", Events: &events})
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
	attackers := map[string]bool{}
	for _, tr := range dock.Truth {
		if tr.Role != "staff" && tr.SourceIP != "" {
			attackers[tr.SourceIP] = true
		}
	}
	if len(attackers) == 0 {
		t.Fatal("no attacker address in the truth")
	}
	seen := false
	lines := bufio.NewScanner(&events)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var e audit.Event
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("event: %v: %s", err, lines.Bytes())
		}
		seen = seen || attackers[e.SourceIP]
	}
	if !seen {
		t.Errorf("the container's events never show an attacker address %v", attackers)
	}
}

// runStoppedHalfway runs the flagship on target with a wall deadline that
// falls mid-scenario (the image is built beforehand), on a clock scaled
// by speed (0: the scenario's, virtual), and checks that the run did
// start and was stopped.
func runStoppedHalfway(t *testing.T, target string, deadline time.Duration, speed float64) {
	t.Helper()
	sc, err := scenarios.Load("ministry-overnight")
	if err != nil {
		t.Fatal(err)
	}
	res, err := run.Run(context.Background(), sc, run.Options{Target: target, WallDeadline: deadline, Speed: speed})
	if err == nil {
		t.Fatal("the run finished within its deadline; make the deadline shorter")
	}
	if res == nil || res.Actions == 0 {
		t.Fatalf("the run did not get half-way: %v", err)
	}
	t.Logf("stopped after %d actions: %s", res.Actions, strings.SplitN(err.Error(), "\n", 2)[0])
}

// TestDockerRunFailingHalfwayLeavesNothing: a run stopped half-way (its
// wall deadline passes mid-scenario) still removes the container and its
// network.
func TestDockerRunFailingHalfwayLeavesNothing(t *testing.T) {
	needDocker(t)
	before, err := container.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := container.BuildImage(context.Background(), container.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	// On a scaled clock, an hour of the scenario a second: its 20 hours
	// take 20 s, however fast the machine (on the virtual clock a fast
	// one finished within the deadline).
	runStoppedHalfway(t, "docker", 4*time.Second, 3600)
	after, err := container.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("before %+v, after %+v: something was left behind", before, after)
	}
}

// TestDovecotRunFailingHalfwayLeavesNothing: a run on the Dovecot target
// stopped half-way (its wall deadline passes mid-scenario) removes its
// container.
func TestDovecotRunFailingHalfwayLeavesNothing(t *testing.T) {
	needDocker(t)
	before, err := dovecot.CountContainers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dovecot.BuildImage(context.Background()); err != nil {
		t.Fatal(err)
	}
	runStoppedHalfway(t, "dovecot", 6*time.Second, 0)
	after, err := dovecot.CountContainers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("%d Dovecot containers before, %d after: something was left behind", before, after)
	}
}
