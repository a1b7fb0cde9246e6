package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/container"
	"github.com/maildrill/maildrill/mailsim/imapd"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
	"github.com/maildrill/maildrill/mailsim/smtpd"
	"github.com/maildrill/maildrill/mailsim/store"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

type serveFlags struct {
	imap, imaps, submission, mx, admin string
	seed                               int64
	users, messages                    int
	auditLog, accounts, certDir        string
	onAuditError                       string
	adminToken, runID                  string
	allowPlaintext                     bool
	start                              string
	speed                              float64
	verbose                            bool
	proxyProtocol, virtualClock        bool
	trustedProxies                     []string
	adminHosts                         []string
	docker                             dockerServeFlags
	limits                             mailsim.Limits
	throttle                           throttle.Config
}

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
  maildrill serve --users 200 --messages 500 --audit-log audit.jsonl --accounts accounts.json
  maildrill serve --allow-plaintext-auth --audit-log -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
	fl.StringVar(&f.auditLog, "audit-log", "", "write audit events as JSON lines to FILE ('-' for stdout)")
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
	fl.BoolVar(&f.proxyProtocol, "proxy-protocol", false, "require a PROXY protocol header (v1/v2) on IMAP and SMTP connections, from --trusted-proxies only")
	fl.StringSliceVar(&f.trustedProxies, "trusted-proxies", nil, "with --proxy-protocol: CIDRs allowed to send PROXY headers (default loopback)")
	fl.BoolVar(&f.virtualClock, "virtual-clock", false, "with --start: a virtual clock that moves only through the admin API (POST /api/clock)")
	registerLimitFlags(fl, &f.limits, &f.throttle)
	registerDockerServeFlags(fl, &f.docker)
	return cmd
}

