package run

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/maildrill/maildrill/detectors/alertsrc"
	"github.com/maildrill/maildrill/scenarios"
)

// Suite runs scenarios side by side (maildrill test).
type Suite struct {
	// Jobs is how many scenarios run at once (at least 1).
	Jobs int
	// Options are every run's; Events, Truth and Syslog are set per run
	// by RecordDir.
	Options Options
	// RecordDir, when set, receives each run's audit events, ground truth
	// and mail log as ID.events.jsonl, ID.truth.jsonl and ID.mail.log,
	// written as the run goes (a SIEM can tail them).
	RecordDir string
	// Outside, when set, brings in each run's outside alerts, waited for
	// up to OutsideWait after the run (JudgeOutside).
	Outside     *alertsrc.Intake
	OutsideWait time.Duration
	// FailOnNoise fails every rule with unexpected alerts (FailOnNoise).
	FailOnNoise bool
	// FailBehind fails a run that fell behind its clock (FailBehind).
	FailBehind bool
	// Done is called as each run ends, one call at a time; i is the
	// scenario's index in the list.
	Done func(i int, r SuiteRun)
}

// SuiteRun is the outcome of one scenario of a suite: its result (nil
// when it could not run) and the error that stopped it.
type SuiteRun struct {
	Scenario *scenarios.Scenario
	Result   *scenarios.Result
	Err      error
}

// Run runs every scenario of list, s.Jobs at a time, and returns their
// outcomes in the order of list.
func (s Suite) Run(ctx context.Context, list []*scenarios.Scenario) []SuiteRun {
	outs := make([]SuiteRun, len(list))
	var mu sync.Mutex // serialises Done
	sem := make(chan struct{}, max(s.Jobs, 1))
	var wg sync.WaitGroup
	for i, sc := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			outs[i] = s.runOne(ctx, sc)
			if s.Done != nil {
				mu.Lock()
				defer mu.Unlock()
				s.Done(i, outs[i])
			}
		}()
	}
	wg.Wait()
	return outs
}

func (s Suite) runOne(ctx context.Context, sc *scenarios.Scenario) SuiteRun {
	opts := s.Options
	if s.RecordDir != "" {
		var files []*os.File
		for _, name := range []string{sc.ID + ".events.jsonl", sc.ID + ".truth.jsonl", sc.ID + ".mail.log"} {
			fh, err := os.Create(filepath.Join(s.RecordDir, name))
			if err != nil {
				return SuiteRun{Scenario: sc, Err: err}
			}
			defer fh.Close()
			files = append(files, fh)
		}
		// Unbuffered: a SIEM can tail the files during the run.
		opts.Events, opts.Truth, opts.Syslog = files[0], files[1], files[2]
	}
	res, err := Run(ctx, sc, opts)
	if res != nil && err == nil && s.Outside != nil {
		err = scenarios.JudgeOutside(ctx, res, s.Outside.Sources(res.RunID), s.OutsideWait)
	}
	if res != nil && s.FailOnNoise {
		scenarios.FailOnNoise(res)
	}
	if res != nil && s.FailBehind {
		scenarios.FailBehind(res)
	}
	return SuiteRun{Scenario: sc, Result: res, Err: err}
}
