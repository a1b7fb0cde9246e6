package container

import (
	"context"
	"testing"
	"time"
)

// counts returns the maildrill-labelled containers and networks and all
// volumes now.
func counts(t *testing.T) Counts {
	t.Helper()
	c, err := Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sameCounts(t *testing.T, what string, before Counts) {
	t.Helper()
	if after := counts(t); after != before {
		t.Errorf("%s: before %+v, after %+v: something was left behind", what, before, after)
	}
}

// TestCleanupAfterClose: Close leaves nothing.
func TestCleanupAfterClose(t *testing.T) {
	needDocker(t)
	img := testImage(t)
	before := counts(t)
	m, err := Start(context.Background(), Options{Image: img, Users: 4, Messages: 5})
	if err != nil {
		t.Fatal(err)
	}
	if during := counts(t); during.Containers != before.Containers+1 || during.Networks != before.Networks+1 {
		t.Errorf("while running: %+v (before %+v): want one more container and network", during, before)
	}
	t0 := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("teardown %s", time.Since(t0))
	sameCounts(t, "after Close", before)
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCleanupOnFailureHalfway: a Start that fails after the network, or
// after the container is ready, removes what it made.
func TestCleanupOnFailureHalfway(t *testing.T) {
	needDocker(t)
	img := testImage(t)
	for _, stage := range []string{"network", "ready"} {
		before := counts(t)
		m, err := Start(context.Background(), Options{Image: img, Users: 4, Messages: 5, failAfter: stage})
		if err == nil || m != nil {
			t.Fatalf("failAfter %s: Start = %v, %v; want an error", stage, m, err)
		}
		sameCounts(t, "failure after "+stage, before)
	}
	// A container that never becomes ready (bad flag: serve exits).
	before := counts(t)
	_, err := Start(context.Background(), Options{Image: img, Users: -1, ReadyTimeout: 3 * time.Second})
	if err == nil {
		t.Fatal("Start with --users -1 succeeded")
	}
	t.Logf("not ready: %v", err)
	sameCounts(t, "container never ready", before)
}

// TestCleanupOnCancel: cancelling Start's context at various points (as
// Ctrl-C does) leaves nothing.
func TestCleanupOnCancel(t *testing.T) {
	needDocker(t)
	img := testImage(t)
	for _, after := range []time.Duration{time.Millisecond, 30 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond} {
		before := counts(t)
		ctx, cancel := context.WithTimeout(context.Background(), after)
		m, err := Start(ctx, Options{Image: img, Users: 4, Messages: 5})
		cancel()
		if err == nil {
			m.Close()
		}
		sameCounts(t, "cancel after "+after.String(), before)
	}
}

// TestSweep removes what a killed process left behind.
func TestSweep(t *testing.T) {
	needDocker(t)
	img := testImage(t)
	before := counts(t)
	m, err := Start(context.Background(), Options{Image: img, Users: 4, Messages: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Forget m as a killed process would; Sweep must find its objects.
	n, err := sweep(context.Background(), LabelSession+"="+m.session)
	if err != nil || n != 2 {
		t.Errorf("sweep removed %d objects (%v), want 2", n, err)
	}
	sameCounts(t, "after Sweep", before)
	m.Close() // nothing left to remove: must not fail badly
}
