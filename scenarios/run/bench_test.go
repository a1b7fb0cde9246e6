package run

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/target"
	"github.com/maildrill/maildrill/scenarios"
)

// BenchmarkRunnerStaff500 measures the runner's own cost: the actions per
// second it sustains against the embedded target with 500 staff members,
// each with its own sessions (virtual clock), and the memory it holds.
//
//	go test ./scenarios/run -run X -bench RunnerStaff500 -benchtime 1x
func BenchmarkRunnerStaff500(b *testing.B) {
	benchStaff(b, 500, 20, "07:30", "3h", 50, 0)
}

// BenchmarkRunnerStaff2000Day is an organisation of 2,000 staff through a
// whole working day (07:00–19:30, 200 of them with a phone), against the
// embedded target, virtual clock, no attachment cache on disk.
//
//	go test ./scenarios/run -run X -bench RunnerStaff2000Day -benchtime 1x
func BenchmarkRunnerStaff2000Day(b *testing.B) {
	benchStaff(b, 2000, 20, "07:00", "12h30m", 200, 0)
}

// BenchmarkRunnerStaff2000DayOneAtATime is the same day with every action
// alone (Options.OneAtATime): the same trail and truth, byte for byte, as
// the default, where independent staff actions run side by side.
//
//	go test ./scenarios/run -run X -bench 'RunnerStaff2000Day(OneAtATime)?$' -benchtime 1x
func BenchmarkRunnerStaff2000DayOneAtATime(b *testing.B) {
	benchStaff(b, 2000, 20, "07:00", "12h30m", 200, -1)
}

// BenchmarkRunnerStaff2000DayScaled is the same day on a scaled clock at
// 3,000 times real speed: the actors act concurrently, as fast as the
// machine lets them (events not deterministic). Beside the throughput it
// reports the run's pace: how many actions started over a minute late,
// and the worst delay in scenario hours.
//
//	go test ./scenarios/run -run X -bench RunnerStaff2000DayScaled -benchtime 1x
func BenchmarkRunnerStaff2000DayScaled(b *testing.B) {
	benchStaff(b, 2000, 20, "07:00", "12h30m", 200, 3000)
}

// benchStaff runs staff members through a day; speed 0 is the virtual
// clock, -1 the virtual clock one action at a time.
func benchStaff(b *testing.B, staff, messages int, start, duration string, phones int, speed float64) {
	src := fmt.Sprintf(`
id: staff%d
title: %d staff
environment: {users: %d, messages: %d, seed: 9, start: 2025-12-11T%s:00+01:00, duration: %s}
actors:
  - id: staff
    kind: staff
    staff: {count: %d, workday: "08:00-18:30", phones: %d, late: 0, mail_per_day: 1}
`, staff, staff, staff, messages, start, duration, staff, phones)
	sc, err := scenarios.Parse(fmt.Sprintf("staff%d.yaml", staff), []byte(src))
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
		res, err := Run(context.Background(), sc, Options{Speed: max(speed, 0), OneAtATime: speed < 0})
		close(done)
		if err != nil {
			b.Fatal(err)
		}
		actions += res.Actions
		events += res.Events
		wall += res.Wall
		if p := res.Pace; p != nil {
			b.ReportMetric(float64(p.Late), "late-actions")
			b.ReportMetric(p.MaxLag.Hours(), "max-lag-h")
		}
	}
	b.ReportMetric(float64(actions)/wall.Seconds(), "actions/s")
	b.ReportMetric(float64(events)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB")
	}
	b.ReportMetric(float64(actions)/float64(b.N), "actions/run")
}

// peakRSS is the process's peak resident set (VmHWM), 0 when unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// BenchmarkFlagship runs the flagship scenario (ministry-overnight) as
// `maildrill run` does, with the user's attachment cache on disk.
//
//	go test ./scenarios/run -run X -bench Flagship -benchtime 1x
func BenchmarkFlagship(b *testing.B) {
	sc, err := scenarios.Load("ministry-overnight")
	if err != nil {
		b.Fatal(err)
	}
	var wall time.Duration
	for b.Loop() {
		res, err := Run(context.Background(), sc, Options{CorpusCacheDir: target.DefaultCorpusCacheDir()})
		if err != nil {
			b.Fatal(err)
		}
		wall += res.Wall
		b.ReportMetric(float64(res.Actions), "actions/run")
	}
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB")
	}
}
