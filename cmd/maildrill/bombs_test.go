package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCLIRefusesYAMLBombs: the inputs that made validate, rules eval and
// rules lint die out of memory are refused at their line, with exit 2,
// within a bounded amount of memory.
func TestCLIRefusesYAMLBombs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	brackets := "id: deep\nsteps: " + strings.Repeat("[", 200_000) + "\n"
	aliasBomb := `title: bomb
logsource: {product: mailsim}
a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
detection: {sel: {event.action: imap.login}, condition: sel}
`
	rulesDir := filepath.Join(dir, "rules")
	require.NoError(t, os.Mkdir(rulesDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(rulesDir, "bomb.yml"), []byte(aliasBomb), 0o644))
	events := write("events.jsonl", `{"@timestamp":"2025-12-11T23:40:00Z","event.action":"imap.login"}`+"\n")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"validate brackets", []string{"validate", write("deep.yaml", brackets)}, "nesting deeper than 64 levels"},
		{"rules eval brackets", []string{"rules", "eval", "--no-pack", "--rules", write("deep.yml", "title: x\ndetection: "+strings.Repeat("[", 120_000)+"\n"), events}, "nesting deeper than 64 levels"},
		{"rules lint alias bomb", []string{"rules", "lint", rulesDir}, "aliases expand to more than"},
		{"rules eval large file", []string{"rules", "eval", "--no-pack", "--rules", write("large.yml", "title: x\n# "+strings.Repeat("x", 2<<20)+"\n"), events}, "larger than 1 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			var out, errb bytes.Buffer
			err := run(t.Context(), tc.args, &out, &errb)
			runtime.ReadMemStats(&ms1)
			require.Error(t, err)
			code := exitCode(err, &errb)
			require.NotEqual(t, exitOK, code)
			require.Contains(t, out.String()+errb.String(), tc.want)
			require.Less(t, ms1.TotalAlloc-ms0.TotalAlloc, uint64(256<<20), "memory spent on a refused file")
		})
	}
}
