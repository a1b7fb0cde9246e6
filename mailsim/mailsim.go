// Package mailsim is the simulated mail system of a synthetic organisation:
// real IMAP and SMTP servers over a generated corpus, with a complete audit
// trail of every security-relevant action.
//
// Start runs everything in-process on 127.0.0.1 with ephemeral ports by
// default; `maildrill serve` wraps it for the command line and
// mailsimtest.New for tests.
package mailsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/admin"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/certs"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/corpus"
	"github.com/maildrill/maildrill/mailsim/imapd"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
	"github.com/maildrill/maildrill/mailsim/smtpd"
	"github.com/maildrill/maildrill/mailsim/store"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

// Disabled as a listen address turns a listener off.
const Disabled = "off"

// Config configures a mail system. The zero value is usable: 50 users of
// 200 messages, seed 1, every listener on 127.0.0.1 with an ephemeral port.
type Config struct {
	Seed            int64
	Users           int
	MessagesPerUser int
	Domain          string // default interieur.test

	// Listen addresses; "" means 127.0.0.1:0, Disabled turns one off.
	IMAPAddr, IMAPSAddr, SubmissionAddr, MXAddr, AdminAddr string

	// AllowInsecureAuth permits plaintext LOGIN/AUTH without TLS (recorded
	// as auth.cleartext in the audit trail).
	AllowInsecureAuth bool
	// CorpusCacheDir, when set, keeps generated attachments on disk so
	// that later runs with the same seed skip their generation.
	CorpusCacheDir string
	// Clients is how many clients are expected to work at once (default
	// DefaultClients): the parsed-message cache is sized for it. A
	// scenario replayed on the virtual clock, one actor acting at a time,
	// says 1.
	Clients int
	// MessageCacheBytes bounds the cache of parsed messages (0: derived,
	// see MessageCacheFor). It changes speed, never content.
	MessageCacheBytes int64
	// AttachmentCacheBytes bounds the memory cache of encoded attachments
	// (0: derived from the organisation, see corpus.Config.CacheBytes).
	AttachmentCacheBytes int64
	// AddedMailDir, when set, keeps the mail added to mailboxes during the
	// run (deliveries, APPEND, COPY) of store.SpillMinBytes or more in
	// files there instead of memory (store.Options.SpillDir); the caller
	// owns the directory.
	AddedMailDir string
	// CertDir receives ca.pem, server.pem, server-key.pem. Default: a
	// temporary directory removed by Close. Start locks it (flock on
	// CertDir/.maildrill.lock) before writing anything and holds the lock
	// until Close: a second server given the same directory fails at once
	// (certs.ErrInUse) instead of replacing the CA the first one's clients
	// trust. Listeners are bound before the certificates are written, so a
	// start that fails to bind changes nothing there either.
	CertDir string
	// Hosts are extra names for the server certificate.
	Hosts []string

	// Clock stamps audit events; default the wall clock.
	Clock clock.Clock
	// RunID is stamped on every audit event (labels.run_id).
	RunID string
	// AuditLog, when set, receives every audit event as JSON lines.
	AuditLog io.Writer
	// OnAuditError is called once, at once, when writing to AuditLog
	// fails (a full disk, a closed pipe). The mail system keeps serving
	// and counts every event it could not write (AuditLogStats); the
	// caller decides whether to stop. Nil: the failure is only logged and
	// returned by Close.
	OnAuditError func(error)
	// RetainEvents is how many past events the admin stream can replay
	// (default 1,000,000, and no more than audit.DefaultRetainBytes of
	// them, so that a long run stays at constant memory; a replay from
	// further back is refused, not silently shortened). Negative keeps
	// all.
	RetainEvents int
	// AdminToken guards the admin API: every request but /healthz needs
	// "Authorization: Bearer <token>", on loopback too. Generated when
	// empty; Server.AdminToken has it either way.
	AdminToken string
	// AdminHosts are host names the admin API accepts in the Host header
	// besides IP addresses and localhost (e.g. a Docker service name);
	// any other name is refused (DNS rebinding).
	AdminHosts []string
	// Admin tunes the admin API's HTTP limits (timeouts, header and body
	// sizes); zero fields mean admin's defaults. Its Bus, Clock, Token and
	// callbacks are set by Start.
	Admin admin.Config
	// ProxyProtocol makes the IMAP and SMTP listeners require a PROXY
	// protocol header (v1 or v2) from TrustedProxies on every connection,
	// and take the client address from it. The scenario runner uses it to
	// give each actor its own source address. Others are refused.
	ProxyProtocol  bool
	TrustedProxies []netip.Prefix // default loopback
	// OutboxRawBytes bounds the raw bytes of outbound mail the outbox keeps
	// for the admin API (0: smtpd.DefaultOutboxRawBytes, negative: none;
	// the metadata is always kept).
	OutboxRawBytes int64
	// MaxMessageBytes bounds SMTP messages (default 25 MiB).
	MaxMessageBytes int64
	// Limits bound what clients can make the mail system do: sessions,
	// timeouts, MIME structure. Zero fields take the servers' defaults,
	// which no normal client or library scenario reaches.
	Limits Limits
	// Throttle turns on authentication throttling (off by default): a
	// delay before each failure reply and per-source / per-account
	// failure limits, on the scenario clock, for IMAP and submission.
	Throttle throttle.Config
	// BulkWriters bounds how many IMAP sessions write message bodies at
	// once (0: GOMAXPROCS−1 when the IMAP server starts; see
	// imapd.Config.BulkWriters).
	BulkWriters int
	// BulkNormalPriority keeps the threads that write message bodies in
	// the normal scheduling class (imapd.Config.BulkNormalPriority).
	BulkNormalPriority bool
	// Logger receives diagnostics; nil is quiet.
	Logger *slog.Logger
}

