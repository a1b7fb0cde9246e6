package run

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
)

// runBoth runs sc one action at a time and side by side and returns both
// runs' events and truth.
func runTwice(t *testing.T, sc *scenarios.Scenario, opts Options) (ev, tr [2]*bytes.Buffer, res [2]*scenarios.Result) {
	t.Helper()
	for i, one := range []bool{true, false} {
		ev[i], tr[i] = &bytes.Buffer{}, &bytes.Buffer{}
		o := opts
		o.OneAtATime, o.Events, o.Truth = one, ev[i], tr[i]
		r, err := Run(context.Background(), sc, o)
		require.NoError(t, err)
		res[i] = r
	}
	return ev, tr, res
}

func TestSideBySideIsOneAtATime(t *testing.T) {
	sc, err := scenarios.Load("ministry-overnight")
	require.NoError(t, err)
	ev, tr, res := runTwice(t, sc, Options{})
	assert.Equal(t, res[0].Events, res[1].Events)
	assert.True(t, bytes.Equal(tr[0].Bytes(), tr[1].Bytes()), "truth differs")
	if !bytes.Equal(ev[0].Bytes(), ev[1].Bytes()) {
		a, b := bytes.Split(ev[0].Bytes(), []byte("\n")), bytes.Split(ev[1].Bytes(), []byte("\n"))
		n := 0
		for i := 0; i < min(len(a), len(b)) && n < 5; i++ {
			if !bytes.Equal(a[i], b[i]) {
				k := 0
				for k < min(len(a[i]), len(b[i])) && a[i][k] == b[i][k] {
					k++
				}
				lo := max(0, k-200)
				t.Errorf("line %d:\none: …%s\nside: …%s", i+1, a[i][lo:min(len(a[i]), k+200)], b[i][lo:min(len(b[i]), k+200)])
				n++
			}
		}
		t.Errorf("events differ (%d vs %d lines)", len(a), len(b))
	}
}
