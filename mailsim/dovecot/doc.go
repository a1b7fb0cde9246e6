// Package dovecot runs a real Dovecot (2.3) and Postfix as a target and
// turns their logs into mailsim audit events (mailsim/audit.Event, the
// same field names), so that the detection rules run unchanged on a real
// mail system — as far as its logging allows. The parser is the reverse
// of audit.SyslogLines.
//
// The package has two parts:
//   - the log parser (parse*.go: Parser with Parse, ParseLine and
//     ParseMessage, Options, ParseAll), which needs
//     nothing but the lines;
//   - the container driver (image.go, container.go, barrier.go,
//     delegation.go, profile.go: BuildImage, StartContainer, Container),
//     which builds and starts the Dovecot + Postfix image, hands it the
//     accounts, delegations and logging profile, and feeds its log to a
//     Parser.
//
// What the parser understands:
//   - Dovecot login process: Login, Disconnected (auth failed, N attempts),
//     Aborted login (disallowed plaintext auth), Disconnected (no auth
//     attempts), ID sent (imap_id_log);
//   - Dovecot auth (auth_verbose): Password mismatch, unknown user — the
//     reason of the next failed login of that session;
//   - Dovecot imap: the logout counters (imap_logout_format);
//   - the mail_log plugin: save, append, copy, expunge, delete, undelete,
//     flag_change, mailbox created/deleted/renamed;
//   - Dovecot's event export to the log (event_exporter transport=log,
//     format=json): imap_command_finished;
//   - Postfix smtpd (connect, disconnect, SASL failures, client= with
//     sasl_username, NOQUEUE rejects), cleanup (message-id), qmgr (from=,
//     size=) and the delivery agents (lmtp, smtp, discard, local, virtual).
//
// Lines may come from syslog (with or without a host name, traditional or
// RFC 3339 timestamps), from Dovecot's own log_path, from Postfix's
// maillog_file, or with no timestamp at all (a container's stdout). Lines
// that are not understood give no event; the parser never fails on input.
package dovecot