// Limits bound what clients can make the mail system do. Zero fields take
// the defaults named beside them; every limit that fires is refused the way
// the protocol says and recorded as an audit event whose event.reason names
// it (limit_*, timeout_*).
type Limits struct {
	// IMAPSessions and IMAPSessionsPerSource cap concurrent IMAP/IMAPS
	// connections (imapd.DefaultMaxSessions, DefaultMaxSessionsPerSource).
	IMAPSessions, IMAPSessionsPerSource int
	// MXSessions, SubmissionSessions and their per-source caps are
	// separate, so floods on the MX never lock out submission
	// (smtpd.DefaultMaxSessions, DefaultMaxSessionsPerIP).
	MXSessions, MXSessionsPerSource                 int
	SubmissionSessions, SubmissionSessionsPerSource int
	// IMAPPreAuthTimeout: time to authenticate (imapd.DefaultPreAuthTimeout).
	IMAPPreAuthTimeout time.Duration
	// IMAPIdleTimeout: autologout of a silent session, IDLE included
	// (imapd.DefaultIdleTimeout, RFC 9051's 30 minutes).
	IMAPIdleTimeout time.Duration
	// SMTPCommandTimeout and SMTPDataTimeout: RFC 5321 §4.5.3.2
	// (smtpd.DefaultReadTimeout, DefaultDataTimeout).
	SMTPCommandTimeout, SMTPDataTimeout time.Duration
	// TLSHandshakeTimeout bounds every TLS handshake (30 s).
	TLSHandshakeTimeout time.Duration
	// MIMEDepth and MIMEParts bound a message's structure: refused beyond
	// them on the SMTP listeners (smtpd.DefaultMaxMIMEDepth,
	// DefaultMaxMIMEParts), described no further over IMAP.
	MIMEDepth, MIMEParts int
	// QuotaBytes is each account's storage for mail added on top of the
	// generated corpus (APPEND, COPY, delivery): store.DefaultQuotaBytes;
	// negative turns quotas off. Over it: IMAP NO [OVERQUOTA], SMTP 552 5.2.2.
	QuotaBytes int64
	// IMAPLineBytes and IMAPPreAuthLiteralBytes bound an IMAP command's
	// text and a literal sent before login (imapd.DefaultMaxLineBytes,
	// DefaultMaxPreAuthLiteralBytes); after login literals are bounded by
	// the message size.
	IMAPLineBytes           int
	IMAPPreAuthLiteralBytes int64
	// MailboxNameBytes and MailboxLevelBytes bound mailbox names
	// (imapd.DefaultMaxMailboxNameBytes, DefaultMaxMailboxLevelBytes).
	MailboxNameBytes, MailboxLevelBytes int
}

