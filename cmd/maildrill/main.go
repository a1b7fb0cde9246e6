// Command maildrill is the email-infrastructure breach simulation testbed:
// it serves a synthetic organisation's mail, replays attacks against it and
// checks that detection rules fire in time.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/maildrill/maildrill/internal/cliout"
	"github.com/maildrill/maildrill/internal/termsafe"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1 // expectations or rule tests failed
	exitBadInput = 2 // bad input or usage
)

// usageError marks errors caused by bad flags or input (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// failedError marks a run that worked but whose checks failed (exit 1).
type failedError struct{ msg string }

func (e failedError) Error() string { return e.msg }

func main() {
	// A write to a closed stdout or stderr fails with EPIPE instead of
	// killing the process (cliout.Writer turns it into a stop), and no
	// socket's EPIPE ever reaches the signal handling: only the operator
	// stops the process. Notifying SIGPIPE here would let any client that
	// resets a connection mid-write stop the whole mail system.
	signal.Ignore(syscall.SIGPIPE)
	setGC(os.Getenv)
	holdFirstGC(os.Getenv, nil)
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	// After the first signal, the next one has its default effect: a
	// second Ctrl-C ends the process at once if the clean stop hangs.
	go func() { <-ctx.Done(); stop() }()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stdout := &cliout.Writer{W: os.Stdout, OnClosed: func() { cancel(cliout.ErrClosed) }}
	stderr := &cliout.Writer{W: os.Stderr, OnClosed: func() { cancel(cliout.ErrClosed) }}
	forceExit = func(code int) { os.Exit(code) }
	beforeServe = func() (int, int) { return setProcs(os.Getenv) }
	os.Exit(exitCode(run(ctx, os.Args[1:], stdout, stderr), stderr))
}

// stopSignals are the signals that stop a command cleanly: Ctrl-C,
// SIGTERM, and SIGHUP (the terminal or the SSH session closed), which
// otherwise killed the process at once and left a serve --docker's
// containers behind. SIGHUP is left alone when the process was started
// with it ignored (nohup): notifying it would undo that.
func stopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// defaultGCPercent is the collector's target (GOGC) unless the environment
// sets GOGC: maildrill's heap is mostly large byte slices (messages,
// attachments) that the collector does not scan, so collecting more often
// costs little CPU and keeps the peak memory near the live caches.
const defaultGCPercent = 50

// setGC applies defaultGCPercent when GOGC is not set; it returns the
// percent in force.
func setGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}

// beforeServe, when set (by main; tests leave it nil: GOMAXPROCS is the
// test process's), is called when serve is about to start the mail system
// in this process; it returns setProcs's results.
var beforeServe func() (procs, before int)

// setProcs gives the Go scheduler spareProcs(cores) Ps, cores being the
// Ps it may use by default (GOMAXPROCS's default: the CPUs, or the
// container's CPU limit), unless the environment sets GOMAXPROCS; it
// returns GOMAXPROCS in force and before. serve calls it and lets as many
// IMAP sessions write message bodies at once as there are cores
// (imapd.Config.BulkWriters), so that bulk downloads use every core while
// idle Ps remain: an idle P's thread waits in the network poll, and the
// kernel wakes it when another client's command arrives. With every P busy
// (bulk writers, their preparers, the collector's workers) Go notices the
// command only when a P runs out of work or sysmon polls, every 10 ms.
// Measured on 2 cores (docs/performance.md, "Spare Ps"): with 8 Ps and 2
// writers a small request's p99 latency during bulk downloads with 4 and 8
// connections was lower than with 3 Ps and 2 writers (the previous
// default) in 24 of 30 run pairs, the throughput the same within the
// noise once the preparers were bounded one below the writers. run keeps
// the default: when its actors acted one at a time the 2,000-staff day
// took 53–55 s with one P more against 47–51 s.
func setProcs(getenv func(string) string) (procs, before int) {
	before = runtime.GOMAXPROCS(0)
	if getenv("GOMAXPROCS") != "" {
		return before, before
	}
	procs = spareProcs(before)
	runtime.GOMAXPROCS(procs)
	return procs, before
}

// spareProcs is the Ps serve runs with on cores usable cores: twice the
// cores, at least 8.
func spareProcs(cores int) int { return max(8, 2*cores) }

// firstGCHeap is the memory the first collection waits for: below it,
// collecting at defaultGCPercent would run dozens of cycles while a run
// starts (the heap growing from 2 MB to tens), each stopping every thread.
const firstGCHeap = 64 << 20

