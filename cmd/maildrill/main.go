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
	"syscall"

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
	// SIGPIPE too: `maildrill run ... | head` stops the run when the reader
	// goes away, and still removes what it started (containers above
	// all) instead of dying on the first write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "maildrill:", err)
	var fe failedError
	if errors.As(err, &fe) {
		return exitFailed
	}
	return exitBadInput
}

// run executes the command line; tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetContext(ctx)
	return root.ExecuteContext(ctx)
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
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.AddCommand(newServeCmd())
	for _, extra := range extraCommands {
		root.AddCommand(extra())
	}
	return root
}

// extraCommands lets other files register subcommands.
var extraCommands []func() *cobra.Command
