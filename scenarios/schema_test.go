package scenarios

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The published schema is the generated one, and every library scenario
// validates against it.
func TestJSONSchema(t *testing.T) {
	got := JSONSchema()
	if *update {
		require.NoError(t, os.WriteFile("scenario.schema.json", got, 0o644))
	}
	want, err := os.ReadFile("scenario.schema.json")
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "scenario.schema.json is stale: go test ./scenarios -run TestJSONSchema -update")

	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(got))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("scenario.schema.json", doc))
	sch, err := c.Compile("scenario.schema.json")
	require.NoError(t, err)
	entries, err := libraryFS.ReadDir("library")
	require.NoError(t, err)
	for _, e := range entries {
		src, _ := libraryFS.ReadFile("library/" + e.Name())
		var v any
		require.NoError(t, yaml.Unmarshal(src, &v))
		js, _ := json.Marshal(v)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		require.NoError(t, err)
		require.NoError(t, sch.Validate(inst), e.Name())
	}
	// And a broken one does not.
	var v any
	require.NoError(t, yaml.Unmarshal([]byte("id: x\ntitle: t\nactors: [{id: a, kind: attacker, steps: [{downlod: {}}]}]"), &v))
	js, _ := json.Marshal(v)
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	require.Error(t, sch.Validate(inst))
}