type gcSentinel struct{ _ *int }

// holdFirstGC defers the first collection until the process holds
// firstGCHeap (a memory limit, with GOGC off), then restores the percent
// and the limit in force, from a finalizer run by that first collection;
// then done, if not nil. It does nothing, returning false, when the
// environment sets GOGC or GOMEMLIMIT.
func holdFirstGC(getenv func(string) string, done func()) bool {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return false
	}
	p := debug.SetGCPercent(-1)
	lim := debug.SetMemoryLimit(firstGCHeap)
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		debug.SetGCPercent(p)
		debug.SetMemoryLimit(lim)
		if done != nil {
			done()
		}
	})
	return true
}

// forceExit ends the process; nil in tests, which call run directly.
var forceExit func(code int)

// stopsItself lists the commands that watch their context and stop on
// their own, cleaning up what they started (containers, listeners) and
// reporting what they finished. Every other command holds nothing and is
// ended stopGrace after a stop if it has not returned by then, so that
// Ctrl-C, SIGTERM and --deadline stop any command within about a second.
var stopsItself = map[string]bool{
	"maildrill run": true, "maildrill test": true, "maildrill serve": true, "maildrill detect": true,
	"maildrill export-maildir": true, "maildrill rules eval": true, "maildrill ingest": true,
	"maildrill exercise": true,
}

const stopGrace = time.Second

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	// The reader went away (`maildrill list | head -1`): nothing more can
	// be said to it, and nothing went wrong, as with any Unix tool.
	if errors.Is(err, cliout.ErrClosed) || errors.Is(err, syscall.EPIPE) {
		return exitOK
	}
	fmt.Fprintln(stderr, "maildrill:", termsafe.Lines(err.Error()))
	var fe failedError
	if errors.As(err, &fe) {
		return exitFailed
	}
	return exitBadInput
}

// run executes the command line; tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	return outputFailed(err, stdout)
}

// outputFailed turns a command that finished (or only failed its checks)
// into an error when its standard output could not be written (a full
// disk under `maildrill run ... > verdicts.txt`): what it printed is
// incomplete, and exit 0 or 1 would pass it off as the whole answer. A
// closed pipe is not a failure (exitCode).
func outputFailed(err error, stdout io.Writer) error {
	w, ok := stdout.(*cliout.Writer)
	if !ok || w.Err() == nil {
		return err
	}
	var fe failedError
	if err != nil && !errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("writing to standard output: %w (the output is incomplete)", w.Err())
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "maildrill",
		Short: "Email-infrastructure breach simulation testbed",
		Long: `maildrill stands up real IMAP and SMTP servers seeded with a synthetic
organisation, replays attacker sessions beside ordinary staff activity, and
checks that detection rules (Sigma) fire within their expected windows.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(),
	}
	// --version prints what `maildrill version` prints; declared here so
	// that it has no -v shorthand (-v is --verbose in the subcommands).
	root.Flags().Bool("version", false, "print the version, the commit and the Go version")
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	// --deadline on every command; run and test have their own (per run),
	// which take precedence for them.
	var deadline time.Duration
	root.PersistentFlags().DurationVar(&deadline, "deadline", 0, "stop after this much wall time, as Ctrl-C would (0: no limit)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if deadline < 0 {
			return usageError{fmt.Errorf("--deadline %s: want a positive duration", deadline)}
		}
		if deadline > 0 {
			ctx, cancel := context.WithTimeoutCause(cmd.Context(), deadline, fmt.Errorf("--deadline %s reached", deadline))
			cmd.SetContext(ctx)
			_ = cancel // released when run's context ends
		}
		if forceExit != nil && !stopsItself[cmd.CommandPath()] {
			cliout.EndAfterStop(cmd.Context(), stopGrace, cmd.ErrOrStderr(), "maildrill: "+cmd.CommandPath(), forceExit, exitBadInput)
		}
		return nil
	}
	root.AddCommand(
		newServeCmd(),
		newRunCmd(),
		newValidateCmd(),
		newCleanupCmd(),
		newListCmd(),
		newShowCmd(),
		newTestCmd(),
		newReplayCmd(),
		newRulesCmd(),
		newDetectCmd(),
		newIngestCmd(),
		newExportCmd(),
		newNewCmd(),
		newExerciseCmd(),
		newVersionCmd(),
	)
	return root
}
