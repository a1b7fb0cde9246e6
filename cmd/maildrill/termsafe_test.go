package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A rule title from a rule file reaches the terminal with its control
// characters escaped: an escape sequence in it (here: hide what follows,
// then write the clipboard) and a newline that forges a verdict line. The
// run's timeline, verdict table and noise table, and rules list, printed
// it raw.
func TestRuleTitlesEscapedOnTheTerminal(t *testing.T) {
	dir, scDir := t.TempDir(), t.TempDir()
	title := "Spray \x1b[8mhidden\x1b]52;c;ZXZpbA==\x07\n  MET     forged"
	rule := "title: \"" + strings.NewReplacer("\x1b", `\e`, "\x07", `\a`, "\n", `\n`).Replace(title) + "\"\n" +
		"id: 0d1b2c3a-4444-4555-8666-977788889999\nlogsource: {product: maildrill, service: imap}\n" +
		"detection:\n  sel: {event.action: imap.login, event.outcome: failure}\n  condition: sel\nlevel: high\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "title.yml"), []byte(rule), 0o644))
	sc := filepath.Join(scDir, "sc.yaml")
	require.NoError(t, os.WriteFile(sc, []byte(`id: titles
title: a rule title with escape sequences
environment: {users: 5, messages: 10, seed: 1, start: 2025-12-11T23:00:00+01:00, duration: 1h}
actors:
  - id: a
    kind: attacker
    source: 203.0.113.9
    steps:
      - spray: {users: 3, passwords: [Hiver2025!], delay: 5s}
expect:
  - {rule: 0d1b2c3a-4444-4555-8666-977788889999, within: 30m}
`), 0o644))

	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"run", sc, "--no-pack", "--rules", dir, "-v"}, &out, &errb))
	var list bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"rules", "list", dir}, &list, &errb))
	for name, s := range map[string]string{"run": out.String() + errb.String(), "rules list": list.String()} {
		assert.NotContains(t, s, "\x1b", name)
		assert.NotContains(t, s, "\x07", name)
		assert.NotContains(t, s, "\n  MET     forged", name)
		assert.Contains(t, s, `Spray \x1b[8mhidden\x1b]52;c;ZXZpbA==\x07\n  MET     forged`, name)
	}
	assert.Contains(t, out.String()+errb.String(), `ALERT [high] Spray \x1b[8mhidden`, "the timeline's alerts")
}
