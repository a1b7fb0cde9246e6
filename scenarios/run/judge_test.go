package run

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/alertsrc"
	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/scenarios"
)

// TestJudgeRecordingRoundTrip: a live run's result, judged again from the
// recording it gives back, is the same result; and replaying the logs the
// run wrote gives the same verdicts, the same event times and the
// recording's seed and target.
func TestJudgeRecordingRoundTrip(t *testing.T) {
	sc, err := scenarios.ParseFile("../testdata/verdicts/every-kind.yaml")
	require.NoError(t, err)
	var events, truth bytes.Buffer
	res, err := Run(context.Background(), sc, Options{Events: &events, Truth: &truth})
	require.NoError(t, err)

	again := scenarios.Judge(sc, res.Recording())
	assert.Equal(t, res, again)

	// The event times are those of the events logged, in order.
	var times []time.Time
	for _, line := range bytes.Split(bytes.TrimSpace(events.Bytes()), []byte("\n")) {
		var ev struct {
			T time.Time `json:"@timestamp"`
		}
		require.NoError(t, json.Unmarshal(line, &ev))
		times = append(times, ev.T)
	}
	require.Len(t, res.EventTimes, res.Events)
	require.Equal(t, len(times), len(res.EventTimes))
	for i := range times {
		assert.True(t, times[i].Equal(res.EventTimes[i]), "event %d", i)
	}

	dir := t.TempDir()
	evPath, trPath := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl")
	require.NoError(t, os.WriteFile(evPath, events.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(trPath, truth.Bytes(), 0o644))
	log, err := scenarios.ReadTruthLog(trPath, "truth")
	require.NoError(t, err)
	runID, err := log.PickRun("", sc.ID)
	require.NoError(t, err)
	assert.Equal(t, res.RunID, runID)
	require.NoError(t, log.CheckRecording(sc, runID, false, &bytes.Buffer{}))
	pack, err := rulepack.Load("")
	require.NoError(t, err)
	eng, err := detectors.NewEngine(pack.Rules, pack.Config)
	require.NoError(t, err)
	replayed, err := scenarios.Replay(sc, log, runID, eng, scenarios.RulesSHA256(pack.Rules), evPath, "events")
	require.NoError(t, err)
	asJSON := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return string(b)
	}
	assert.Equal(t, asJSON(res.Verdicts), asJSON(replayed.Verdicts), "the same verdicts (times in the log's zone)")
	assert.Equal(t, res.Seed, replayed.Seed)
	assert.Equal(t, res.Target, replayed.Target)
	assert.Equal(t, res.RulesSHA256, replayed.RulesSHA256)
	assert.Equal(t, res.Events, replayed.Events)
	assert.Equal(t, len(res.EventTimes), len(replayed.EventTimes))

	_, err = scenarios.ReadTruthLog(filepath.Join(dir, "none.jsonl"), "--truth")
	require.ErrorContains(t, err, "--truth: open ")
	require.NoError(t, os.WriteFile(trPath, []byte("{\"actor\":\"a\"}\nnot json\n"), 0o644))
	_, err = scenarios.ReadTruthLog(trPath, "truth")
	require.ErrorContains(t, err, trPath+":1: not a truth record")
}

// TestJudgeOutside: outside alerts join the engine's and the run is judged
// again by Judge: the verdicts are those of Judge over the recording with
// the outside alerts added.
func TestJudgeOutside(t *testing.T) {
	sc, err := scenarios.ParseFile("../testdata/verdicts/every-kind.yaml")
	require.NoError(t, err)
	res, err := Run(context.Background(), sc, Options{Rules: []*sigma.Rule{}})
	require.NoError(t, err)
	require.Empty(t, res.Alerts, "no rule: no engine alert")
	require.True(t, res.Failed)

	// Every alert the built-in engine raises, from outside.
	full, err := Run(context.Background(), sc, Options{})
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "alerts.jsonl")
	var b bytes.Buffer
	for _, a := range full.Alerts {
		line, err := json.Marshal(map[string]any{"rule.name": a.Title, "@timestamp": a.Time, "labels.run_id": res.RunID, "group": a.Group})
		require.NoError(t, err)
		b.Write(append(line, '\n'))
	}
	require.NoError(t, os.WriteFile(file, b.Bytes(), 0o644))
	m, err := alertsrc.ParseMapping("")
	require.NoError(t, err)
	in := &alertsrc.Intake{Mapping: m, File: file}
	require.NoError(t, scenarios.JudgeOutside(context.Background(), res, in.Sources(res.RunID), time.Second))
	require.Len(t, res.Alerts, len(full.Alerts))

	rec := res.Recording()
	assert.Equal(t, scenarios.Judge(sc, rec).Verdicts, res.Verdicts)
	var met int
	for _, v := range res.Verdicts {
		if v.OK() {
			met++
		}
	}
	assert.Positive(t, met, "the outside alerts meet expectations: %+v", res.Verdicts)
}

// TestJudgeOutsideWithoutWaiting: a wait of 0 (test --alerts-wait 0) asks
// the sources once; it used to wait the default 30 s for expectations
// that no outside alert would meet.
func TestJudgeOutsideWithoutWaiting(t *testing.T) {
	sc, err := scenarios.ParseFile("../testdata/verdicts/every-kind.yaml")
	require.NoError(t, err)
	res, err := Run(context.Background(), sc, Options{Rules: []*sigma.Rule{}})
	require.NoError(t, err)
	require.True(t, res.Failed)
	var src pollCounter
	require.NoError(t, scenarios.JudgeOutside(context.Background(), res, []alertsrc.Source{&src}, 0))
	assert.Equal(t, 1, src.n, "one poll")
	assert.True(t, res.Failed)
}

type pollCounter struct{ n int }

func (p *pollCounter) Alerts(context.Context) ([]detectors.Alert, error) {
	p.n++
	return nil, nil
}
