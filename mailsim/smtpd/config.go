package smtpd

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxMessageBytes    = 25 << 20
	DefaultMaxRecipients      = 100
	DefaultMaxSessions        = 1000
	DefaultReadTimeout        = 2 * time.Minute
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
	// MaxSessions is the number of concurrent connections per Server; more
	// get 421 and are closed. Default DefaultMaxSessions.
	MaxSessions int

	// ReadTimeout bounds the wait for each command line, and for a whole
	// DATA transfer. Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds each reply. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxSessionDuration bounds a connection's lifetime, however active it
	// is. Default DefaultMaxSessionDuration.
	MaxSessionDuration time.Duration
	// ShutdownTimeout is how long Close lets sessions busy with a message
	// finish before it cuts them off. Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

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
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
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
