package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/maildrill/maildrill/internal/cliout"
	"github.com/maildrill/maildrill/internal/outpath"
	"github.com/maildrill/maildrill/internal/schedslice"
	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/container"
	"github.com/maildrill/maildrill/mailsim/imapd"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
	"github.com/maildrill/maildrill/mailsim/smtpd"
	"github.com/maildrill/maildrill/mailsim/store"
	"github.com/maildrill/maildrill/mailsim/throttle"
	"github.com/maildrill/maildrill/scenarios"
	scenariorun "github.com/maildrill/maildrill/scenarios/run"
)

type serveFlags struct {
	imap, imaps, submission, mx, admin string
	seed                               int64
	users, messages                    int
	auditLog, accounts, certDir        string
	onAuditError                       string
	adminToken, runID                  string
	pprof                              string
	schedSlice                         time.Duration
	schedSliceSet                      bool
	bulkPriority                       string
	allowPlaintext                     bool
	start                              string
	speed                              float64
	verbose                            bool
	proxyProtocol, virtualClock        bool
	trustedProxies                     []string
	adminHosts                         []string
	docker                             dockerServeFlags
	syslogTo                           syslogToFlags
	limits                             mailsim.Limits
	throttle                           throttle.Config
}

// defaultSchedSlice is serve's --sched-slice: the shortest the kernel
// accepts, so that the thread that answers a command, woken while bulk
// downloads keep every core busy, runs before threads that have had their
// slice. On 2 cores the p99 latency of a small command beside bulk
// downloads came to 1.6–2.1 times Dovecot's in the same run (medians over
// 12 points, 5 runs) against 2.1–2.3 without it (4 runs), the throughput
// the same within the noise (docs/performance.md, "Scheduler slices").
const defaultSchedSlice = schedslice.Min