func runServe(ctx context.Context, f *serveFlags, stdout, stderr io.Writer) error {
	if f.users < 1 || f.users > 100000 {
		return usageError{fmt.Errorf("--users must be between 1 and 100000, got %d", f.users)}
	}
	if f.messages < 0 || f.messages > 100000 {
		return usageError{fmt.Errorf("--messages must be between 0 and 100000, got %d", f.messages)}
	}
	if err := checkLimits(f.limits, f.throttle); err != nil {
		return err
	}
	if f.onAuditError != "stop" && f.onAuditError != "warn" {
		return usageError{fmt.Errorf("--on-audit-error %q: want 'stop' or 'warn'", f.onAuditError)}
	}
	if f.docker.enabled {
		return runServeDocker(ctx, f, stdout, stderr)
	}
	if f.adminToken == "" {
		f.adminToken = os.Getenv("MAILDRILL_ADMIN_TOKEN")
	}
	var trusted []netip.Prefix
	for _, c := range f.trustedProxies {
		p, err := proxyproto.ParsePrefix(c)
		if err != nil {
			return usageError{fmt.Errorf("--trusted-proxies %q: want a CIDR such as 172.18.0.1/32", c)}
		}
		trusted = append(trusted, p)
	}
	if len(trusted) > 0 && !f.proxyProtocol {
		return usageError{fmt.Errorf("--trusted-proxies needs --proxy-protocol")}
	}
	var clk clock.Clock = clock.Real{}
	if f.virtualClock {
		if f.start == "" || f.speed != 1 {
			return usageError{fmt.Errorf("--virtual-clock needs --start and no --speed")}
		}
		t, err := time.Parse(time.RFC3339, f.start)
		if err != nil {
			return usageError{fmt.Errorf("--start %q: want an RFC 3339 time such as 2025-12-11T23:40:00+01:00", f.start)}
		}
		clk = clock.NewVirtual(t)
	} else if f.start != "" {
		t, err := time.Parse(time.RFC3339, f.start)
		if err != nil {
			return usageError{fmt.Errorf("--start %q: want an RFC 3339 time such as 2025-12-11T23:40:00+01:00", f.start)}
		}
		sc, err := clock.NewScaled(t, f.speed)
		if err != nil {
			return usageError{fmt.Errorf("--speed: %w", err)}
		}
		clk = sc
	} else if f.speed != 1 {
		return usageError{fmt.Errorf("--speed needs --start")}
	}
	var logger *slog.Logger
	if f.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	info := stdout
	var auditW io.Writer
	var auditFile *os.File
	switch f.auditLog {
	case "":
	case "-":
		auditW = unwrapOutput(stdout) // its failure is the sink's to report, by --on-audit-error
		info = stderr                 // keep stdout pure JSON lines
	default:
		fh, err := os.OpenFile(f.auditLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return usageError{fmt.Errorf("--audit-log: %w", err)}
		}
		auditFile = fh
		auditW = fh
	}
	cfg := mailsim.Config{
		Seed: f.seed, Users: f.users, MessagesPerUser: f.messages,
		IMAPAddr: f.imap, IMAPSAddr: f.imaps, SubmissionAddr: f.submission, MXAddr: f.mx, AdminAddr: f.admin,
		AllowInsecureAuth: f.allowPlaintext, CertDir: f.certDir, Clock: clk, RunID: f.runID,
		AuditLog: auditW, AdminToken: f.adminToken, AdminHosts: f.adminHosts, Logger: logger,
		ProxyProtocol: f.proxyProtocol, TrustedProxies: trusted,
		Limits: f.limits, Throttle: f.throttle,
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	auditName := f.auditLog
	if auditName == "-" {
		auditName = "stdout"
	}
	cfg.OnAuditError = func(err error) {
		if f.onAuditError == "stop" {
			fmt.Fprintf(stderr, "\nmaildrill: AUDIT LOG WRITE FAILED (%s): %v\nmaildrill: stopping the mail system (--on-audit-error stop): a testbed must not serve without its audit trail\n", auditName, err)
			cancel(errAuditLog)
			return
		}
		fmt.Fprintf(stderr, "\nmaildrill: AUDIT LOG WRITE FAILED (%s): %v\nmaildrill: still serving (--on-audit-error warn): from now on events are NOT written; they are counted and the loss is reported at exit\n", auditName, err)
	}
	t0 := time.Now()
	srv, err := mailsim.Start(ctx, cfg)
	if err != nil {
		if auditFile != nil {
			auditFile.Close()
		}
		return err
	}
	accounts := srv.Accounts()
	if f.accounts != "" {
		if err := mailsim.WriteAccounts(f.accounts, accounts); err != nil {
			srv.Close()
			return usageError{fmt.Errorf("--accounts: %w", err)}
		}
	}
	printBanner(info, srv, accounts, f, time.Since(t0))
	<-ctx.Done()
	fmt.Fprintln(info, "\nshutting down: closing sessions and flushing the audit log...")
	err = srv.Close()
	if auditFile != nil {
		if cerr := auditFile.Close(); err == nil {
			err = cerr
		}
	}
	published := srv.Bus.Published()
	if f.auditLog == "" {
		fmt.Fprintf(info, "stopped; %d audit events recorded\n", published)
		return err
	}
	written, lost, werr := srv.AuditLogStats()
	if werr == nil {
		fmt.Fprintf(info, "stopped; %d audit events recorded, %d written to %s\n", published, written, auditName)
		return err
	}
	fmt.Fprintf(stderr, "stopped; %d audit events recorded, only %d written to %s: %d LOST (%v)\n", published, written, auditName, lost, werr)
	if f.onAuditError == "stop" {
		return fmt.Errorf("the audit log failed (%s: %v): %d of %d events were not written", auditName, werr, lost, published)
	}
	return err
}

// errAuditLog stops serve when the audit log fails under --on-audit-error stop.
var errAuditLog = errors.New("the audit log failed")

func printBanner(w io.Writer, srv *mailsim.Server, accounts []mailsim.Account, f *serveFlags, took time.Duration) {
	fmt.Fprintf(w, "mailsim ready in %s: %d mailboxes, seed %d, domain %s\n\n", took.Round(time.Millisecond), len(accounts), f.seed, srv.Org.Config().Domain)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(name, addr, note string) {
		if addr != "" {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", name, addr, note)
		}
	}
	row("IMAP", srv.IMAPAddr, "STARTTLS")
	row("IMAPS", srv.IMAPSAddr, "implicit TLS")
	row("submission", srv.SubmissionAddr, "SMTP AUTH PLAIN/LOGIN, STARTTLS")
	row("MX", srv.MXAddr, "inbound SMTP, local recipients only")
	row("admin API", srv.AdminAddr, "http://"+srv.AdminAddr+"/healthz")
	tw.Flush()
	fmt.Fprintf(w, "\nTLS: trust the CA in %s\n", srv.Certs.CAFile)
	switch {
	case srv.AdminAddr == "":
	case f.adminToken != "":
		fmt.Fprintln(w, "admin token: as given (--admin-token or MAILDRILL_ADMIN_TOKEN); send Authorization: Bearer <token>")
	default:
		fmt.Fprintf(w, "admin token: %s  (send Authorization: Bearer <token>; set one with --admin-token)\n", srv.AdminToken)
	}
	var sample *mailsim.Account
	for i := range accounts {
		if accounts[i].Kind == "person" {
			sample = &accounts[i]
			break
		}
	}
	if sample != nil {
		host, port := splitHostPort(srv.IMAPSAddr)
		fmt.Fprintf(w, "\nlog in, e.g.: %s / %s (%s)\n", sample.Address, sample.Password, sample.Role)
		if host != "" {
			fmt.Fprintf(w, "  curl --cacert %s --url 'imaps://%s:%s/INBOX' --user '%s:%s' -X 'EXAMINE INBOX'\n", srv.Certs.CAFile, host, port, sample.Address, sample.Password)
		}
	}
	if f.accounts != "" {
		fmt.Fprintf(w, "all accounts: %s\n", f.accounts)
	} else {
		fmt.Fprintln(w, "all accounts with passwords: --accounts FILE (the admin API never serves passwords)")
	}
	fmt.Fprintln(w, "\nCtrl-C to stop.")
}

func splitHostPort(a string) (string, string) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return "", ""
	}
	return a[:i], a[i+1:]
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
		return usageError{fmt.Errorf("--docker does not take --audit-log, --cert-dir, --proxy-protocol, --virtual-clock, --admin-host or --admin-token: the audit trail is on the admin API (GET /api/events, token printed below)")}
	}
	if f.docker.sweep {
		n, err := container.Sweep(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			fmt.Fprintf(stderr, "removed %d leftover containers/networks\n", n)
		}
	}
	t0 := time.Now()
	fmt.Fprintln(stderr, "building or finding the mailsim image (a static go build, then docker build FROM scratch on a change; the first build takes a minute or two)")
	img, err := container.BuildImage(ctx, container.BuildOptions{})
	if err != nil {
		return err
	}
	how := "built"
	if img.Cached {
		how = "cached"
	}
	fmt.Fprintf(stderr, "image %s (%s in %s)\n", img.Tag, how, img.Took.Round(time.Millisecond))
	opts := container.Options{Image: img.Tag, Seed: f.seed, Users: f.users, Messages: f.messages, AllowPlaintext: f.allowPlaintext, RunID: f.runID}
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
	m, err := container.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Fprintf(stdout, "mailsim container ready in %s (start-to-ready %s): %d accounts, network %s, hosts %s\n\n",
		time.Since(t0).Round(time.Millisecond), m.StartToReady.Round(time.Millisecond), len(m.Accounts), m.NetworkName, strings.Join(container.Aliases, ", "))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  IMAP\t%s\tSTARTTLS\n  IMAPS\t%s\timplicit TLS\n  submission\t%s\tSMTP AUTH, STARTTLS\n  MX\t%s\tinbound SMTP\n  admin API\t%s\t%s/healthz\n",
		m.IMAPAddr, m.IMAPSAddr, m.SubmissionAddr, m.MXAddr, strings.TrimPrefix(m.AdminURL, "http://"), m.AdminURL)
	tw.Flush()
	ca, err := os.CreateTemp("", "mailsim-ca-*.pem")
	if err == nil {
		ca.Write(m.CAPEM)
		ca.Close()
		defer os.Remove(ca.Name())
		fmt.Fprintf(stdout, "\nTLS: trust the CA in %s\n", ca.Name())
	}
	fmt.Fprintf(stdout, "admin token: %s  (send Authorization: Bearer <token>)\n", m.Token)
	if f.accounts != "" {
		if err := mailsim.WriteAccounts(f.accounts, m.Accounts); err != nil {
			return usageError{fmt.Errorf("--accounts: %w", err)}
		}
		fmt.Fprintf(stdout, "all accounts: %s\n", f.accounts)
	}
	for _, a := range m.Accounts {
		if a.Kind == "person" {
			fmt.Fprintf(stdout, "\nlog in, e.g.: %s / %s (%s)\n", a.Address, a.Password, a.Role)
			break
		}
	}
	fmt.Fprintln(stdout, "\nCtrl-C to stop (the container and its network are removed).")
	<-ctx.Done()
	fmt.Fprintln(stderr, "\nstopping the container...")
	t1 := time.Now()
	err = m.Close()
	fmt.Fprintf(stderr, "stopped and removed in %s\n", time.Since(t1).Round(time.Millisecond))
	return err
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
	fl.Int64Var(&l.QuotaBytes, "quota", store.DefaultQuotaBytes, "bytes each account may add on top of the generated corpus (APPEND, COPY, delivery); -1: no quota")
	fl.DurationVar(&t.FailureDelay, "auth-failure-delay", 0, "throttling: wait this long (scenario time) before answering a failed login, as Dovecot's auth_failure_delay (0: off)")
	fl.IntVar(&t.MaxFailuresPerSource, "auth-max-failures-per-source", 0, "throttling: refuse logins from a source address after this many failures in --auth-failure-window (0: off)")
	fl.IntVar(&t.MaxFailuresPerAccount, "auth-max-failures-per-account", 0, "throttling: refuse logins to an account after this many failures in --auth-failure-window (0: off)")
	fl.DurationVar(&t.Window, "auth-failure-window", 15*60e9, "throttling: how long a failed login counts (scenario time)")
}

