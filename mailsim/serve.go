package mailsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
)

// ServeOptions say where `maildrill serve` writes: its banner, its audit
// log and its accounts file.
type ServeOptions struct {
	// AuditLog is "" (no audit log), "-" (AuditStdout) or a file, appended to.
	AuditLog string
	// AuditStdout receives the audit log for "-": the raw stream, whose
	// failure OnAuditError handles. The banner then goes to Stderr.
	AuditStdout io.Writer
	// StopOnAuditError stops serving when the audit log cannot be written;
	// false keeps serving, counting the lost events.
	StopOnAuditError bool
	// AccountsFile, when set, receives the accounts with their passwords.
	AccountsFile string
	// TokenGiven says the admin token came from the operator, and is not
	// printed.
	TokenGiven     bool
	Stdout, Stderr io.Writer
	// Syslog, when set, receives every audit event as the mail-log
	// records Dovecot and Postfix would log (audit.SyslogRecords), from
	// the first event to the last, in order, on one goroutine.
	Syslog func(audit.SyslogRecord)
}

// errAuditLog stops Serve when the audit log fails under StopOnAuditError.
var errAuditLog = errors.New("the audit log failed")

// Serve starts the mail system of cfg, prints its banner, serves until ctx
// ends, then stops it and reports how many audit events were written. A
// file it cannot open or write is a *FieldError naming the option.
func Serve(ctx context.Context, cfg Config, o ServeOptions) error {
	info := o.Stdout
	var auditFile *os.File
	switch o.AuditLog {
	case "":
	case "-":
		cfg.AuditLog = o.AuditStdout
		info = o.Stderr // keep stdout pure JSON lines
	default:
		fh, err := os.OpenFile(o.AuditLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return &FieldError{Field: "AuditLog", Op: "open", Err: err}
		}
		auditFile = fh
		cfg.AuditLog = fh
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	auditName := o.AuditLog
	if auditName == "-" {
		auditName = "stdout"
	}
	cfg.OnAuditError = func(err error) {
		if o.StopOnAuditError {
			fmt.Fprintf(o.Stderr, "\nmaildrill: AUDIT LOG WRITE FAILED (%s): %v\nmaildrill: stopping the mail system (--on-audit-error stop): a testbed must not serve without its audit trail\n", auditName, err)
			cancel(errAuditLog)
			return
		}
		fmt.Fprintf(o.Stderr, "\nmaildrill: AUDIT LOG WRITE FAILED (%s): %v\nmaildrill: still serving (--on-audit-error warn): from now on events are NOT written; they are counted and the loss is reported at exit\n", auditName, err)
	}
	t0 := time.Now()
	srv, err := Start(ctx, cfg)
	if err != nil {
		if auditFile != nil {
			auditFile.Close()
		}
		return err
	}
	var syslogDone chan struct{}
	if o.Syslog != nil {
		sub, err := srv.Bus.SubscribeFrom(1) // every event since the start
		if err != nil {
			srv.Close()
			return err
		}
		syslogDone = make(chan struct{})
		go func() {
			defer close(syslogDone)
			defer sub.Close()
			for {
				evs, err := sub.NextBatch(context.Background(), 512)
				if err != nil {
					return // the bus is closed and drained
				}
				for _, e := range evs {
					for _, r := range audit.SyslogRecords(e, audit.SyslogOptions{}) {
						o.Syslog(r)
					}
				}
			}
		}()
	}
	accounts := srv.Accounts()
	if o.AccountsFile != "" {
		if err := WriteAccounts(o.AccountsFile, accounts); err != nil {
			srv.Close()
			return &FieldError{Field: "AccountsFile", Op: "write", Err: err}
		}
	}
	srv.writeBanner(info, accounts, cfg.Seed, o, time.Since(t0))
	<-ctx.Done()
	fmt.Fprintln(info, "\nshutting down: closing sessions and flushing the audit log...")
	err = srv.Close()
	if syslogDone != nil {
		<-syslogDone
	}
	if auditFile != nil {
		if cerr := auditFile.Close(); err == nil {
			err = cerr
		}
	}
	published := srv.Bus.Published()
	if o.AuditLog == "" {
		fmt.Fprintf(info, "stopped; %d audit events recorded\n", published)
		return err
	}
	written, lost, werr := srv.AuditLogStats()
	if werr == nil {
		fmt.Fprintf(info, "stopped; %d audit events recorded, %d written to %s\n", published, written, auditName)
		return err
	}
	fmt.Fprintf(o.Stderr, "stopped; %d audit events recorded, only %d written to %s: %d LOST (%v)\n", published, written, auditName, lost, werr)
	if o.StopOnAuditError {
		return fmt.Errorf("the audit log failed (%s: %v): %d of %d events were not written", auditName, werr, lost, published)
	}
	return err
}

// writeBanner tells the operator where the mail system listens, which CA
// to trust, the admin token and an account to log in with.
func (srv *Server) writeBanner(w io.Writer, accounts []account.Account, seed int64, o ServeOptions, took time.Duration) {
	fmt.Fprintf(w, "mailsim ready in %s: %d mailboxes, seed %d, domain %s\n\n", took.Round(time.Millisecond), len(accounts), seed, srv.Org.Config().Domain)
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
	case o.TokenGiven:
		fmt.Fprintln(w, "admin token: as given (--admin-token or MAILDRILL_ADMIN_TOKEN); send Authorization: Bearer <token>")
	default:
		fmt.Fprintf(w, "admin token: %s  (send Authorization: Bearer <token>; set one with --admin-token)\n", srv.AdminToken)
	}
	for _, a := range accounts {
		if a.Kind != "person" {
			continue
		}
		fmt.Fprintf(w, "\nlog in, e.g.: %s / %s (%s)\n", a.Address, a.Password, a.Role)
		if i := strings.LastIndexByte(srv.IMAPSAddr, ':'); i > 0 {
			fmt.Fprintf(w, "  curl --cacert %s --url 'imaps://%s:%s/INBOX' --user '%s:%s' -X 'EXAMINE INBOX'\n", srv.Certs.CAFile, srv.IMAPSAddr[:i], srv.IMAPSAddr[i+1:], a.Address, a.Password)
		}
		break
	}
	if o.AccountsFile != "" {
		fmt.Fprintf(w, "all accounts: %s\n", o.AccountsFile)
	} else {
		fmt.Fprintln(w, "all accounts with passwords: --accounts FILE (the admin API never serves passwords)")
	}
	fmt.Fprintln(w, "\nCtrl-C to stop.")
}
