package run

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSuiteRun runs two scenarios side by side: each outcome in the order
// given, Done once per scenario, and each run's logs recorded, its truth
// log starting with the recording header.
func TestSuiteRun(t *testing.T) {
	var list []*scenarios.Scenario
	for _, f := range []string{"../testdata/verdicts/every-kind.yaml", "../testdata/verdicts/noise.yaml"} {
		sc, err := scenarios.ParseFile(f)
		require.NoError(t, err)
		list = append(list, sc)
	}
	dir := t.TempDir()
	done := map[int]string{}
	outs := Suite{Jobs: 2, RecordDir: dir, Done: func(i int, r SuiteRun) { done[i] = r.Scenario.ID }}.Run(context.Background(), list)
	require.Len(t, outs, 2)
	for i, o := range outs {
		require.NoError(t, o.Err)
		require.NotNil(t, o.Result)
		assert.Equal(t, list[i], o.Scenario)
		assert.Equal(t, list[i].ID, done[i])
		log, err := scenarios.ReadTruthLog(filepath.Join(dir, list[i].ID+".truth.jsonl"), "truth")
		require.NoError(t, err)
		assert.Equal(t, list[i].SHA256, log.Headers[o.Result.RunID].ScenarioSHA256)
		ev, err := os.ReadFile(filepath.Join(dir, list[i].ID+".events.jsonl"))
		require.NoError(t, err)
		assert.NotEmpty(t, ev)
	}

	// A directory that cannot take the logs: the run does not start.
	outs = Suite{Jobs: 1, RecordDir: filepath.Join(dir, "none")}.Run(context.Background(), list[:1])
	require.Error(t, outs[0].Err)
	assert.Nil(t, outs[0].Result)
}