// DefaultClients is Config.Clients' default.
const DefaultClients = 64

// Bounds of the derived parsed-message cache (MessageCacheFor).
const (
	messageCachePerClient = 4 << 20
	minMessageCache       = 16 << 20
	maxMessageCache       = 512 << 20
)

// MessageCacheFor is the parsed-message cache's derived bound for clients
// working at once: a few messages each (4 MiB), at least 16 MiB, at most
// 512 MiB. A client's working set is the message it is fetching and the
// ones it fetches again soon after (BODYSTRUCTURE, then a part); a message
// larger than the bound is served but not kept.
func MessageCacheFor(clients int) int64 {
	if clients <= 0 {
		clients = DefaultClients
	}
	return min(max(int64(clients)*messageCachePerClient, minMessageCache), maxMessageCache)
}

// Server is a running mail system.
type Server struct {
	// Listening addresses ("" when disabled).
	IMAPAddr, IMAPSAddr, SubmissionAddr, MXAddr, AdminAddr string
	// AdminToken is the admin API's bearer token (Config.AdminToken, or
	// generated), for in-process callers; "" when the API is disabled.
	AdminToken string

	Org    *corpus.Org
	Store  *store.Store
	Bus    *audit.Bus
	Outbox *smtpd.Outbox
	Certs  *certs.Bundle
	Clock  clock.Clock

	imap     *imapd.Server
	smtp     *smtpd.Server
	admin    *http.Server
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	tmpDir   string
	certLock *certs.DirLock
	lns      []net.Listener // bound, not yet served (closed by Close if Start fails)
	logDone  chan error
	logSink  *audit.Sink
	once     sync.Once
	closeErr error
}

