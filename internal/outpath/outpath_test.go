package outpath

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "mail.log")
	require.NoError(t, os.WriteFile(log, []byte("a line\n"), 0o644))
	link := filepath.Join(dir, "link.log")
	require.NoError(t, os.Symlink(log, link))
	hard := filepath.Join(dir, "hard.log")
	require.NoError(t, os.Link(log, hard))
	t.Chdir(dir)

	in := []File{{"--file", log}, {"--rules", dir}}
	for _, tc := range []struct {
		outs []File
		want string
	}{
		{[]File{{"--events", log}}, "--events " + log + " would overwrite --file " + log + ", which this command reads"},
		{[]File{{"--events", "./mail.log"}}, "would overwrite --file"},        // another spelling
		{[]File{{"--alerts", link}}, "--alerts " + link + " would overwrite"}, // a symbolic link to it
		{[]File{{"--alerts", hard}}, "would overwrite --file"},                // a hard link
		{[]File{{"--alerts", "new.jsonl"}, {"--events", filepath.Join(dir, "new.jsonl")}}, "--alerts and --events name the same file"},
		{[]File{{"--events", "-"}, {"--json", "-"}}, "--events - and --json - both write to standard output"},
	} {
		err := Check(in, tc.outs)
		require.Error(t, err, "%v", tc.outs)
		assert.Contains(t, err.Error(), tc.want)
	}
	for _, outs := range [][]File{
		{{"--events", "events.jsonl"}, {"--alerts", "alerts.jsonl"}},
		{{"--json", "-"}, {"--events", "x.jsonl"}}, // stdout is not a file here
		{{"--json", ""}, {"--html", ""}},
		{{"--json", filepath.Join(dir, "report.json")}}, // inside a rule directory: not a rule
	} {
		assert.NoError(t, Check(in, outs), "%v", outs)
	}
	assert.NoError(t, Check(nil, nil))
}
