package run

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/target"
)

func TestAllowList(t *testing.T) {
	m, err := AllowList([]string{"mail.example.org:993"})
	require.NoError(t, err)
	assert.True(t, m.Dial("mail.example.org:993"))
	for _, bad := range []string{"*:993", ":993", "0.0.0.0/0"} {
		_, err := AllowList([]string{bad})
		assert.Error(t, err, bad)
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tg, err := target.Start(context.Background(), target.Spec{Seed: 1, Users: 4, Messages: 5,
		Clock: clock.NewVirtual(start), Start: start, RunID: "md-allow", CertDir: t.TempDir()})
	require.NoError(t, err)
	defer tg.Close()
	r := &runner{target: tg, opts: Options{AllowTargets: m}}
	assert.NoError(t, r.checkDial(tg.Endpoints().IMAPS))
	assert.NoError(t, r.checkDial("mail.example.org:993"))
	err = r.checkDial("10.1.2.3:993")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--allow-target")
}
