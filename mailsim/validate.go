package mailsim

import (
	"fmt"

	"github.com/maildrill/maildrill/mailsim/store"
)

// MaxUsers and MaxMessagesPerUser bound the generated corpus that
// Config.Validate accepts.
const (
	MaxUsers           = 100000
	MaxMessagesPerUser = 100000
)

// FieldError is a refused value of a Config field (Field names it:
// "Users", "Limits.IMAPSessions", "Throttle.Window"), or a file named by
// a serve option that could not be written (Op "write").
type FieldError struct {
	Field string
	Op    string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Op != "" {
		return "mailsim: " + e.Op + " " + e.Field + ": " + e.Err.Error()
	}
	return "mailsim: " + e.Field + " " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks the corpus size, the limits and the throttling of c:
// the first refused field is a *FieldError.
func (c Config) Validate() error {
	if c.Users < 1 || c.Users > MaxUsers {
		return &FieldError{Field: "Users", Err: fmt.Errorf("must be between 1 and %d, got %d", MaxUsers, c.Users)}
	}
	if c.MessagesPerUser < 0 || c.MessagesPerUser > MaxMessagesPerUser {
		return &FieldError{Field: "MessagesPerUser", Err: fmt.Errorf("must be between 0 and %d, got %d", MaxMessagesPerUser, c.MessagesPerUser)}
	}
	l, t := c.Limits, c.Throttle
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Limits.IMAPSessions", int64(l.IMAPSessions)}, {"Limits.IMAPSessionsPerSource", int64(l.IMAPSessionsPerSource)},
		{"Limits.MXSessions", int64(l.MXSessions)}, {"Limits.MXSessionsPerSource", int64(l.MXSessionsPerSource)},
		{"Limits.SubmissionSessions", int64(l.SubmissionSessions)}, {"Limits.SubmissionSessionsPerSource", int64(l.SubmissionSessionsPerSource)},
		{"Limits.IMAPPreAuthTimeout", int64(l.IMAPPreAuthTimeout)}, {"Limits.IMAPIdleTimeout", int64(l.IMAPIdleTimeout)},
		{"Limits.SMTPCommandTimeout", int64(l.SMTPCommandTimeout)}, {"Limits.SMTPDataTimeout", int64(l.SMTPDataTimeout)},
		{"Limits.TLSHandshakeTimeout", int64(l.TLSHandshakeTimeout)},
		{"Limits.MIMEDepth", int64(l.MIMEDepth)}, {"Limits.MIMEParts", int64(l.MIMEParts)},
		{"Throttle.FailureDelay", int64(t.FailureDelay)}, {"Throttle.MaxFailuresPerSource", int64(t.MaxFailuresPerSource)},
		{"Throttle.MaxFailuresPerAccount", int64(t.MaxFailuresPerAccount)}, {"Throttle.Window", int64(t.Window)},
	} {
		if f.v < 0 {
			return &FieldError{Field: f.name, Err: fmt.Errorf("must not be negative")}
		}
	}
	if l.QuotaBytes < -1 {
		return &FieldError{Field: "Limits.QuotaBytes", Err: fmt.Errorf("must be -1 (no quota), 0 (the default, %d bytes) or a number of bytes, got %d", store.DefaultQuotaBytes, l.QuotaBytes)}
	}
	return nil
}
