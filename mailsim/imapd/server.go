// Package imapd is mailsim's IMAP server: go-imap v2's imapserver with our
// own backend over the mail store, a wire shim in front of it for ID and
// STARTTLS, delegated and shared mailboxes, and an audit event for every
// security-relevant action.
package imapd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/maildrill/maildrill/internal/tlsio"
	"github.com/maildrill/maildrill/mailsim/acceptloop"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

// Errors a Directory returns from Authenticate (possibly wrapped).
var (
	ErrUnknownUser        = errors.New("unknown user")
	ErrInvalidCredentials = errors.New("invalid credentials")
)

// Directory authenticates users and tells who may open which mailbox.
type Directory interface {
	// Authenticate returns the canonical address for valid credentials.
	Authenticate(username, password string) (string, error)
	// Account looks an address up.
	Account(address string) (account.Account, bool)
	// AccessibleBy lists the other mailboxes user may open.
	AccessibleBy(user string) []account.Account
}

// Config configures the server.
type Config struct {
	Store     *store.Store
	Directory Directory
	Bus       *audit.Bus
	// TLSConfig enables STARTTLS and the implicit-TLS listener.
	TLSConfig *tls.Config
	// AllowInsecureAuth permits LOGIN/AUTHENTICATE without TLS. Such
	// logins are marked auth.cleartext in the audit trail.
	AllowInsecureAuth bool
	// MaxAppendBytes bounds APPEND and any literal after login (default 50 MiB).
	MaxAppendBytes int64
	// MaxPreAuthLiteralBytes bounds a literal before login (default
	// DefaultMaxPreAuthLiteralBytes); MaxLineBytes bounds a command's text
	// without its literals (default DefaultMaxLineBytes, at most 48 KiB).
	MaxPreAuthLiteralBytes int64
	MaxLineBytes           int
	// MaxMailboxNameBytes and MaxMailboxLevelBytes bound mailbox names
	// (defaults DefaultMaxMailboxNameBytes, DefaultMaxMailboxLevelBytes).
	MaxMailboxNameBytes  int
	MaxMailboxLevelBytes int
	// ServerName is returned in the ID response.
	ServerName string
	// Logger receives diagnostics; nil is quiet.
	Logger *slog.Logger

	// MaxSessions bounds the concurrent connections (all listeners);
	// more get "* BYE [LIMIT]". Default DefaultMaxSessions.
	MaxSessions int
	// MaxSessionsPerSource bounds the concurrent connections from one
	// source address. Default DefaultMaxSessionsPerSource.
	MaxSessionsPerSource int
	// PreAuthTimeout is how long a connection may stay unauthenticated.
	// Default DefaultPreAuthTimeout.
	PreAuthTimeout time.Duration
	// IdleTimeout logs out an authenticated session that sent nothing for
	// that long (IDLE included). Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// TLSHandshakeTimeout bounds TLS handshakes (IMAPS and STARTTLS).
	// Default DefaultTLSHandshakeTimeout.
	TLSHandshakeTimeout time.Duration
	// Throttle, when set, throttles LOGIN and AUTHENTICATE (failure
	// delay, per-source and per-account failure limits); its delays are
	// waited on the Bus clock. Nil (the default) is off.
	Throttle *throttle.Limiter
	// BulkWriters bounds how many sessions write message bodies at once
	// (FETCH of BODY[...] or BINARY[...]); a FETCH of flags or other
	// metadata never waits for it. Default GOMAXPROCS−1 when New is
	// called, at least 1: a P stays free to notice other clients'
	// commands. Whole downloads' preparers render ahead of their writers,
	// at most BulkWriters−1 at once over all sessions (at least 1): with 2
	// writers on 2 cores, a second preparer made the corpus downloaded by 2
	// connections a fifth slower (docs/performance.md, "Spare Ps").
	BulkWriters int
	// BulkNormalPriority keeps the bulk writers' threads in the normal
	// scheduling class. By default, on Linux, they run in SCHED_IDLE, so
	// that commands on other connections preempt them at once
	// (bulkpool.go).
	BulkNormalPriority bool
}

// Server is the IMAP server.
type Server struct {
	cfg           Config
	tlsConfig     *tls.Config
	allowInsecure bool
	log           *slog.Logger

	bulk    *bulkPool     // the bulk writers (bulkpool.go)
	prepare chan struct{} // rendering slots of whole downloads' preparers (BulkWriters−1, at least 1)
	imap    *imapserver.Server
	pipeLn  *pipeListener
	servErr chan error

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	refusing  map[net.Conn]struct{} // connections over a cap being told BYE
	counter   *sessionCounter
	closed    bool
	wg        sync.WaitGroup
	sessions  sync.WaitGroup // sessions not yet closed (their logout event pending)
	nextID    atomic.Uint64
	done      chan struct{}
}

