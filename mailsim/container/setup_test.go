package container

import (
	"os"
	"testing"
)

// Setup turns the reaper off and points testcontainers at localhost unless
// the environment says otherwise, and a second call changes nothing.
func TestSetup(t *testing.T) {
	ryuk, ryukSet := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED")
	t.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "docker.example")
	Setup()
	Setup()
	if got := os.Getenv("TESTCONTAINERS_HOST_OVERRIDE"); got != "docker.example" {
		t.Errorf("TESTCONTAINERS_HOST_OVERRIDE = %q: Setup replaced a value the environment set", got)
	}
	want := "true"
	if ryukSet && ryuk != "" {
		want = ryuk
	}
	if got := os.Getenv("TESTCONTAINERS_RYUK_DISABLED"); got != want {
		t.Errorf("TESTCONTAINERS_RYUK_DISABLED = %q, want %q", got, want)
	}
}
