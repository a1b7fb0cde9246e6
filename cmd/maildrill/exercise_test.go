package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The exercise command plays the library's exercise scenario to its end,
// prints both links and writes the debrief.
func TestExerciseCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "debrief.html")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"exercise", "ministry-overnight-exercise", "--listen", "127.0.0.1:0", "--speed", "4000",
		"--autostart", "--exit-at-end", "--debrief", file}, &out, &errb)
	require.NoError(t, err, errb.String())
	assert.Regexp(t, `facilitator  http://127\.0\.0\.1:\d+/f/[0-9a-f]{32}/`, out.String())
	assert.Regexp(t, `players      http://127\.0\.0\.1:\d+/soc/[0-9a-f]{32}/`, out.String())
	assert.Contains(t, out.String(), "exercise ended:")
	page, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Contains(t, string(page), "Exercise debrief: Exercise: a night on call at the ministry")
	assert.Contains(t, string(page), "The press calls", "the injects")
	assert.Contains(t, string(page), `<svg`, "and the verdict report's timeline")
}

// Bad flags are bad input (exit 2) before anything starts.
func TestExerciseBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"both":     {"exercise", "ministry-overnight-exercise", "--speed", "10", "--duration", "1h"},
		"duration": {"exercise", "ministry-overnight-exercise", "--duration", "-1h"},
		"listen":   {"exercise", "ministry-overnight-exercise", "--listen", "8080"},
		"token":    {"exercise", "ministry-overnight-exercise", "--soc-token", "short"},
		"same":     {"exercise", "ministry-overnight-exercise", "--soc-token", "0123456789abcdef0", "--facilitator-token", "0123456789abcdef0"},
		"scenario": {"exercise", "no-such-scenario"},
		"no arg":   {"exercise"},
		"debrief":  {"exercise", "ministry-overnight-exercise", "--debrief", "/no/such/dir/d.html"},
		"target":   {"exercise", "ministry-overnight-exercise", "--target", "mars"},
		"allow":    {"exercise", "ministry-overnight-exercise", "--allow-target", "*.example.org"},
		"nan":      {"exercise", "ministry-overnight-exercise", "--speed", "NaN"},
		"url":      {"exercise", "ministry-overnight-exercise", "--public-url", "drill.example.org:8080"},
		"instant":  {"exercise", "ministry-overnight-exercise", "--duration", "1ns"},
		"forever":  {"exercise", "ministry-overnight-exercise", "--duration", "10000h"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), args, &out, &errb)
			require.Error(t, err)
			assert.Equal(t, exitBadInput, exitCode(err, &errb), err.Error())
			assert.NotContains(t, out.String(), "facilitator  http", "nothing served")
		})
	}
}
