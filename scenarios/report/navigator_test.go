package report

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
)

// TestNavigatorLayer checks the layer against the Navigator layer format
// 4.5 (testdata/layer-v4.5.schema.json) and its colouring.
func TestNavigatorLayer(t *testing.T) {
	schema, err := os.ReadFile("testdata/layer-v4.5.schema.json")
	require.NoError(t, err)
	sch := compileSchema(t, "layer-v4.5.schema.json", schema)

	fx := fixture(t)
	other := fixture(t)
	other.Result.Alerts = nil // a second scenario in which nothing fired
	for _, runs := range [][]Run{{fx}, {fx, other}} {
		var buf bytes.Buffer
		require.NoError(t, WriteNavigator(&buf, Build(runs, fixedTime)))
		require.NoError(t, validate(t, sch, buf.Bytes()), "%s", buf.String())
	}

	l := Navigator(Build([]Run{fx}, fixedTime))
	assert.Equal(t, "4.5", l.Versions.Layer)
	got := map[string]NavigatorTechnique{}
	for _, tt := range l.Techniques {
		got[tt.TechniqueID] = tt
	}
	assert.Equal(t, ColorDetected, got["T1110.003"].Color)
	assert.Equal(t, 100.0, *got["T1110.003"].Score)
	assert.Equal(t, ColorMissed, got["T1048.003"].Color)
	assert.Equal(t, 0.0, *got["T1048.003"].Score)
	assert.Nil(t, got["T1110"].Score, "parent listed only to open its sub-techniques")
	assert.True(t, got["T1110"].ShowSubtechniques)
	assert.Contains(t, got["T1114.002"].Metadata, NavigatorMeta{"rule", "IMAP Search For Sensitive Keywords"})

	l = Navigator(Build([]Run{fx, other}, fixedTime))
	for _, tt := range l.Techniques {
		if tt.TechniqueID == "T1078" {
			assert.Equal(t, ColorPartial, tt.Color)
			assert.Equal(t, 50.0, *tt.Score)
		}
	}
	var golden_ bytes.Buffer
	require.NoError(t, WriteNavigator(&golden_, Build([]Run{fx}, fixedTime)))
	golden(t, "navigator.golden.json", golden_.Bytes())

	// The schema is strict enough to catch a wrong layer version.
	var m map[string]any
	require.NoError(t, json.Unmarshal(golden_.Bytes(), &m))
	m["versions"].(map[string]any)["layer"] = "4.4"
	b, _ := json.Marshal(m)
	assert.Error(t, validate(t, sch, b))
}

// TestControlScenarioIsNoMissedTechnique: the benign control scenario (no
// attacker, no insider) tags T1078 to say what it guards against false
// positives for; it attacks nothing, so the technique is neither detected
// nor missed — in the JSON report, the HTML report and the Navigator layer.
func TestControlScenarioIsNoMissedTechnique(t *testing.T) {
	sc, err := scenarios.ParseFile("../library/benign-day.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, sc.Attack)
	rep := Build([]Run{{Scenario: sc, Result: &scenarios.Result{Scenario: sc}}}, fixedTime)
	require.Len(t, rep.Scenarios, 1)
	assert.Empty(t, rep.Scenarios[0].Techniques)
	assert.Empty(t, Navigator(rep).Techniques)
	var html bytes.Buffer
	require.NoError(t, WriteHTML(&html, rep))
	assert.NotContains(t, html.String(), "missed</span>")

	// An attack scenario that raised nothing still shows its techniques as missed.
	atk, err := scenarios.ParseFile("../library/brute-force.yaml")
	require.NoError(t, err)
	rep = Build([]Run{{Scenario: atk, Result: &scenarios.Result{Scenario: atk}}}, fixedTime)
	require.NotEmpty(t, rep.Scenarios[0].Techniques)
	assert.False(t, rep.Scenarios[0].Techniques[0].Detected)
}