// Start builds the organisation and starts every listener. Close stops it.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Domain == "" {
		cfg.Domain = "interieur.test"
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.RetainEvents == 0 {
		cfg.RetainEvents = 1_000_000
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	org, err := newOrg(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{Org: org, Clock: cfg.Clock}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.Bus = audit.NewBus(cfg.Clock, audit.BusOptions{RunID: cfg.RunID, Retain: cfg.RetainEvents})
	if cfg.AuditLog != nil {
		sub := s.Bus.Subscribe()
		s.logDone = make(chan error, 1)
		s.logSink = &audit.Sink{W: cfg.AuditLog, OnError: func(err error) {
			log.Error("audit log write failed; further events are counted as lost", "err", err)
			if cfg.OnAuditError != nil {
				cfg.OnAuditError(err)
			}
		}}
		go func() { s.logDone <- s.logSink.Run(context.Background(), sub) }()
	}
	dir := newDirectory(org)
	s.Store = store.New(baseAdapter{org}, cfg.Clock, store.Options{
		CacheBytes: cfg.messageCacheBytes(), SpillDir: cfg.AddedMailDir,
		QuotaBytes: cfg.Limits.QuotaBytes, MaxMIMEDepth: cfg.Limits.MIMEDepth, MaxMIMEParts: cfg.Limits.MIMEParts,
	})

	certDir := cfg.CertDir
	if certDir == "" {
		if certDir, err = os.MkdirTemp("", "mailsim-certs-"); err != nil {
			return nil, err
		}
		s.tmpDir = certDir
	}
	// Claim the directory before writing anything in it, and bind every
	// listener before the certificates are written.
	if s.certLock, err = certs.Lock(certDir); err != nil {
		return nil, fmt.Errorf("mailsim: %w", err)
	}
	listen := func(addr, what string, dst *string) (net.Listener, error) {
		if addr == Disabled {
			return nil, nil
		}
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("mailsim: %s listener on %s: %w", what, addr, err)
		}
		s.lns = append(s.lns, ln)
		*dst = ln.Addr().String()
		return ln, nil
	}
	var imapLn, imapsLn, subLn, mxLn, adminLn net.Listener
	for _, l := range []struct {
		addr, what string
		dst        *string
		ln         *net.Listener
	}{
		{cfg.IMAPAddr, "IMAP", &s.IMAPAddr, &imapLn},
		{cfg.IMAPSAddr, "IMAPS", &s.IMAPSAddr, &imapsLn},
		{cfg.SubmissionAddr, "submission", &s.SubmissionAddr, &subLn},
		{cfg.MXAddr, "MX", &s.MXAddr, &mxLn},
		{cfg.AdminAddr, "admin", &s.AdminAddr, &adminLn},
	} {
		if *l.ln, err = listen(l.addr, l.what, l.dst); err != nil {
			return nil, err
		}
	}

	hosts := append([]string{"localhost", "127.0.0.1", "::1", "imap." + cfg.Domain, "smtp." + cfg.Domain, "mail." + cfg.Domain}, cfg.Hosts...)
	if s.Certs, err = certs.Generate(certDir, hosts, cfg.Clock.Now()); err != nil {
		return nil, fmt.Errorf("mailsim: certificates: %w", err)
	}

	lim := cfg.Limits
	thr := throttle.New(cfg.Throttle, cfg.Clock) // nil when off; one limiter for IMAP and SMTP
	s.imap, err = imapd.New(imapd.Config{
		Store: s.Store, Directory: dir, Bus: s.Bus, TLSConfig: s.Certs.TLSConfig,
		AllowInsecureAuth: cfg.AllowInsecureAuth, Logger: log,
		MaxSessions: lim.IMAPSessions, MaxSessionsPerSource: lim.IMAPSessionsPerSource,
		PreAuthTimeout: lim.IMAPPreAuthTimeout, IdleTimeout: lim.IMAPIdleTimeout,
		TLSHandshakeTimeout: lim.TLSHandshakeTimeout, Throttle: thr,
		MaxLineBytes: lim.IMAPLineBytes, MaxPreAuthLiteralBytes: lim.IMAPPreAuthLiteralBytes,
		MaxMailboxNameBytes: lim.MailboxNameBytes, MaxMailboxLevelBytes: lim.MailboxLevelBytes,
		BulkWriters: cfg.BulkWriters, BulkNormalPriority: cfg.BulkNormalPriority,
	})
	if err != nil {
		return nil, err
	}
	outboxRaw := cfg.OutboxRawBytes
	if outboxRaw == 0 {
		outboxRaw = smtpd.DefaultOutboxRawBytes
	}
	s.Outbox = smtpd.NewOutbox(outboxRaw) // negative keeps none
	s.smtp, err = smtpd.New(smtpd.Config{
		Domain: cfg.Domain, Hostname: "smtp." + cfg.Domain, Backend: &smtpBackend{dir: dir, store: s.Store},
		Bus: s.Bus, Clock: cfg.Clock, Outbox: s.Outbox, Logger: log,
		TLSConfig: s.Certs.TLSConfig, AllowInsecureAuth: cfg.AllowInsecureAuth, MaxMessageBytes: cfg.MaxMessageBytes,
		MaxSessions: lim.MXSessions, MaxSessionsPerIP: lim.MXSessionsPerSource,
		MaxSubmissionSessions: lim.SubmissionSessions, MaxSubmissionSessionsPerIP: lim.SubmissionSessionsPerSource,
		ReadTimeout: lim.SMTPCommandTimeout, DataTimeout: lim.SMTPDataTimeout, TLSHandshakeTimeout: lim.TLSHandshakeTimeout,
		MaxMIMEDepth: lim.MIMEDepth, MaxMIMEParts: lim.MIMEParts, Throttle: thr,
	})
	if err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	serve := func(ln net.Listener, what string, fn func(net.Listener) error) {
		if ln == nil {
			return
		}
		if cfg.ProxyProtocol {
			pl := proxyproto.NewListener(ln, cfg.TrustedProxies)
			svcType, svcName := "imap", "imap"
			switch what {
			case "IMAPS":
				svcName = "imaps"
			case "submission":
				svcType, svcName = "smtp", "submission"
			case "MX":
				svcType, svcName = "smtp", "mx"
			}
			pl.OnRefused = func(remote net.Addr, err error) {
				ip, port := splitHostPortInt(remote)
				s.Bus.Publish(audit.Event{Action: svcType + ".connect", Outcome: audit.Failure, Reason: "proxy_header_refused",
					ServiceType: svcType, ServiceName: svcName, SourceIP: ip, SourcePort: port})
				log.Debug("connection refused", "service", what, "remote", remote, "err", err)
			}
			ln = pl
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := fn(ln); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, smtpd.ErrServerClosed) {
				log.Error("listener stopped", "service", what, "err", err)
			}
		}()
	}
	if adminLn != nil {
		token := cfg.AdminToken
		if token == "" {
			b := make([]byte, 16)
			rand.Read(b)
			token = hex.EncodeToString(b)
		}
		s.AdminToken = token
		acfg := cfg.Admin
		acfg.Bus, acfg.Outbox, acfg.Clock, acfg.Token, acfg.Logger, acfg.Context = s.Bus, s.Outbox, cfg.Clock, token, log, runCtx
		acfg.AllowedHosts = append(acfg.AllowedHosts, cfg.AdminHosts...)
		// Names and roles only: passwords go to the --accounts file, never
		// over HTTP.
		acfg.Users = func() any { return publicAccounts(s.Accounts()) }
		acfg.Info = func() any {
			return map[string]string{"imap": s.IMAPAddr, "imaps": s.IMAPSAddr, "submission": s.SubmissionAddr, "mx": s.MXAddr, "ca_file": s.Certs.CAFile, "domain": cfg.Domain}
		}
		s.admin = admin.NewServer(acfg)
	}
	serve(imapLn, "IMAP", s.imap.Serve)
	serve(imapsLn, "IMAPS", s.imap.ServeTLS)
	serve(subLn, "submission", s.smtp.ServeSubmission)
	serve(mxLn, "MX", s.smtp.ServeMX)
	if adminLn != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin API stopped", "err", err)
			}
		}()
	}
	s.lns = nil // served: the servers close them
	return s, nil
}

