package run

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/scenarios"
)

// The target's caches are sized for the actors that can talk to it at
// once: one on the virtual clock, where actors take turns; every staff
// member and scripted actor otherwise.
func TestConcurrentClients(t *testing.T) {
	sc, err := scenarios.Load("ministry-overnight")
	require.NoError(t, err)
	assert.Equal(t, 1, concurrentClients(sc, clock.NewVirtual(sc.Env.Start)))
	scaled, err := clock.NewScaled(sc.Env.Start, 60)
	require.NoError(t, err)
	assert.Equal(t, 25+1, concurrentClients(sc, scaled), "25 staff and the attacker")
}
