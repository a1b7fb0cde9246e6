package detectors

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// sigmaHQProcessCreation loads SigmaHQ's Windows process_creation detection
// rules (every rules* directory) and the events of the process_creation
// regression tests.
func sigmaHQProcessCreation(b *testing.B) ([]*sigma.Rule, []Event) {
	dir := sigmaHQDir(b)
	var rules []*sigma.Rule
	for _, sub := range []string{"rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder", "rules-dfir", "rules-compliance"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			continue
		}
		rs, _ := LoadPath(filepath.Join(dir, sub))
		for _, r := range rs {
			if r.Detection != nil && r.Logsource.Product == "windows" && r.Logsource.Category == "process_creation" {
				rules = append(rules, r)
			}
		}
	}
	var evs []Event
	for _, c := range loadRegression(b, dir) {
		if strings.Contains(c.info, "process_creation") || strings.Contains(c.info, "proc_creation") {
			evs = append(evs, c.events...)
		}
	}
	if len(rules) == 0 || len(evs) == 0 {
		b.Fatalf("%s: %d process_creation rules, %d events", dir, len(rules), len(evs))
	}
	return rules, evs
}

// BenchmarkSigmaHQ: SigmaHQ's process_creation rules (the first 10, 100,
// 1000, then all of them) over the process_creation regression events,
// replicated; one op = one event, with the prefilter and without it
// (plain). Every rule runs on every event (as `rules eval
// --any-logsource`). B/rule is the heap the engine holds per loaded rule;
// kept/event the rules the prefilter leaves to evaluate per event.
//
//	MAILDRILL_SIGMAHQ_DIR=/path/to/sigma go test -run '^$' -bench BenchmarkSigmaHQ -cpu 1 ./detectors/
func BenchmarkSigmaHQ(b *testing.B) {
	rules, evs := sigmaHQProcessCreation(b)
	b.Logf("%d process_creation rules, %d regression events", len(rules), len(evs))
	benchSigmaHQ(b, rules, evs)
}

// BenchmarkSigmaHQDecoded is BenchmarkSigmaHQ over the same events as
// `maildrill rules eval` reads them: each written as a JSON line and
// decoded by ParseJSONEvent (flat objects in slots, numbers as float64),
// where BenchmarkSigmaHQ's events wrap the maps the regression test
// builds (NewMapEvent, as an embedding program's events would be).
func BenchmarkSigmaHQDecoded(b *testing.B) {
	rules, evs := sigmaHQProcessCreation(b)
	dec := make([]Event, len(evs))
	for i, ev := range evs {
		line, err := json.Marshal(ev.(*JSONEvent).toMap())
		if err != nil {
			b.Fatal(err)
		}
		if dec[i], err = ParseJSONEvent(line, JSONOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	benchSigmaHQ(b, rules, dec)
}

func benchSigmaHQ(b *testing.B, rules []*sigma.Rule, evs []Event) {
	for _, n := range []int{10, 100, 1000, len(rules)} {
		if n > len(rules) {
			continue
		}
		for _, mode := range []string{"prefilter", "plain"} {
			name := fmt.Sprintf("rules=%d/%s", n, mode)
			if n == len(rules) {
				name = fmt.Sprintf("rules=all/%s", mode)
			}
			b.Run(name, func(b *testing.B) {
				ls := MaildrillLogsources()
				ls.MatchUnmapped = true
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				eng, err := NewEngine(rules[:n], Config{Lenient: true, Logsources: &ls, NoPrefilter: mode == "plain"})
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				det, _ := eng.Rules()
				alerts := 0
				b.ReportAllocs()
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				for i := 0; i < b.N; i++ {
					alerts += len(eng.Process(evs[i%len(evs)]))
				}
				wall, cpu := time.Since(start), cpuTime()-cpu0
				b.StopTimer()
				b.ReportMetric(float64(b.N)/wall.Seconds(), "events/s")
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
				b.ReportMetric(float64(det), "rules")
				b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(det), "B/rule")
				if eng.pf != nil {
					b.ReportMetric(float64(eng.pf.Size())/float64(det), "prefilter-B/rule")
					b.ReportMetric(float64(eng.pf.Always()), "always")
					// the rules evaluated per event (independent of the
					// machine's load)
					kept := 0
					for _, ev := range evs {
						for _, w := range eng.pf.Candidates(ev) {
							kept += bits.OnesCount64(w)
						}
					}
					b.ReportMetric(float64(kept)/float64(len(evs)), "kept/event")
				}
				if n == len(rules) && b.N >= len(evs) && alerts == 0 {
					b.Fatal("the regression events raised no alert")
				}
				runtime.KeepAlive(eng)
			})
		}
	}
}
