package smtpd

import (
	"errors"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// Reasons recorded in event.reason.
const (
	ReasonInvalidCredentials  = "invalid_credentials"
	ReasonUnknownUser         = "unknown_user"
	ReasonCleartextDisallowed = "cleartext_disallowed"
	ReasonUnknownMechanism    = "unknown_mechanism"
	ReasonMalformed           = "malformed"
	ReasonAuthzidMismatch     = "authzid_mismatch"
	ReasonAborted             = "aborted"
	ReasonBackendError        = "backend_error"
	ReasonAuthRequired        = "auth_required"
	ReasonSenderNotAllowed    = "sender_not_allowed"
	ReasonRelayDenied         = "relay_denied"
	ReasonUnknownRecipient    = "unknown_recipient"
	ReasonBadAddress          = "bad_address"
	ReasonMessageTooLarge     = "message_too_large"
	ReasonLineTooLong         = "line_too_long"
	ReasonDeliveryFailed      = "delivery_failed"
	ReasonLimitQuota          = "limit_quota"
	ReasonHandshakeFailed     = "handshake_failed"

	// Session limits (smtp.connect failures and their disconnects).
	ReasonLimitSessions          = "limit_sessions"
	ReasonLimitSessionsPerSource = "limit_sessions_per_source"
	ReasonServerShutdown         = "server_shutdown"

	// Why a connection ended (smtp.disconnect).
	ReasonClientQuit          = "client_quit"
	ReasonClientClosed        = "client_closed"
	ReasonTimeoutCommand      = "timeout_command"
	ReasonTimeoutData         = "timeout_data"
	ReasonTimeoutTLSHandshake = "timeout_tls_handshake"
	ReasonSessionDuration     = "limit_session_duration"
	ReasonTooManyErrors       = "too_many_errors"
	ReasonConnectionError     = "connection_error"
	ReasonInternalError       = "internal_error"

	// Refusals go-smtp answers by itself (see tap.go).
	ReasonSyntaxError     = "syntax_error"
	ReasonOutOfSequence   = "out_of_sequence"
	ReasonUnknownCommand  = "unknown_command"
	ReasonNotImplemented  = "not_implemented"
	ReasonBadSize         = "bad_size"
	ReasonLimitRecipients = "limit_recipients"

	// Message refusals.
	ReasonTruncated      = "truncated"
	ReasonLimitMIMEDepth = "limit_mime_depth"
	ReasonLimitMIMEParts = "limit_mime_parts"
)

// Email directions recorded in email.direction.
const (
	DirectionInternal = "internal"
	DirectionOutbound = "outbound"
	DirectionInbound  = "inbound"
)

// Replies not predefined by go-smtp.
var (
	errAuthRequired       = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errEncryptionRequired = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11},
		Message: "Encryption required for requested authentication mechanism"}
	errAuthThrottled  = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many authentication failures, try again later"}
	errAuthTemporary  = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
	errMalformedAuth  = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Malformed authentication response"}
	errSenderNotOwned = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Sender address rejected: not owned by user"}
	errRelayDenied        = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
	errUnknownRecipient   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Recipient address rejected: user unknown"}
	errBadAddress         = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	errDeliveryFailed     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Delivery failed, try again later"}
	errMailboxFull        = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full: quota exceeded"}
	errServerShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}
)

// Bounds on client-supplied strings copied into events.
const (
	maxHeloLen    = 255
	maxAddressLen = 320
	maxNameLen    = 255
	maxMechLen    = 32
)

// backend adapts Server to go-smtp, one per listener.
type backend struct {
	srv     *Server
	service string
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	cs := stateOf(c)
	if cs == nil {
		return nil, errors.New("smtpd: connection not accepted by smtpd")
	}
	if b.srv.closing.Load() {
		return nil, errServerShuttingDown
	}
	cs.newSession(c)
	sess := &session{srv: b.srv, cs: cs, conn: c}
	cs.mu.Lock()
	cs.sess = sess
	cs.mu.Unlock()
	return sess, nil
}

// session is one go-smtp session: from HELO/EHLO to STARTTLS or the end of
// the connection. Its methods may be called from two goroutines (BDAT data
// and connection close), hence the lock.
type session struct {
	srv  *Server
	cs   *connState
	conn *smtp.Conn

	mu    sync.Mutex
	from  string
	rcpts []recipient
	auth  *authAttempt // begun and not finished
}

type recipient struct {
	addr   string
	domain string
	local  bool
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) submission() bool { return s.cs.service == ServiceSubmission }

// Reset is called on RSET, after each message, and when the client greets
// again (possibly under a new name).
func (s *session) Reset() {
	s.flushAuth()
	s.cs.setHelo(s.conn.Hostname())
	s.mu.Lock()
	s.from, s.rcpts = "", nil
	s.mu.Unlock()
}

func (s *session) Logout() error {
	s.flushAuth()
	return nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.flushAuth()
	from = sanitize(strings.ToLower(from), maxAddressLen)
	e := s.cs.event(audit.SMTPMailFrom)
	e.SMTPMailFrom = from
	if s.submission() {
		user := s.cs.authenticatedUser()
		var refusal error
		switch {
		case user == "":
			e.Reason, refusal = ReasonAuthRequired, errAuthRequired
		case !strings.EqualFold(from, user) && !s.srv.cfg.Backend.CanSendAs(user, from):
			e.Reason, refusal = ReasonSenderNotAllowed, errSenderNotOwned
		}
		if refusal != nil {
			e.Outcome = audit.Failure
			s.srv.publish(e)
			return refusal
		}
	}
	e.Outcome = audit.Success
	s.srv.publish(e)
	s.mu.Lock()
	s.from, s.rcpts = from, nil
	s.mu.Unlock()
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.flushAuth()
	addr := sanitize(strings.ToLower(to), maxAddressLen)
	e := s.cs.event(audit.SMTPRcpt)
	e.SMTPRcptTo = addr
	s.mu.Lock()
	e.SMTPMailFrom = s.from
	s.mu.Unlock()

	refuse := func(reason string, err error) error {
		e.Outcome, e.Reason = audit.Failure, reason
		s.srv.publish(e)
		return err
	}
	cfg := &s.srv.cfg
	_, domain, ok := splitAddress(addr)
	if !ok { // go-smtp's parser already insists on local@domain
		return refuse(ReasonBadAddress, errBadAddress)
	}
	e.DestDomain = domain
	r := recipient{addr: addr, domain: domain, local: cfg.Backend.IsLocal(addr)}
	switch {
	case r.local:
	case cfg.isLocalDomain(domain):
		return refuse(ReasonUnknownRecipient, errUnknownRecipient)
	case !s.submission():
		return refuse(ReasonRelayDenied, errRelayDenied)
	}
	e.Outcome = audit.Success
	s.srv.publish(e)
	s.mu.Lock()
	s.rcpts = append(s.rcpts, r)
	s.mu.Unlock()
	return nil
}

// splitAddress splits an address at its last @.
func splitAddress(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}

// sanitize makes a client-supplied string safe for events and headers:
// valid UTF-8, no control characters, at most max bytes.
func sanitize(s string, max int) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if !clean {
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
