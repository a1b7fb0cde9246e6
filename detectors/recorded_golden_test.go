package detectors

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateRecordedGolden = flag.Bool("update-recorded-alerts", false, "rewrite testdata/recorded_alerts.golden")

// TestRecordedAlertsGolden: the pack over the three recorded flagship runs,
// with lateness 0 and 5 s, correlation groups unbounded (the default
// bound, never reached) and bounded to 20: the alerts, as JSON lines, must
// be byte for byte those recorded in testdata/recorded_alerts.golden (their
// SHA-256 and count per run and setting, with the engine's counters).
func TestRecordedAlertsGolden(t *testing.T) {
	rules, err := testPackRules()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, target := range []string{"embedded", "dovecot-stock", "dovecot-enhanced"} {
		evs := readRecorded(t, filepath.Join("..", "testdata", "runs", "ministry-overnight", target, "events.jsonl.gz"))
		for _, late := range []time.Duration{0, 5 * time.Second} {
			for _, maxGroups := range []int{0, 20} {
				cfg := testPackConfig()
				cfg.Lateness, cfg.MaxGroups = late, maxGroups
				e, err := NewEngine(rules, cfg)
				if err != nil {
					t.Fatal(err)
				}
				h := sha256.New()
				n := 0
				write := func(as []Alert) {
					for _, a := range as {
						b, err := json.Marshal(a)
						if err != nil {
							t.Fatal(err)
						}
						h.Write(b)
						h.Write([]byte{'\n'})
						n++
					}
				}
				for _, ev := range evs {
					write(e.Process(ev))
				}
				write(e.Flush())
				st := e.Stats()
				fmt.Fprintf(&out, "%s lateness=%s maxgroups=%d alerts=%d sha256=%x matches=%d suppressed=%d late=%d missing=%d evicted=%d expired=%d groups=%d\n",
					target, late, maxGroups, n, h.Sum(nil), st.Matches, st.Suppressed, st.Late, st.MissingGroupField, st.Evicted, st.Expired, st.Groups)
				if n == 0 {
					t.Errorf("%s lateness %s: no alert", target, late)
				}
			}
		}
	}
	golden := filepath.Join("testdata", "recorded_alerts.golden")
	if *updateRecordedGolden {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(want) {
		t.Fatalf("alerts differ from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}
