package target

import (
	"context"
	"crypto/tls"
	"os"
	"time"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/imapd"
	"github.com/maildrill/maildrill/mailsim/smtpd"
)

// embedded is mailsim in-process on loopback with ephemeral ports,
// requiring PROXY headers so each client is seen at its own address. It
// reads the run's clock itself.
type embedded struct {
	base
	srv   *mailsim.Server
	added string // the directory of the mail added during the run
}

func startEmbedded(ctx context.Context, spec Spec) (*embedded, error) {
	// The mail the run adds (staff writing to each other, forwarding
	// files) is kept on disk: a large organisation's day would otherwise
	// hold it all in memory.
	added, err := os.MkdirTemp("", "maildrill-mail-")
	if err != nil {
		return nil, err
	}
	srv, err := mailsim.Start(ctx, mailsim.Config{
		AddedMailDir:   added,
		CorpusCacheDir: spec.CorpusCacheDir, Clients: spec.Clients,
		Seed: spec.Seed, Users: spec.Users, MessagesPerUser: spec.Messages,
		AdminAddr: mailsim.Disabled, MXAddr: mailsim.Disabled,
		Clock: spec.Clock, RunID: spec.RunID, ProxyProtocol: true, AllowInsecureAuth: spec.AllowPlaintext,
		CertDir: spec.CertDir, Throttle: spec.Throttle, Limits: sessionLimits(spec.Actors),
		// The run subscribes before any actor acts and reads every event;
		// none is kept for a later reader.
		RetainEvents: 1,
		// Nobody reads the outbox's raw messages (no admin API).
		OutboxRawBytes: -1,
		// The run's actors are the only clients, and the run shares the
		// cores with the mail system: message bodies written at idle
		// priority waited for the runner (the 2,000-staff day 8 % slower).
		BulkNormalPriority: true,
	})
	if err != nil {
		os.RemoveAll(added)
		return nil, err
	}
	return &embedded{srv: srv, added: added, base: base{
		name: "embedded", ep: Endpoints{IMAP: srv.IMAPAddr, IMAPS: srv.IMAPSAddr, Submission: srv.SubmissionAddr},
		tls: resuming(srv.Certs.ClientConfig("localhost")), accounts: srv.Accounts(), domain: srv.Org.Config().Domain,
		bus: srv.Bus,
	}}, nil
}

// sessionLimits gives the run's actors two sessions each on IMAP and on
// submission, where that is more than the defaults (Spec.Actors).
func sessionLimits(actors int) mailsim.Limits {
	var l mailsim.Limits
	if n := 2 * actors; n > imapd.DefaultMaxSessions {
		l.IMAPSessions = n
	}
	if n := 2 * actors; n > smtpd.DefaultMaxSessions {
		l.SubmissionSessions = n
	}
	return l
}

func (*embedded) SyncClock(context.Context, time.Time) error { return nil }
func (*embedded) SessionEnds() bool                          { return true }
func (t *embedded) Close() error {
	err := t.srv.Close()
	os.RemoveAll(t.added)
	return err
}

// resuming lets the run's clients resume TLS sessions, as mail clients do:
// a staff member's every session would otherwise pay a full handshake.
// They speak TLS 1.2 to the embedded target, whose session tickets resume
// without a key exchange (TLS 1.3 resumes with a fresh ECDHE, which made
// the handshakes an eighth of the flagship's CPU time), and X25519 for the
// full handshakes. The audit trail records only that a session is under
// TLS, not its version or key exchange: it is the same either way.
func resuming(c *tls.Config) *tls.Config {
	c.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	c.MaxVersion = tls.VersionTLS12
	c.CurvePreferences = []tls.CurveID{tls.X25519}
	return c
}
