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

// The default corpus cache, when the user's cache directory cannot be
// written (here its path is a file; a read-only home in a CI container
// does the same), is left out with a note: the run goes on, rendering its
// documents afresh. It used to stop the run. A --corpus-cache given that
// cannot be written still stops it.
func TestUnwritableDefaultCorpusCache(t *testing.T) {
	blocked := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(blocked, []byte("x"), 0o644))
	t.Setenv("XDG_CACHE_HOME", blocked)

	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"test", "password-spray", "brute-force"}, &out, &errb))
	assert.Equal(t, 1, bytes.Count(errb.Bytes(), []byte("corpus cache off: ")), "one note for the suite: %s", errb.String())
	assert.Contains(t, errb.String(), "not a directory")

	errb.Reset()
	err := run(context.Background(), []string{"run", "password-spray", "--corpus-cache", filepath.Join(blocked, "corpus")}, &out, &errb)
	require.Error(t, err)
	// Said before anything starts, naming the flag; it surfaced as the
	// embedded target failing to start.
	assert.Contains(t, err.Error(), "--corpus-cache "+filepath.Join(blocked, "corpus")+": ")
	assert.Equal(t, exitBadInput, exitCode(err, &bytes.Buffer{}))
	assert.NotContains(t, errb.String(), "▶", "nothing ran")
}
