package smtpd

import "errors"

// Errors a Backend's Authenticate returns (or wraps). Both answer the client
// with the same 535 reply; the audit trail tells them apart.
var (
	ErrUnknownUser        = errors.New("smtpd: unknown user")
	ErrInvalidCredentials = errors.New("smtpd: invalid credentials")
)

// ErrMailboxFull is wrapped by a Backend's Deliver error when the recipient
// is over its quota: the recipient is refused with 552 5.2.2.
var ErrMailboxFull = errors.New("smtpd: mailbox full")

// Backend is the mail store as the SMTP server sees it. Implementations must
// be safe for concurrent use. Envelope addresses are passed lower-cased;
// user names are passed as the client typed them.
type Backend interface {
	// Authenticate checks credentials and returns the canonical address of
	// the user. It returns an error wrapping ErrUnknownUser or
	// ErrInvalidCredentials when the login is refused; any other error is
	// treated as a temporary failure.
	Authenticate(username, password string) (address string, err error)
	// IsLocal reports whether address is a local mailbox (person or shared).
	IsLocal(address string) bool
	// CanSendAs reports whether the authenticated user may send as from
	// (their own address or a mailbox they hold delegation on).
	CanSendAs(user, from string) bool
	// Deliver stores raw into address's INBOX. It must be visible over IMAP
	// on return. An error wrapping ErrMailboxFull is a quota refusal.
	Deliver(address string, raw []byte) error
}