// checkLimits refuses negative limits and timeouts.
func checkLimits(l mailsim.Limits, t throttle.Config) error {
	for name, v := range map[string]int64{
		"--imap-max-sessions": int64(l.IMAPSessions), "--imap-max-sessions-per-source": int64(l.IMAPSessionsPerSource),
		"--mx-max-sessions": int64(l.MXSessions), "--mx-max-sessions-per-source": int64(l.MXSessionsPerSource),
		"--submission-max-sessions": int64(l.SubmissionSessions), "--submission-max-sessions-per-source": int64(l.SubmissionSessionsPerSource),
		"--imap-login-timeout": int64(l.IMAPPreAuthTimeout), "--imap-idle-timeout": int64(l.IMAPIdleTimeout),
		"--smtp-command-timeout": int64(l.SMTPCommandTimeout), "--smtp-data-timeout": int64(l.SMTPDataTimeout),
		"--tls-handshake-timeout": int64(l.TLSHandshakeTimeout), "--max-mime-depth": int64(l.MIMEDepth), "--max-mime-parts": int64(l.MIMEParts),
		"--auth-failure-delay": int64(t.FailureDelay), "--auth-max-failures-per-source": int64(t.MaxFailuresPerSource),
		"--auth-max-failures-per-account": int64(t.MaxFailuresPerAccount), "--auth-failure-window": int64(t.Window),
	} {
		if v < 0 {
			return usageError{fmt.Errorf("%s must not be negative", name)}
		}
	}
	return nil
}
