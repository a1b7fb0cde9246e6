package container

import (
	"os"
	"sync"

	tclog "github.com/testcontainers/testcontainers-go/log"
)

var setupOnce sync.Once

// Setup prepares testcontainers-go for this process; it acts once, later
// calls do nothing. It sets two environment variables unless they are
// already set (and not empty): TESTCONTAINERS_RYUK_DISABLED=true (the reaper, Ryuk, needs
// an image pull and nothing can be pulled; maildrill removes what it
// starts itself, and Sweep what a killed process left) and
// TESTCONTAINERS_HOST_OVERRIDE=localhost (published ports answer on
// localhost). It silences testcontainers' own logger unless
// MAILDRILL_DOCKER_DEBUG is set.
//
// testcontainers-go reads its configuration once, at its first call, so
// Setup must come before any: Start and dovecot.StartContainer call it
// first thing; other code that calls testcontainers-go directly calls it
// too. Importing this package changes nothing.
func Setup() {
	setupOnce.Do(func() {
		for k, v := range map[string]string{
			"TESTCONTAINERS_RYUK_DISABLED": "true",
			"TESTCONTAINERS_HOST_OVERRIDE": "localhost",
		} {
			if os.Getenv(k) == "" {
				os.Setenv(k, v)
			}
		}
		if os.Getenv("MAILDRILL_DOCKER_DEBUG") == "" {
			tclog.SetDefault(tclog.NewNoopLogger())
		}
	})
}
