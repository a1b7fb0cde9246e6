package smtpd

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxMessageBytes  = 25 << 20
	DefaultMaxRecipients    = 100
	DefaultMaxSessions      = 1000 // per service
	DefaultMaxSessionsPerIP = 100  // per service and source address
	// DefaultReadTimeout is RFC 5321 §4.5.3.2's server timeout for a
	// command (5 min).
	DefaultReadTimeout = 5 * time.Minute
	// DefaultDataTimeout is RFC 5321 §4.5.3.2's data block timeout (3
	// min): the longest wait for more bytes inside DATA or BDAT.
	DefaultDataTimeout = 3 * time.Minute
	// DefaultTLSHandshakeTimeout bounds a STARTTLS handshake.
	DefaultTLSHandshakeTimeout = 30 * time.Second
	// DefaultMaxMIMEDepth bounds the nesting of multipart (and
	// message/rfc822) entities in a received message.
	DefaultMaxMIMEDepth = 50
	// DefaultMaxMIMEParts bounds the number of MIME entities in a message.
	DefaultMaxMIMEParts       = 1000
	DefaultWriteTimeout       = time.Minute
	DefaultMaxSessionDuration = 30 * time.Minute
	DefaultShutdownTimeout    = 5 * time.Second
	DefaultSessionIDPrefix    = "smtp-"
)

// Config configures a Server. Domain and Backend are required.
type Config struct {
	// Domain is the mail domain served, e.g. "interieur.test". Recipients
	// in a local domain that are not local mailboxes are refused as unknown
	// users instead of being sent to the outside world.
	Domain string
	// Hostname is announced in the greeting and Received headers.
	// Default: Domain.
	Hostname string
	// LocalDomains lists further mail domains served. Domain is always one.
	LocalDomains []string

	// Backend is the mail store.
	Backend Backend
	// Bus receives the audit events. Nil publishes nothing.
	Bus *audit.Bus
	// Clock stamps Outbox entries and Received headers. Default: the bus
	// clock, or the wall clock without a bus.
	Clock clock.Clock
	// Outbox captures mail for outside domains. Default: a new Outbox with
	// DefaultOutboxRawBytes.
	Outbox *Outbox
	// Logger receives diagnostics. Nil is quiet.
	Logger *slog.Logger

	// TLSConfig enables STARTTLS on both listeners. Nil disables it.
	TLSConfig *tls.Config
	// AllowInsecureAuth lets submission clients authenticate without TLS.
	// Such logins are flagged auth.cleartext=true in the audit trail.
	AllowInsecureAuth bool

	// MaxMessageBytes is the size limit advertised as SIZE; larger
	// messages get 552. Default DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// MaxRecipients per message. Default DefaultMaxRecipients.
	MaxRecipients int
	// MaxSessions is the number of concurrent connections per service
	// (MX and submission each have their own, so a flood on one never
	// locks out the other); more get 421 4.7.0 and are closed
	// (limit_sessions). Default DefaultMaxSessions.
	MaxSessions int
	// MaxSubmissionSessions overrides MaxSessions for submission.
	MaxSubmissionSessions int
	// MaxSessionsPerIP is the number of concurrent connections per
	// service from one source address (limit_sessions_per_source).
	// Default DefaultMaxSessionsPerIP.
	MaxSessionsPerIP int
	// MaxSubmissionSessionsPerIP overrides MaxSessionsPerIP for submission.
	MaxSubmissionSessionsPerIP int

	// ReadTimeout bounds the wait for each command line (timeout_command).
	// Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// DataTimeout bounds each wait for more message bytes inside DATA or
	// BDAT (timeout_data). Default DefaultDataTimeout.
	DataTimeout time.Duration
	// TLSHandshakeTimeout bounds a STARTTLS handshake
	// (timeout_tls_handshake). Default DefaultTLSHandshakeTimeout.
	TLSHandshakeTimeout time.Duration
	// WriteTimeout bounds each reply. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxSessionDuration bounds a connection's lifetime, however active it
	// is. Default DefaultMaxSessionDuration.
	MaxSessionDuration time.Duration
	// ShutdownTimeout is how long Close lets sessions busy with a message
	// finish before it cuts them off. Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// MaxMIMEDepth bounds MIME nesting; deeper messages get 552
	// (limit_mime_depth). Default DefaultMaxMIMEDepth.
	MaxMIMEDepth int
	// MaxMIMEParts bounds the MIME entities in a message; more get 552
	// (limit_mime_parts). Default DefaultMaxMIMEParts.
	MaxMIMEParts int

	// Throttle, when set, throttles authentication (failure delay,
	// per-source and per-account failure limits). Nil: off.
	Throttle *throttle.Limiter

	// SessionIDPrefix prefixes the session ids (a per-server counter).
	// Default DefaultSessionIDPrefix.
	SessionIDPrefix string
}

func (c *Config) applyDefaults() error {
	if c.Domain == "" {
		return errors.New("smtpd: Config.Domain is required")
	}
	if c.Backend == nil {
		return errors.New("smtpd: Config.Backend is required")
	}
	c.Domain = strings.ToLower(c.Domain)
	if c.Hostname == "" {
		c.Hostname = c.Domain
	}
	if c.Clock == nil {
		if c.Bus != nil {
			c.Clock = c.Bus.Clock()
		} else {
			c.Clock = clock.Real{}
		}
	}
	if c.Outbox == nil {
		c.Outbox = NewOutbox(DefaultOutboxRawBytes)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = DefaultMaxRecipients
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxSubmissionSessions <= 0 {
		c.MaxSubmissionSessions = c.MaxSessions
	}
	if c.MaxSessionsPerIP <= 0 {
		c.MaxSessionsPerIP = DefaultMaxSessionsPerIP
	}
	if c.MaxSubmissionSessionsPerIP <= 0 {
		c.MaxSubmissionSessionsPerIP = c.MaxSessionsPerIP
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.DataTimeout <= 0 {
		c.DataTimeout = DefaultDataTimeout
	}
	if c.TLSHandshakeTimeout <= 0 {
		c.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if c.MaxMIMEDepth <= 0 {
		c.MaxMIMEDepth = DefaultMaxMIMEDepth
	}
	if c.MaxMIMEParts <= 0 {
		c.MaxMIMEParts = DefaultMaxMIMEParts
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxSessionDuration <= 0 {
		c.MaxSessionDuration = DefaultMaxSessionDuration
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.SessionIDPrefix == "" {
		c.SessionIDPrefix = DefaultSessionIDPrefix
	}
	return nil
}

// isLocalDomain reports whether domain (lower case) is served here.
func (c *Config) isLocalDomain(domain string) bool {
	if domain == c.Domain {
		return true
	}
	for _, d := range c.LocalDomains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}

// sessionLimits returns the concurrent session caps of a service: in all,
// and per source address.
func (c *Config) sessionLimits(service string) (total, perIP int) {
	if service == ServiceSubmission {
		return c.MaxSubmissionSessions, c.MaxSubmissionSessionsPerIP
	}
	return c.MaxSessions, c.MaxSessionsPerIP
}
