package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/mailsim/admin"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/spf13/cobra"
)

// newDetectCmd is the detection engine as a service (docker-compose's
// "detect"): it follows a mailsim admin API's event stream and prints an
// alert per line as the rules fire.
func newDetectCmd() *cobra.Command {
	var url, token string
	var rf rulesFlags
	var retry time.Duration
	cmd := &cobra.Command{
		Use:   "detect --events-url URL",
		Short: "Follow a mailsim's audit event stream and print the rules' alerts as JSON lines (the detection engine as a service)",
		Example: `  maildrill detect --events-url http://127.0.0.1:8025/api/events --admin-token "$MAILDRILL_ADMIN_TOKEN"
  docker-compose up   # runs it beside the mailsim container`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if url == "" {
				return usageError{fmt.Errorf("--events-url is required")}
			}
			if !httpURL(url) {
				// Retried for ever as if the mail system were starting.
				return usageError{fmt.Errorf("--events-url %q: want http(s)://HOST:PORT/api/events", url)}
			}
			if retry <= 0 {
				// 0 reconnected in a busy loop while the mail system was down.
				return usageError{fmt.Errorf("--retry %s: want a positive duration, e.g. 2s", retry)}
			}
			if token == "" {
				token = os.Getenv("MAILDRILL_ADMIN_TOKEN")
			}
			// The rules' own configuration (a directory's pack.yml), as
			// run, test and replay use it.
			pack, err := rf.load()
			if err != nil {
				return err
			}
			eng, err := detectors.NewEngine(pack.Rules, pack.Config)
			if err != nil {
				return err
			}
			detectors.ReportUnfireable(cmd.ErrOrStderr(), eng, true, "", "") // a service's log: name them
			enc := json.NewEncoder(cmd.OutOrStdout())
			err = admin.Follow(cmd.Context(), url, token, retry, cmd.ErrOrStderr(), func(e audit.Event) error {
				for _, a := range eng.Process(scenarios.AuditEvent(&e)) {
					if err := enc.Encode(a); err != nil {
						return fmt.Errorf("writing the alerts: %w (event %d of %s; stopped)", err, e.Sequence, url)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, a := range eng.Flush() {
				if err := enc.Encode(a); err != nil {
					return fmt.Errorf("writing the alerts: %w", err)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&url, "events-url", "", "the admin API's event stream, e.g. http://mailsim:8025/api/events")
	fl.StringVar(&token, "admin-token", "", "admin API bearer token (default $MAILDRILL_ADMIN_TOKEN)")
	rf.register(cmd)
	fl.DurationVar(&retry, "retry", 2*time.Second, "wait between connection attempts while the mail system starts or restarts")
	deprecatedAlias(cmd, "token", "admin-token")
	return cmd
}