func newServeCmd() *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the synthetic organisation's mail (IMAP, IMAPS, submission, MX, admin API)",
		Long: `serve starts mailsim: real IMAP and SMTP servers over a synthetic ministry's
mailboxes, writing an audit event for every security-relevant action.
Listeners bind to loopback by default. Stop with Ctrl-C (SIGINT) or SIGTERM.

The admin API wants "Authorization: Bearer <token>" on every request but
/healthz (the token is --admin-token, $MAILDRILL_ADMIN_TOKEN, or generated
and printed), accepts as Host only IP addresses, localhost and --admin-host
names, and never serves passwords: use --accounts FILE. --cert-dir is locked
while serve runs: a second serve on the same directory fails at once.
See docs/admin-api.md.`,
		Example: `  maildrill serve
  maildrill serve --users 200 --messages 500 --events audit.jsonl --accounts accounts.json
  maildrill serve --allow-plaintext-auth --events -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.schedSliceSet = cmd.Flags().Changed("sched-slice")
			return runServe(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.imap, "imap", "127.0.0.1:1143", "IMAP listen address (STARTTLS), or 'off'")
	fl.StringVar(&f.imaps, "imaps", "127.0.0.1:1993", "IMAPS (implicit TLS) listen address, or 'off'")
	fl.StringVar(&f.submission, "submission", "127.0.0.1:1587", "SMTP submission listen address, or 'off'")
	fl.StringVar(&f.mx, "mx", "127.0.0.1:1025", "SMTP MX (inbound) listen address, or 'off'")
	fl.StringVar(&f.admin, "admin", "127.0.0.1:8025", "admin HTTP API listen address, or 'off'")
	fl.Int64Var(&f.seed, "seed", 1, "corpus seed: the same seed gives byte-identical mailboxes")
	fl.IntVar(&f.users, "users", 50, "number of personal mailboxes")
	fl.IntVar(&f.messages, "messages", 200, "messages per mailbox (approximate, over all folders)")
	fl.StringVar(&f.auditLog, "events", "", "write the audit events as JSON lines to FILE ('-' for stdout)")
	fl.StringVar(&f.onAuditError, "on-audit-error", "stop", "when the audit log cannot be written (disk full, closed pipe): 'stop' serving, or 'warn' and keep serving (lost events are counted and reported)")
	fl.StringVar(&f.accounts, "accounts", "", "write the accounts (address, password, name, department, role) as JSON to FILE")
	fl.StringVar(&f.certDir, "cert-dir", "", "directory for the generated CA and server certificate (default: a temporary directory)")
	fl.StringVar(&f.adminToken, "admin-token", "", "bearer token the admin API requires on every request but /healthz (default $MAILDRILL_ADMIN_TOKEN, else generated and printed)")
	fl.StringSliceVar(&f.adminHosts, "admin-host", nil, "host name the admin API accepts in the Host header besides IP addresses and localhost, e.g. a Docker service name (repeatable)")
	fl.StringVar(&f.runID, "run-id", "", "run id stamped on every audit event (labels.run_id)")
	fl.BoolVar(&f.allowPlaintext, "allow-plaintext-auth", false, "allow LOGIN/AUTH without TLS (recorded as auth.cleartext)")
	fl.StringVar(&f.start, "start", "", "scenario start time (RFC 3339) for a scaled clock; default: the wall clock")
	fl.Float64Var(&f.speed, "speed", 1, "with --start: scenario seconds per wall second")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log diagnostics to stderr")
	fl.StringVar(&f.pprof, "pprof", "", "serve Go runtime profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060 (default: off)")
	fl.DurationVar(&f.schedSlice, "sched-slice", defaultSchedSlice, "scheduling slice asked of the kernel for serve's threads (Linux 6.12 or later; 100µs to 100ms), so that a command arriving during bulk downloads is answered soon; 0: the kernel's default")
	fl.StringVar(&f.bulkPriority, "bulk-priority", "idle", "scheduling class of the threads that write message bodies: idle (Linux SCHED_IDLE: commands on other connections preempt bulk downloads at once) or normal")
	fl.BoolVar(&f.proxyProtocol, "proxy-protocol", false, "require a PROXY protocol header (v1/v2) on IMAP and SMTP connections, from --trusted-proxies only")
	fl.StringSliceVar(&f.trustedProxies, "trusted-proxies", nil, "with --proxy-protocol: CIDRs allowed to send PROXY headers (default loopback)")
	fl.BoolVar(&f.virtualClock, "virtual-clock", false, "with --start: a virtual clock that moves only through the admin API (POST /api/clock)")
	registerLimitFlags(fl, &f.limits, &f.throttle)
	registerDockerServeFlags(fl, &f.docker)
	f.syslogTo.register(fl)
	deprecatedAlias(cmd, "audit-log", "events")
	return cmd
}

func runServe(ctx context.Context, f *serveFlags, stdout, stderr io.Writer) error {
	cfg := mailsim.Config{
		Seed: f.seed, Users: f.users, MessagesPerUser: f.messages,
		IMAPAddr: f.imap, IMAPSAddr: f.imaps, SubmissionAddr: f.submission, MXAddr: f.mx, AdminAddr: f.admin,
		AllowInsecureAuth: f.allowPlaintext, CertDir: f.certDir, RunID: f.runID,
		AdminHosts: f.adminHosts, ProxyProtocol: f.proxyProtocol, Limits: f.limits, Throttle: f.throttle,
	}
	if q := cfg.Limits.QuotaBytes; q == 0 || q < -1 {
		// The configuration's zero is its default; the flag's default is
		// written out, so a 0 here was typed, and a quota of nothing
		// cannot be expressed: say so rather than serve 1 GiB.
		return usageError{fmt.Errorf("--quota %d: want a number of bytes, at least 1 (1 refuses every added message), or -1 for no quota", q)}
	}
	if err := cfg.Validate(); err != nil {
		return serveError(err)
	}
	if f.certDir != "" {
		if err := writableDir(f.certDir); err != nil {
			return usageError{fmt.Errorf("--cert-dir %s: %w", f.certDir, err)}
		}
	}
	if f.runID != "" {
		if err := audit.CheckRunID(f.runID); err != nil {
			return usageError{fmt.Errorf("--run-id %w", err)}
		}
	}
	if err := checkFiles([]outpath.File{{Flag: "--syslog-ca", Path: f.syslogTo.ca}},
		[]outpath.File{{Flag: "--events", Path: f.auditLog}, {Flag: "--accounts", Path: f.accounts}}); err != nil {
		return err
	}
	if f.schedSlice != 0 {
		if err := schedslice.Check(f.schedSlice); err != nil {
			return usageError{fmt.Errorf("--sched-slice %v", err)}
		}
	}
	if f.onAuditError != "stop" && f.onAuditError != "warn" {
		return usageError{fmt.Errorf("--on-audit-error %q: want 'stop' or 'warn'", f.onAuditError)}
	}
	if f.docker.enabled {
		if f.syslogTo.url != "" {
			return usageError{fmt.Errorf("--syslog-to is not available with --docker: stream a container's audit trail with run or test --target docker --syslog-to, or read it from the admin API (GET /api/events)")}
		}
		return runServeDocker(ctx, f, stdout, stderr)
	}
	procs := runtime.GOMAXPROCS(0)
	before := procs
	if beforeServe != nil {
		procs, before = beforeServe()
	}
	// As many bulk writers as cores, the other Ps spare (setProcs); with
	// GOMAXPROCS set, imapd's default (one P stays free of them).
	cfg.BulkWriters = imapd.DefaultBulkWriters()
	if procs != before {
		cfg.BulkWriters = before
	}
	switch f.bulkPriority {
	case "idle":
	case "normal":
		cfg.BulkNormalPriority = true
	default:
		return usageError{fmt.Errorf("--bulk-priority %q: want idle or normal", f.bulkPriority)}
	}
	slice, sliceNote := "off", ""
	if f.schedSlice != 0 {
		switch err := schedslice.Start(ctx, f.schedSlice); {
		case err == nil:
			slice = f.schedSlice.String()
		case f.schedSliceSet:
			fmt.Fprintf(stderr, "maildrill serve: --sched-slice: %v; the kernel's default is used\n", err)
		default:
			sliceNote = err.Error() // the default: -v says why it is off
		}
	}
	if f.adminToken == "" {
		f.adminToken = os.Getenv("MAILDRILL_ADMIN_TOKEN")
	}
	for _, c := range f.trustedProxies {
		p, err := proxyproto.ParsePrefix(c)
		if err != nil {
			return usageError{fmt.Errorf("--trusted-proxies %q: want a CIDR such as 172.18.0.1/32", c)}
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p)
	}
	if len(cfg.TrustedProxies) > 0 && !f.proxyProtocol {
		return usageError{fmt.Errorf("--trusted-proxies needs --proxy-protocol")}
	}
	start, err := time.Parse(time.RFC3339, f.start)
	switch {
	case f.virtualClock && (f.start == "" || f.speed != 1):
		return usageError{fmt.Errorf("--virtual-clock needs --start and no --speed")}
	case f.start != "" && err != nil:
		return usageError{fmt.Errorf("--start %q: want an RFC 3339 time such as 2025-12-11T23:40:00+01:00", f.start)}
	case f.start != "" && (start.Before(scenarios.MinStart) || !start.Before(scenarios.MaxStart)):
		return usageError{fmt.Errorf("--start %s: out of range: from %s to the end of %d", f.start, scenarios.MinStart.Format(time.DateOnly), scenarios.MaxStart.Year()-1)}
	case f.virtualClock:
		cfg.Clock = clock.NewVirtual(start)
	case f.start != "":
		if cfg.Clock, err = clock.NewScaled(start, f.speed); err != nil {
			return usageError{fmt.Errorf("--speed: %w", err)}
		}
	case f.speed != 1:
		return usageError{fmt.Errorf("--speed needs --start")}
	default:
		cfg.Clock = clock.Real{}
	}
	if f.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg.Logger.Debug("scheduler", "gomaxprocs", procs, "before", before, "bulk_writers", cfg.BulkWriters, "bulk_priority", f.bulkPriority, "gomaxprocs_env", os.Getenv("GOMAXPROCS"), "sched_slice", slice)
		if sliceNote != "" {
			cfg.Logger.Debug("scheduler", "sched_slice_off", sliceNote)
		}
	}
	cfg.AdminToken = f.adminToken
	if f.pprof != "" {
		stop, err := startPprof(f.pprof, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	sys, err := f.syslogTo.open(stderr, stderr)
	if err != nil {
		return err
	}
	so := mailsim.ServeOptions{
		AuditLog: f.auditLog, AuditStdout: cliout.Unwrap(stdout), StopOnAuditError: f.onAuditError == "stop",
		AccountsFile: f.accounts, TokenGiven: f.adminToken != "", Stdout: stdout, Stderr: stderr,
	}
	if s := sys.sender(); s != nil {
		so.Syslog = func(r audit.SyslogRecord) { s.Send(scenariorun.SyslogMessage(r)) }
		fmt.Fprintf(stderr, "audit trail streamed as syslog to %s\n", s.Endpoint())
	}
	err = serveError(mailsim.Serve(ctx, cfg, so))
	sys.finish()
	return err
}

// serveFlagOf names the flag that sets each mailsim.Config field and serve
// option, for the errors that name the field.
var serveFlagOf = map[string]string{
	"Users": "--users", "MessagesPerUser": "--messages", "AuditLog": "--events", "AccountsFile": "--accounts",
	"Limits.IMAPSessions": "--imap-max-sessions", "Limits.IMAPSessionsPerSource": "--imap-max-sessions-per-source",
	"Limits.MXSessions": "--mx-max-sessions", "Limits.MXSessionsPerSource": "--mx-max-sessions-per-source",
	"Limits.SubmissionSessions": "--submission-max-sessions", "Limits.SubmissionSessionsPerSource": "--submission-max-sessions-per-source",
	"Limits.IMAPPreAuthTimeout": "--imap-login-timeout", "Limits.IMAPIdleTimeout": "--imap-idle-timeout",
	"Limits.SMTPCommandTimeout": "--smtp-command-timeout", "Limits.SMTPDataTimeout": "--smtp-data-timeout",
	"Limits.TLSHandshakeTimeout": "--tls-handshake-timeout", "Limits.MIMEDepth": "--max-mime-depth", "Limits.MIMEParts": "--max-mime-parts",
	"Limits.QuotaBytes":     "--quota",
	"Throttle.FailureDelay": "--auth-failure-delay", "Throttle.MaxFailuresPerSource": "--auth-max-failures-per-source",
	"Throttle.MaxFailuresPerAccount": "--auth-max-failures-per-account", "Throttle.Window": "--auth-failure-window",
}

// serveError names the flag in an error about a mailsim.Config field.
func serveError(err error) error {
	var fe *mailsim.FieldError
	if !errors.As(err, &fe) || serveFlagOf[fe.Field] == "" {
		return err
	}
	if fe.Op != "" {
		return usageError{fmt.Errorf("%s: %w", serveFlagOf[fe.Field], fe.Err)}
	}
	return usageError{fmt.Errorf("%s %w", serveFlagOf[fe.Field], fe.Err)}
}

// dockerServeFlags are serve's container options.
type dockerServeFlags struct {
	enabled bool
	sweep   bool
}

func registerDockerServeFlags(fl *pflag.FlagSet, f *dockerServeFlags) {
	fl.BoolVar(&f.enabled, "docker", false, "run mailsim in a Docker container (image built locally; see docs/containers.md)")
	fl.BoolVar(&f.sweep, "docker-sweep", false, "with --docker: first remove containers and networks a killed maildrill left behind")
}

// runServeDocker is `serve --docker`: the same mail system in a container
// on a private network, published on 127.0.0.1, until Ctrl-C.
func runServeDocker(ctx context.Context, f *serveFlags, stdout, stderr io.Writer) error {
	if f.auditLog != "" || f.certDir != "" || f.proxyProtocol || f.virtualClock || len(f.adminHosts) > 0 || f.adminToken != "" {
		return usageError{fmt.Errorf("--docker does not take --events, --cert-dir, --proxy-protocol, --virtual-clock, --admin-host or --admin-token: the audit trail is on the admin API (GET /api/events, token printed below)")}
	}
	opts := container.Options{Seed: f.seed, Users: f.users, Messages: f.messages, AllowPlaintext: f.allowPlaintext, RunID: f.runID}
	if f.start != "" {
		t, err := time.Parse(time.RFC3339, f.start)
		if err != nil {
			return usageError{fmt.Errorf("--start %q: want an RFC 3339 time", f.start)}
		}
		if f.speed != 1 {
			return usageError{fmt.Errorf("--docker with --start gives a virtual clock (POST /api/clock); --speed is not supported")}
		}
		opts.Start = t
	}
	return serveError(container.Serve(ctx, container.ServeOptions{Options: opts, Sweep: f.docker.sweep, AccountsFile: f.accounts, Stdout: stdout, Stderr: stderr}))
}

// registerLimitFlags adds the mail system's limits, timeouts and optional
// authentication throttling to a command that starts mailsim.
func registerLimitFlags(fl *pflag.FlagSet, l *mailsim.Limits, t *throttle.Config) {
	fl.IntVar(&l.IMAPSessions, "imap-max-sessions", imapd.DefaultMaxSessions, "concurrent IMAP/IMAPS sessions; more get '* BYE [LIMIT]'")
	fl.IntVar(&l.IMAPSessionsPerSource, "imap-max-sessions-per-source", imapd.DefaultMaxSessionsPerSource, "concurrent IMAP/IMAPS sessions from one source address")
	fl.IntVar(&l.MXSessions, "mx-max-sessions", smtpd.DefaultMaxSessions, "concurrent MX sessions; more get 421 (submission has its own cap)")
	fl.IntVar(&l.MXSessionsPerSource, "mx-max-sessions-per-source", smtpd.DefaultMaxSessionsPerIP, "concurrent MX sessions from one source address")
	fl.IntVar(&l.SubmissionSessions, "submission-max-sessions", smtpd.DefaultMaxSessions, "concurrent submission sessions")
	fl.IntVar(&l.SubmissionSessionsPerSource, "submission-max-sessions-per-source", smtpd.DefaultMaxSessionsPerIP, "concurrent submission sessions from one source address")
	fl.DurationVar(&l.IMAPPreAuthTimeout, "imap-login-timeout", imapd.DefaultPreAuthTimeout, "time an IMAP client has to authenticate")
	fl.DurationVar(&l.IMAPIdleTimeout, "imap-idle-timeout", imapd.DefaultIdleTimeout, "autologout of a silent IMAP session, IDLE included (RFC 9051: at least 30m)")
	fl.DurationVar(&l.SMTPCommandTimeout, "smtp-command-timeout", smtpd.DefaultReadTimeout, "wait for each SMTP command (RFC 5321: 5m)")
	fl.DurationVar(&l.SMTPDataTimeout, "smtp-data-timeout", smtpd.DefaultDataTimeout, "wait for each block of message data (RFC 5321: 3m)")
	fl.DurationVar(&l.TLSHandshakeTimeout, "tls-handshake-timeout", imapd.DefaultTLSHandshakeTimeout, "time a TLS handshake may take (IMAPS, STARTTLS)")
	fl.IntVar(&l.MIMEDepth, "max-mime-depth", smtpd.DefaultMaxMIMEDepth, "MIME nesting depth of a message (multipart, message/rfc822); deeper is refused with 552")
	fl.IntVar(&l.MIMEParts, "max-mime-parts", smtpd.DefaultMaxMIMEParts, "MIME parts in a message; more is refused with 552")
	fl.Int64Var(&l.QuotaBytes, "quota", store.DefaultQuotaBytes, "bytes each account may add on top of the generated corpus (APPEND, COPY, delivery), at least 1; -1: no quota")
	fl.DurationVar(&t.FailureDelay, "auth-failure-delay", 0, "throttling: wait this long (scenario time) before answering a failed login, as Dovecot's auth_failure_delay (0: off)")
	fl.IntVar(&t.MaxFailuresPerSource, "auth-max-failures-per-source", 0, "throttling: refuse logins from a source address after this many failures in --auth-failure-window (0: off)")
	fl.IntVar(&t.MaxFailuresPerAccount, "auth-max-failures-per-account", 0, "throttling: refuse logins to an account after this many failures in --auth-failure-window (0: off)")
	fl.DurationVar(&t.Window, "auth-failure-window", 15*60e9, "throttling: how long a failed login counts (scenario time)")
}
