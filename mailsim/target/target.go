// Package target starts the mail system a scenario run attacks and hands
// the run what it needs of it: the listeners' addresses, a client TLS
// configuration, the organisation's accounts, a clock to keep in step
// and the audit trail, stamped in scenario time.
//
// Four implementations: embedded (mailsim in-process), docker (mailsim
// in a container), dovecot (Debian's Dovecot + Postfix in a container,
// its mail log parsed into audit events) and remote (the user's own
// staging server, described by a remote file; nothing started). Each keeps its own
// clock in step with the run's (SyncClock) and stamps the events it
// publishes; the caller never sees a container or a log parser.
//
// Org is the organisation every target serves, for checking the names a
// scenario gives before anything starts.
package target

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/corpus"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

// Kinds are the targets Start knows, the default first.
var Kinds = []string{"embedded", "docker", "dovecot", "remote"}

// Target is a started mail system.
type Target interface {
	// Name is the kind: embedded, docker, dovecot or remote.
	Name() string
	// Endpoints are the listeners' host:port.
	Endpoints() Endpoints
	// ClientTLS trusts the target's CA.
	ClientTLS() *tls.Config
	// Accounts are the organisation's logins (people and shared
	// mailboxes).
	Accounts() []account.Account
	// Domain is the organisation's mail domain.
	Domain() string
	// Proxy tells that the listeners want a PROXY header first, so that
	// each client is seen at the address it announces.
	Proxy() bool
	// Events is the audit trail, stamped in scenario time, under the
	// run id the Spec gave.
	Events() *audit.Bus
	// SyncClock brings the target's clock to now before an action. It
	// never moves a clock back (concurrent callers may ask out of
	// order); a target that reads the run's clock itself does nothing.
	SyncClock(ctx context.Context, now time.Time) error
	// Serves tells whether addr is one of the target's listeners: the
	// only servers a run may reach unless told otherwise.
	Serves(addr string) bool
	// SessionEnds tells whether the trail records the end of each
	// connection by its client address (Dovecot's stock logging has no
	// client port, so it cannot).
	SessionEnds() bool
	// TrackConn hands the target a connection the run opened to one of
	// its listeners, src the address:port the connection announced (its
	// PROXY header's source) or its local address, and returns the
	// connection to use instead. A target whose trail cannot tell a given
	// connection's end (SessionEnds false) learns so when it is closed,
	// and before moving its clock on waits until the servers have logged
	// the end of every closed one; the others return conn.
	TrackConn(conn net.Conn, src string) net.Conn
	// Close stops what Start started, after the trail has received what
	// the servers did.
	Close() error
}

// Endpoints are a target's listeners, host:port.
type Endpoints struct {
	IMAP, IMAPS, Submission string
	// IMAPTLS and SubmissionTLS are the remote target's TLS modes
	// (implicit, starttls, none): its one IMAP endpoint is both IMAP and
	// IMAPS. "" on the targets maildrill starts: IMAP plain, IMAPS
	// implicit, submission STARTTLS (or plain for tls: false actors).
	IMAPTLS, SubmissionTLS string
}

// Spec says what to start.
type Spec struct {
	Kind string // embedded (default), docker, dovecot or remote
	// The organisation: the same seed, users and messages give the same
	// people, mailboxes and mail on every target.
	Seed            int64
	Users, Messages int
	// AllowPlaintext lets the servers accept authentication without TLS.
	AllowPlaintext bool
	// Throttle: mailsim's authentication throttling (embedded and docker;
	// the dovecot target has Dovecot's own).
	Throttle throttle.Config
	// Clock is the run's clock; Start, its start (certificates are valid
	// from it).
	Clock clock.Clock
	Start time.Time
	// RunID goes on every event.
	RunID string
	// CertDir is where the target's CA is written.
	CertDir string
	// CorpusCacheDir keeps generated attachments between runs ("" = none).
	CorpusCacheDir string
	// Clients is how many clients act at once (0: mailsim's default): the
	// embedded mail system sizes its parsed-message cache for them.
	Clients int
	// Actors is how many of the run's actors may each hold a session at
	// once (every staff member counts). The embedded and docker targets
	// raise their IMAP and submission session limits to two per actor
	// (sessionLimits: a session may still be closing on the server when
	// its actor opens the next) where the defaults are lower, so that a
	// large organisation's own staff are not refused; the defaults still
	// bound everything else.
	Actors int
	// DovecotProfile is the dovecot target's logging: stock or enhanced
	// (default).
	DovecotProfile string
	// Note receives progress lines (image builds, start-up times).
	Note func(string)
	// Remote is the remote target's file, allow list and warm-up.
	Remote *RemoteSpec
}

// DefaultCorpusCacheDir is where `maildrill run` keeps generated
// attachments between runs by default (corpus.DefaultCacheDir).
func DefaultCorpusCacheDir() string { return corpus.DefaultCacheDir() }

// Start starts the target spec names.
func Start(ctx context.Context, spec Spec) (Target, error) {
	if spec.Clock == nil {
		return nil, fmt.Errorf("target: Spec.Clock is nil")
	}
	if spec.Note == nil {
		spec.Note = func(string) {}
	}
	var t Target
	var err error
	switch spec.Kind {
	case "", "embedded":
		t, err = startEmbedded(ctx, spec)
	case "docker":
		t, err = startDocker(ctx, spec)
	case "dovecot":
		t, err = startDovecot(ctx, spec)
	case "remote":
		t, err = startRemote(ctx, spec)
	default:
		err = fmt.Errorf("unknown target %q: use embedded, docker, dovecot or remote", spec.Kind)
	}
	if err != nil {
		return nil, err // not a nil pointer in an interface
	}
	return t, nil
}

// base holds what every target hands out.
type base struct {
	name     string
	ep       Endpoints
	tls      *tls.Config
	accounts []account.Account
	domain   string
	bus      *audit.Bus
}

func (b *base) Name() string                               { return b.name }
func (b *base) Endpoints() Endpoints                       { return b.ep }
func (b *base) ClientTLS() *tls.Config                     { return b.tls }
func (b *base) Accounts() []account.Account                { return b.accounts }
func (b *base) Domain() string                             { return b.domain }
func (b *base) Proxy() bool                                { return true }
func (b *base) Events() *audit.Bus                         { return b.bus }
func (b *base) TrackConn(conn net.Conn, _ string) net.Conn { return conn }
func (b *base) Serves(addr string) bool {
	return addr != "" && (addr == b.ep.IMAP || addr == b.ep.IMAPS || addr == b.ep.Submission)
}

// forwardOnly makes a clock synchronisation that calls move, one call at
// a time, only when now is past the last time it was given (concurrent
// actors on a scaled clock may ask out of order): the target's clock
// never goes back.
func forwardOnly(start time.Time, move func(ctx context.Context, last, now time.Time) error) func(context.Context, time.Time) error {
	var mu sync.Mutex
	last := start
	return func(ctx context.Context, now time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		if !now.After(last) {
			return nil
		}
		err := move(ctx, last, now)
		last = now
		return err
	}
}