// New returns a server; call Serve / ServeTLS with listeners.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Directory == nil || cfg.Bus == nil {
		return nil, fmt.Errorf("imapd: Store, Directory and Bus are required")
	}
	if cfg.MaxAppendBytes <= 0 {
		cfg.MaxAppendBytes = 50 << 20
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "maildrill-mailsim"
	}
	if cfg.BulkWriters <= 0 {
		cfg.BulkWriters = DefaultBulkWriters()
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxSessionsPerSource <= 0 {
		cfg.MaxSessionsPerSource = DefaultMaxSessionsPerSource
	}
	if cfg.PreAuthTimeout <= 0 {
		cfg.PreAuthTimeout = DefaultPreAuthTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.TLSHandshakeTimeout <= 0 {
		cfg.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: cfg, tlsConfig: cfg.TLSConfig, allowInsecure: cfg.AllowInsecureAuth, log: log,
		listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}, refusing: map[net.Conn]struct{}{},
		counter: newSessionCounter(cfg.MaxSessions, cfg.MaxSessionsPerSource),
		done:    make(chan struct{}), servErr: make(chan error, 1),
		prepare: make(chan struct{}, max(1, cfg.BulkWriters-1)),
	}
	s.bulk = newBulkPool(cfg.BulkWriters, !cfg.BulkNormalPriority, log)
	s.pipeLn = newPipeListener()
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {},
			imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapESearch: {}, imap.CapSearchRes: {},
			imap.CapListExtended: {}, imap.CapListStatus: {}, imap.CapMove: {}, imap.CapStatusSize: {},
			imap.CapBinary: {}, imap.CapChildren: {}, imap.CapSpecialUse: {}, imap.CapLiteralPlus: {},
			imap.CapUnselect: {}, imap.CapIdle: {},
		},
		Logger:       slogPrintf{log},
		InsecureAuth: true, // TLS policy is enforced by the session, which knows the real TLS state
	})
	go func() { s.servErr <- s.imap.Serve(s.pipeLn) }()
	return s, nil
}

type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) { p.l.Debug(fmt.Sprintf(format, args...)) }

func (s *Server) debug(msg string, err error) {
	if err != nil {
		s.log.Debug(msg, "err", err)
	}
}

// Serve accepts plaintext connections (with STARTTLS) on ln.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, "imap", false) }

// ServeTLS accepts implicit-TLS connections on ln. TLSConfig is required.
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.tlsConfig == nil {
		return fmt.Errorf("imapd: ServeTLS needs a TLS configuration")
	}
	return s.serve(ln, "imaps", true)
}

func (s *Server) serve(ln net.Listener, service string, implicitTLS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff acceptloop.Backoff
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Anything else may pass (EMFILE, ENFILE, ECONNABORTED,
			// ENOBUFS...): back off and retry, as net/http does.
			delay := backoff.Next()
			s.log.Warn("imap accept failed; retrying", "service", service, "err", err, "delay", delay)
			if !acceptloop.Sleep(delay, s.done) {
				return nil
			}
			continue
		}
		backoff.Reset()
		s.startConn(nc, service, implicitTLS)
	}
}

// nextSessionNumber numbers the server's sessions (imap-1, imap-2, ...).
func (s *Server) nextSessionNumber() uint64 { return s.nextID.Add(1) }

