package run

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/maildrill/maildrill/scenarios"
)

// TestRunIDs: a run on its own mail system has the id its scenario and
// seed give (the same trail every time); a run on the remote target,
// whose server other runs share, has one of its own, or one run's
// cleanup removed the messages another had seeded.
func TestRunIDs(t *testing.T) {
	for _, target := range []string{"embedded", "docker", "dovecot"} {
		a, b := newRunID("password-spray", 11, target), newRunID("password-spray", 11, target)
		assert.Equal(t, a, b, target)
		assert.Regexp(t, `^md-password-spray-[0-9a-f]{8}$`, a)
		id, ok := scenarios.ScenarioOfRunID(a)
		assert.True(t, ok)
		assert.Equal(t, "password-spray", id)
	}
	assert.NotEqual(t, newRunID("password-spray", 11, "embedded"), newRunID("password-spray", 12, "embedded"), "another seed")
	a, b := newRunID("password-spray", 11, "remote"), newRunID("password-spray", 11, "remote")
	assert.NotEqual(t, a, b, "two remote runs")
	assert.Regexp(t, `^md-password-spray-[0-9a-f]{8}-r[0-9a-f]{8}$`, a)
}
