// Package smtpd is mailsim's SMTP server: a submission listener (AUTH PLAIN
// and LOGIN, STARTTLS, sender ownership checks) and an MX listener (inbound
// mail for local mailboxes only), built on github.com/emersion/go-smtp. Mail
// for local users is handed to a Backend; mail for the outside world is
// captured in an Outbox; every step is published as an audit event.
package smtpd
