package dovecot

import "github.com/maildrill/maildrill/mailsim/account"

// Profile is a logging profile of the real target.
type Profile string

const (
	// Stock is what a default Dovecot install logs: logins, failed logins
	// (without the reason) and the logout counters; nothing per command or
	// per message.
	Stock Profile = "stock"
	// Enhanced is everything Dovecot 2.3 can say: auth_verbose, IMAP ID,
	// source and local ports on login lines, the mail_log plugin with all
	// its events and fields, and the event export of imap_command_finished
	// to the log as JSON.
	Enhanced Profile = "enhanced"
)

// EnhancedLogging is the Dovecot configuration of the enhanced profile. The
// container image carries the same text (docker/dovecot/conf/enhanced.conf;
// a test keeps them equal).
const EnhancedLogging = `# maildrill: enhanced logging profile (everything Dovecot 2.3 can export).
auth_verbose = yes
imap_id_log = *
login_log_format_elements = user=<%u> method=%m rip=%r rport=%{rport} lip=%l lport=%{lport} mpid=%e %c session=<%{session}>
mail_plugins = $mail_plugins notify mail_log
plugin {
  mail_log_events = delete undelete expunge save copy mailbox_create mailbox_delete mailbox_rename flag_change append
  mail_log_fields = uid box msgid size vsize flags from subject
}
event_exporter log {
  format = json
  format_args = time-rfc3339
  transport = log
}
metric imap_command {
  exporter = log
  filter = event=imap_command_finished
}
`

// isShared tells whether a is a shared (team) mailbox: no login, under
// Shared/<local part>/ to its delegates. Any other Kind ("person", or
// empty) logs in, and its mailboxes show under Users/<local part>/ to
// its delegates (Delegates: the addresses allowed to open them). Only
// StartContainer applies Kind and Delegates; the local harness serves
// people alone. Of an account, Dovecot reads Address, Password, Kind and
// Delegates.
func isShared(a account.Account) bool { return a.Kind == "shared" }