func (s *Server) startConn(nc net.Conn, service string, implicitTLS bool) {
	info := &ConnInfo{Service: service}
	info.SourceIP, info.SourcePort = splitAddr(nc.RemoteAddr())
	info.SessionID = s.cfg.Bus.SessionID("imap-", s.nextSessionNumber, info.SourceIP, info.SourcePort)
	_, info.LocalPort = splitAddr(nc.LocalAddr())
	if reason := s.counter.acquire(info.SourceIP); reason != "" {
		s.refuse(nc, info, implicitTLS, reason)
		return
	}
	dc := s.newDeadlineConn(nc, info)
	nc = dc
	c := &conn{
		srv: s, info: info, raw: nc, client: nc, dc: dc,
		co:      shimCo{endedCh: make(chan struct{})},
		pending: map[string]pending{},
		cr:      newConnReader(nc), cw: newOutBuf(nc),
		tlsGo: make(chan struct{}, 1), tlsDone: make(chan error, 1),
		closed:     make(chan struct{}),
		appendMore: make(chan bool, 1),
	}
	ic := &innerConn{Conn: serverEnd{c}, info: info, remote: nc.RemoteAddr(), out: &respWriter{c: c, atResponse: true}}
	ic.onClose = func() {
		c.closeAll()
		c.stopShim()
	}
	c.server = ic
	info.done = c.closed
	info.stateChanged = dc.stateChanged
	dc.onTimeout = func(string) { c.sayByeAndClose(byeInactivity) }
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.counter.release(info.SourceIP)
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			s.counter.release(info.SourceIP)
			// Only this goroutine reads from the client: the reader is
			// free for another connection.
			releaseConnReader(c.cr)
			c.cr = nil
		}()
		if implicitTLS {
			tc := tlsio.Server(nc, s.tlsConfig)
			tc.SetDeadline(time.Now().Add(s.cfg.TLSHandshakeTimeout)) // starts the handshake deadline
			err := tc.Handshake()
			tc.SetDeadline(time.Time{})
			if err != nil {
				why := handshakeFailure(info, err)
				s.emit(info, audit.Event{Action: audit.IMAPConnect, Outcome: audit.Failure, Reason: why})
				s.endUnopened(info, why)
				c.closeAll()
				return
			}
			info.setTLS(tc.ConnectionState())
			c.client = tc
		}
		c.cr.Reset(c.client)
		c.cw.Reset(c.client)
		s.emit(info, audit.Event{Action: audit.IMAPConnect, Outcome: audit.Success})
		if !s.pipeLn.offer(c.server) {
			c.closeAll()
			return
		}
		// The shim runs in imapserver's reads (wire_co.go); the client
		// reader is released once it is over.
		c.waitShim()
	}()
}

