package report

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/run"
)

// TestRunProgressLine: the status line follows the notes — scenario
// clock, attack steps started of all (staff steps not counted), alerts,
// the download under way and its bytes, wall time.
func TestRunProgressLine(t *testing.T) {
	sc, err := scenarios.Load("mailbox-dump")
	require.NoError(t, err)
	wall := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := NewRunProgress(sc, wall, 0)
	assert.Equal(t, "  ▸ mailbox-dump · Sat 01:30:00 · step 0/4 · 0 alerts · 0:00", p.Line(wall))
	assert.Equal(t, "  ▸ mailbox-dump · Sat 01:30:00 · step 0/4 · 0 alerts · 0:10", p.Line(wall.Add(10*time.Second)), "a virtual clock moves by notes only")

	at := sc.Env.Start.Add(40 * time.Minute)
	p.Note(run.Note{Time: at, Actor: "dumper", Kind: "step", Text: "login"})
	p.Note(run.Note{Time: at.Add(time.Second), Actor: "staff/alice", Kind: "step", Text: "read"})
	p.Note(run.Note{Time: at.Add(2 * time.Second), Kind: "alert", Text: "x"})
	p.Note(run.Note{Time: at.Add(3 * time.Second), Actor: "dumper", Kind: "progress", Text: "downloading messages", Count: 3, Total: 40, Bytes: 3 << 20})
	assert.Equal(t, "  ▸ mailbox-dump · Sat 02:10:03 · step 1/4 · 1 alert · 1:05 · downloading messages 3/40 · ↓ 3.0 MB", p.Line(wall.Add(65*time.Second)))

	// An earlier note does not move the clock back; a finished download
	// leaves its bytes only.
	p.Note(run.Note{Time: at, Actor: "dumper", Kind: "progress", Text: "downloading messages", Count: 40, Total: 40, Bytes: 9 << 20})
	assert.Equal(t, "  ▸ mailbox-dump · Sat 02:10:03 · step 1/4 · 1 alert · 1:01:05 · ↓ 9.0 MB", p.Line(wall.Add(time.Hour+65*time.Second)))
	for range 5 {
		p.Note(run.Note{Time: at, Actor: "dumper", Kind: "step"})
	}
	assert.Contains(t, p.Line(wall), "step 6 ·", "repeated steps: no total")

	// On a scaled clock (--speed 60) the clock moves between notes; once
	// an action starts late, the line says the actors are behind it.
	p = NewRunProgress(sc, wall, 60)
	assert.Contains(t, p.Line(wall.Add(10*time.Second)), "Sat 01:40:00 ·")
	assert.NotContains(t, p.Line(wall), "behind")
	p.Note(run.Note{Time: sc.Env.Start, Kind: "pace", Text: "falling behind the clock: …"})
	assert.True(t, strings.HasSuffix(p.Line(wall.Add(10*time.Second)), " · behind the clock"), p.Line(wall))
}

func TestSuiteProgressLine(t *testing.T) {
	wall := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := NewSuiteProgress(9, wall)
	p.Done(false)
	assert.Equal(t, "  ▸ 1/9 scenarios done · 0:07", p.Line(wall.Add(7*time.Second)))
	p.Done(true)
	assert.Equal(t, "  ▸ 2/9 scenarios done · 1 failed · 0:08", p.Line(wall.Add(8*time.Second)))
}
