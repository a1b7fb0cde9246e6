package detectors

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// TestInstrHarness is for instruction counts (valgrind, e.g. callgrind with
// --toggle-collect on Engine.Process and Engine.Flush), not a check: with
// MAILDRILL_INSTR_RUN=<recording> and MAILDRILL_INSTR_PASSES=<n> it makes
// eight engines for the pack, then runs the recording through n of them
// (Process and Flush). The count of a run with n passes less that of a run
// with one pass, over n-1 passes, is what one pass costs, the setup (rules,
// engines, the recording's decoding) left out.
func TestInstrHarness(t *testing.T) {
	run := os.Getenv("MAILDRILL_INSTR_RUN")
	if run == "" {
		t.Skip("set MAILDRILL_INSTR_RUN and MAILDRILL_INSTR_PASSES")
	}
	passes, err := strconv.Atoi(os.Getenv("MAILDRILL_INSTR_PASSES"))
	if err != nil || passes < 1 || passes > 8 {
		t.Fatal("MAILDRILL_INSTR_PASSES: 1 to 8")
	}
	rules, err := testPackRules()
	if err != nil {
		t.Fatal(err)
	}
	evs := readRecorded(t, filepath.Join("..", "testdata", "runs", "ministry-overnight", run, "events.jsonl.gz"))
	engs := make([]*Engine, 8)
	for i := range engs {
		if engs[i], err = NewEngine(rules, testPackConfig()); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	alerts := 0
	for _, e := range engs[:passes] {
		for _, ev := range evs {
			alerts += len(e.Process(ev))
		}
		alerts += len(e.Flush())
	}
	t.Logf("%s: %d events, %d passes, %d alerts", run, len(evs), passes, alerts)
}
