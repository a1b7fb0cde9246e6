package run

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/maildrill/maildrill/scenarios"
)

// BenchmarkRunnerStaff500 measures the runner's own cost: the actions per
// second it sustains against the embedded target with 500 staff members,
// each with its own sessions (virtual clock), and the memory it holds.
//
//	go test ./scenarios/run -run X -bench RunnerStaff500 -benchtime 1x
func BenchmarkRunnerStaff500(b *testing.B) {
	src := `
id: staff500
title: 500 staff
environment: {users: 500, messages: 20, seed: 9, start: 2025-12-11T07:30:00+01:00, duration: 3h}
actors:
  - id: staff
    kind: staff
    staff: {count: 500, workday: "08:00-18:30", phones: 50, late: 0, mail_per_day: 1}
`
	sc, err := scenarios.Parse("staff500.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	var actions, events int
	var wall time.Duration
	var peak uint64
	for i := 0; i < b.N; i++ {
		done := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak {
						peak = ms.HeapInuse
					}
				}
			}
		}()
		res, err := Run(context.Background(), sc, Options{})
		close(done)
		if err != nil {
			b.Fatal(err)
		}
		actions += res.Actions
		events += res.Events
		wall += res.Wall
	}
	b.ReportMetric(float64(actions)/wall.Seconds(), "actions/s")
	b.ReportMetric(float64(events)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(actions)/float64(b.N), "actions/run")
}
