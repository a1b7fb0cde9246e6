package run

import (
	"context"
	"testing"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryVerdictKind runs a small scenario built so that each of its
// expectations yields one kind of verdict.
func TestEveryVerdictKind(t *testing.T) {
	sc, err := scenarios.ParseFile("../testdata/verdicts/every-kind.yaml")
	require.NoError(t, err)
	res, err := Run(context.Background(), sc, Options{})
	require.NoError(t, err)
	var got []string
	for _, v := range res.Verdicts {
		got = append(got, v.Result)
	}
	assert.Equal(t, []string{scenarios.Met, scenarios.Early, scenarios.Late, scenarios.Missed, scenarios.TooMany, scenarios.FalsePositive, scenarios.Met, scenarios.Missed, scenarios.Met}, got)
	assert.True(t, res.Failed)

	met := res.Verdicts[0]
	require.NotNil(t, met.FirstAlert)
	assert.Positive(t, met.TTD, "time to detect from the first try")
	assert.Equal(t, met.FirstAlert.Sub(res.Spans["brute"].Start), met.TTD)
	late := res.Verdicts[2]
	require.NotNil(t, late.FirstAlert, "a late verdict says when the alert came")
	assert.Equal(t, met.TTD, late.TTD)
	assert.Contains(t, res.Verdicts[1].Detail, "before the window")
	assert.Contains(t, res.Verdicts[5].Detail, "fired on benign activity")
	assert.Zero(t, res.Verdicts[8].Alerts, "the attack's own alerts are not false positives of '*'")
}

// TestJudgeAsRun re-judges a run from its own truth and alerts: the same
// verdicts as the live run.
func TestJudgeAsRun(t *testing.T) {
	sc, err := scenarios.ParseFile("../testdata/verdicts/every-kind.yaml")
	require.NoError(t, err)
	res, err := Run(context.Background(), sc, Options{})
	require.NoError(t, err)
	again := scenarios.Judge(sc, scenarios.Recording{RunID: res.RunID, Truth: res.Truth, Alerts: res.Alerts, EventTable: res.Recording().EventTable, Events: res.Events})
	assert.Equal(t, res.Verdicts, again.Verdicts)
	assert.Equal(t, res.Actions, again.Actions)
	assert.Equal(t, res.Spans["brute"].Start, again.Spans["brute"].Start)
}