// Close stops the listeners, closes every connection and waits for their
// goroutines (sessions emit their logout events) to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.closeAll()
	}
	for nc := range s.refusing {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	// imapserver closes each session once its reads fail; wait for
	// that so every logout event is published before the bus closes.
	waitTimeout(&s.sessions, 5*time.Second)
	s.bulk.close()
	waitTimeout(&s.bulk.ended, 5*time.Second)
	// imapserver.Serve registers itself (WaitGroup.Add) before its first
	// Accept; Close must not race with that (go-imap v2 beta.8).
	select {
	case <-s.pipeLn.accepting:
	case <-time.After(2 * time.Second):
	}
	s.pipeLn.Close()
	err := s.imap.Close()
	<-s.servErr
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func splitAddr(a net.Addr) (string, int) {
	if a == nil {
		return "", 0
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// ConnInfo is what the shim knows about a connection.
type ConnInfo struct {
	SessionID  string
	Service    string
	SourceIP   string
	SourcePort int
	LocalPort  int

	mu            sync.Mutex
	tls           bool
	authenticated bool
	clientName    string
	clientVersion string
	idParams      map[string]string
	userName      string
	mailbox       string // selected mailbox, as the client named it
	mailboxOwner  string
	closeReason   string          // why the connection ended; first set wins
	done          <-chan struct{} // closed when the connection is closed
	stateChanged  func()          // called after a login (moves the read deadline)

	commands atomic.Int64
	waiting  atomic.Int32 // imapserver is reading from the shim: no command runs
}

// serverBusy reports whether imapserver is running a command (it is not
// waiting for the client's next one).
func (i *ConnInfo) serverBusy() bool { return i.waiting.Load() == 0 }

// SetCloseReason records why the connection is ending (e.g. "client_logout",
// "client_reset", "timeout_preauth", "server_shutdown"). The first reason set
// wins: it is the cause, later ones are consequences.
func (i *ConnInfo) SetCloseReason(r string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closeReason == "" {
		i.closeReason = r
	}
}

// CloseReason returns the reason set by SetCloseReason, or "".
func (i *ConnInfo) CloseReason() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.closeReason
}

// TLS reports whether the connection is encrypted.
func (i *ConnInfo) TLS() bool { i.mu.Lock(); defer i.mu.Unlock(); return i.tls }

// Authenticated reports whether a login succeeded.
func (i *ConnInfo) Authenticated() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.authenticated
}

// Client returns the client name and version given by ID.
func (i *ConnInfo) Client() (string, string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.clientName, i.clientVersion
}

func (i *ConnInfo) setTLS(tls.ConnectionState) { i.mu.Lock(); i.tls = true; i.mu.Unlock() }
func (i *ConnInfo) setAuthenticated() {
	i.mu.Lock()
	i.authenticated = true
	changed := i.stateChanged
	i.mu.Unlock()
	if changed != nil {
		changed()
	}
}
func (i *ConnInfo) setID(p map[string]string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.idParams = p
	i.clientName = p["name"]
	i.clientVersion = p["version"]
}

// innerConn is imapserver's connection to the shim; it carries the ConnInfo and
// reports the client's real address.
type innerConn struct {
	net.Conn
	info    *ConnInfo
	remote  net.Addr
	out     *respWriter
	onClose func()
}

func (c *innerConn) Write(p []byte) (int, error) { return c.out.Write(p) }

// Read is imapserver waiting for the client's next command (or the rest
// of one, or IDLE's DONE).
func (c *innerConn) Read(p []byte) (int, error) {
	c.info.waiting.Add(1)
	defer c.info.waiting.Add(-1)
	return c.Conn.Read(p)
}
func (c *innerConn) Close() error {
	c.onClose()
	return nil
}

func (c *innerConn) RemoteAddr() net.Addr { return c.remote }

// SetReadDeadline ignores imapserver's read deadlines (30 s per command
// before login, 35 min after): the shim enforces the connection's timeouts
// on the client connection, where the client can be told BYE.
func (c *innerConn) SetReadDeadline(time.Time) error { return nil }

// SetDeadline applies only imapserver's write deadline (see SetReadDeadline).
func (c *innerConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

// pipeListener hands the shim's connections to imapserver.Serve.
type pipeListener struct {
	ch        chan net.Conn
	done      chan struct{}
	once      sync.Once
	accepting chan struct{} // closed on the first Accept
	acceptOne sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{ch: make(chan net.Conn), done: make(chan struct{}), accepting: make(chan struct{})}
}

func (l *pipeListener) offer(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	l.acceptOne.Do(func() { close(l.accepting) })
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "mailsim-imapd" }

// emit publishes an event with the connection's common fields.
func (s *Server) emit(info *ConnInfo, e audit.Event) {
	e.ServiceType = "imap"
	e.ServiceName = info.Service
	e.SessionID = info.SessionID
	e.SourceIP = info.SourceIP
	e.SourcePort = info.SourcePort
	e.DestPort = info.LocalPort
	e.TLS = info.TLS()
	if e.Action == audit.IMAPLogout && e.Reason == "" {
		e.Reason = info.CloseReason()
	}
	if e.ClientName == "" {
		e.ClientName, e.ClientVersion = info.Client()
	}
	_, _ = s.cfg.Bus.Publish(e)
}

func (s *Server) auditID(info *ConnInfo) {
	s.emit(info, audit.Event{Action: audit.IMAPID, Outcome: audit.Success, Command: "ID", UserName: info.user(), ClientIDRaw: info.idString()})
}

// idString renders the ID fields sorted by key, "key=value; ...".
func (i *ConnInfo) idString() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	keys := make([]string, 0, len(i.idParams))
	for k := range i.idParams {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for n, k := range keys {
		if n > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + "=" + i.idParams[k])
	}
	return b.String()
}

// auditIdle records IDLE when the shim reads the command, so that the event
// is stamped at the moment the client asked (the server's IDLE handler runs
// on its own goroutine, after the continuation).
func (s *Server) auditIdle(info *ConnInfo) {
	if !info.Authenticated() {
		return
	}
	mb, owner := info.selected()
	e := audit.Event{Action: audit.IMAPIdle, Outcome: audit.Success, Command: "IDLE", UserName: info.user(), Mailbox: mb, MailboxOwner: owner}
	if owner != "" {
		e.MailboxShared = audit.Bool(owner != info.user())
	}
	s.emit(info, e)
}

func (s *Server) auditStartTLS(info *ConnInfo, err error) {
	e := audit.Event{Action: audit.IMAPStartTLS, Outcome: audit.Success, Command: "STARTTLS"}
	if err != nil {
		e.Outcome = audit.Failure
		e.Reason = handshakeFailure(info, err)
	}
	s.emit(info, e)
}

func (s *Server) idResponse() string {
	return `("name" ` + quoteIMAP(s.cfg.ServerName) + ` "vendor" "maildrill" "support-url" "https://github.com/maildrill/maildrill")`
}

// user returns the logged-in user, if any (set by the session).
func (i *ConnInfo) user() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.userName
}

func (i *ConnInfo) setSelected(name, owner string) {
	i.mu.Lock()
	i.mailbox, i.mailboxOwner = name, owner
	i.mu.Unlock()
}

func (i *ConnInfo) selected() (string, string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.mailbox, i.mailboxOwner
}

func (i *ConnInfo) setUser(u string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.userName = u
}
