package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/imapd"
	"github.com/maildrill/maildrill/mailsim/smtpd"
	"github.com/maildrill/maildrill/mailsim/store"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

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