// publicAccount is an account.Account as the admin API shows it: no password.
type publicAccount struct {
	Address    string   `json:"address"`
	Name       string   `json:"name"`
	Department string   `json:"department"`
	Role       string   `json:"role"`
	Title      string   `json:"title,omitempty"`
	Kind       string   `json:"kind"`
	Delegates  []string `json:"delegates,omitempty"`
}

func publicAccounts(accs []account.Account) []publicAccount {
	out := make([]publicAccount, len(accs))
	for i, a := range accs {
		out[i] = publicAccount{a.Address, a.Name, a.Department, a.Role, a.Title, a.Kind, a.Delegates}
	}
	return out
}

func splitHostPortInt(a net.Addr) (string, int) {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String(), ta.Port
	}
	return a.String(), 0
}

// Accounts lists every login (people) and shared mailbox, with passwords.
func (s *Server) Accounts() []account.Account { return OrgAccounts(s.Org) }

// OrgAccounts lists an organisation's accounts (people and shared
// mailboxes) with their passwords and delegations.
func OrgAccounts(org *corpus.Org) []account.Account {
	var out []account.Account
	for _, u := range org.Users() {
		out = append(out, u.Account())
	}
	return out
}

// AuditLogStats tells how many events the audit log received whole, how
// many it lost, and the first write error (all zero without an AuditLog).
func (s *Server) AuditLogStats() (written, lost uint64, err error) {
	if s.logSink == nil {
		return 0, 0, nil
	}
	return s.logSink.Stats()
}

// Close stops the listeners, ends every session (their logout events are
// recorded), closes the store (its file of added mail), flushes the
// audit log and closes the bus.
func (s *Server) Close() error {
	s.once.Do(func() {
		var errs []error
		if s.cancel != nil {
			s.cancel()
		}
		for _, ln := range s.lns {
			ln.Close()
		}
		if s.admin != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			s.admin.Shutdown(ctx)
			cancel()
			s.admin.Close()
		}
		if s.imap != nil {
			errs = append(errs, s.imap.Close())
		}
		if s.smtp != nil {
			errs = append(errs, s.smtp.Close())
		}
		s.wg.Wait()
		if s.Store != nil {
			errs = append(errs, s.Store.Close())
		}
		if s.Bus != nil {
			s.Bus.Close()
		}
		if s.logDone != nil {
			errs = append(errs, <-s.logDone)
		}
		if s.certLock != nil {
			errs = append(errs, s.certLock.Unlock())
		}
		if s.tmpDir != "" {
			os.RemoveAll(s.tmpDir)
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
