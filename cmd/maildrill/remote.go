package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/remote"
	"github.com/maildrill/maildrill/mailsim/target"
)

// remoteFlags describe the remote target (run, test, exercise).
type remoteFlags struct {
	file      string
	seed      bool
	perFolder int
}

func (f *remoteFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.file, "remote", "", "the remote file (YAML; docs/remote.md): your staging server's endpoints, TLS, test accounts and logs (implies --target remote)")
	fl.BoolVar(&f.seed, "seed-mailboxes", false, "remote target: APPEND a slice of the synthetic organisation's mail into the test accounts before the run, marked X-Maildrill-Run: RUN_ID, and remove exactly those messages afterwards")
	fl.IntVar(&f.perFolder, "seed-per-folder", 0, "remote target: seed at most N messages per folder (default 20)")
}

// loadRemote reads the remote file and checks every endpoint against
// --allow-target, before anything is sent: a refusal is exit 2.
func loadRemote(ctx context.Context, file string, allowVals []string) (*remote.File, *remote.Allow, []remote.Resolved, error) {
	allow, err := remote.ParseAllow(allowVals)
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	f, err := remote.Load(file)
	if err != nil {
		return nil, nil, nil, usageError{fmt.Errorf("--remote: %w", err)}
	}
	checked, err := allow.Check(ctx, f, nil)
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	return f, allow, checked, nil
}

// remoteSpec is the remote target's spec when --target remote; nil
// otherwise. needLogs refuses a remote file without logs: (test, whose
// verdicts come from the server's telemetry) unless outside alerts judge.
func (f *scenarioFlags) remoteSpec(ctx context.Context, stderr io.Writer, needLogs bool) (*target.RemoteSpec, *target.Org, error) {
	if f.target != "remote" {
		return nil, nil, nil
	}
	file, _, _, err := loadRemote(ctx, f.remote.file, f.allow)
	if err != nil {
		return nil, nil, err
	}
	if file.Logs == nil {
		if needLogs {
			return nil, nil, usageError{fmt.Errorf("--remote %s has no logs: section: the server's telemetry would not reach maildrill and no rule could judge; add logs: {syslog: HOST:PORT} or {file: PATH} (docs/remote.md), or bring outside alerts (--alerts-webhook, --alerts-file, --alerts-command)", file.Path)}
		}
		fmt.Fprintf(stderr, "WARNING: %s has no logs: section: the run happens, but no verdict can come from the server's telemetry — every rule expectation will be MISSED\n", file.Path)
	}
	return &target.RemoteSpec{File: file, Seed: f.remote.seed, SeedPerFolder: f.remote.perFolder}, target.RemoteOrg(file), nil
}

func newCleanupCmd() *cobra.Command {
	var file, runID string
	var allow []string
	cmd := &cobra.Command{
		Use:   "cleanup --remote FILE --run-id ID",
		Short: "Remove a killed run's seeded messages from the remote target's test accounts",
		Long: `cleanup logs in to every test account of the remote file and, in every
mailbox, removes the messages whose X-Maildrill-Run header is ID (the
messages --seed-mailboxes put there): SEARCH HEADER, STORE \Deleted,
EXPUNGE. It prints what it removed per mailbox. A run removes its own
messages when it ends, also on failure or Ctrl-C; cleanup is for a run
that was killed. The run id is printed at the start of the run.

Every endpoint must be covered by --allow-target, as for a run.`,
		Example: `  maildrill cleanup --remote staging.yaml --run-id md-ministry-overnight-1a2b3c4d-r5c21e9a0 --allow-target 192.0.2.0/24`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" || strings.TrimSpace(runID) == "" {
				return usageError{errors.New("cleanup needs --remote FILE and --run-id ID")}
			}
			if err := audit.CheckRunID(runID); err != nil {
				return usageError{fmt.Errorf("--run-id %w", err)}
			}
			f, _, checked, err := loadRemote(cmd.Context(), file, allow)
			if err != nil {
				return err
			}
			conn, err := remote.NewConn(f, checked)
			if err != nil {
				return err
			}
			counts, err := conn.Cleanup(cmd.Context(), runID)
			n := 0
			for _, c := range counts {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %d removed\n", c.Account, c.Mailbox, c.Removed)
				n += c.Removed
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d messages marked X-Maildrill-Run: %s removed from %d accounts\n", n, runID, len(f.Accounts))
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&file, "remote", "", "the remote file (YAML; docs/remote.md)")
	fl.StringVar(&runID, "run-id", "", "the run whose messages to remove (its X-Maildrill-Run header)")
	fl.StringSliceVar(&allow, "allow-target", nil, "allow this outside host: a name, an IP, a CIDR or host:port (repeatable); every endpoint of --remote must be covered")
	return cmd
}
