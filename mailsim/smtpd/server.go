package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// ErrServerClosed is returned by ServeSubmission and ServeMX after Close.
var ErrServerClosed = errors.New("smtpd: server closed")

// Service names, as they appear in service.name.
const (
	ServiceSubmission = "submission"
	ServiceMX         = "mx"

	serviceType = "smtp"
)

// Log keys.
const (
	logKeySession = "session"
	logKeyService = "service"
	logKeyErr     = "err"
	logKeyRemote  = "remote"
)

// Server runs mailsim's SMTP listeners. It is safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	nextID atomic.Uint64

	closing atomic.Bool
	ctx     context.Context // ends at Close: cuts throttling delays short
	cancel  context.CancelFunc

	tlsOnce sync.Once
	tlsCfg  *tls.Config

	mu         sync.Mutex
	listeners  []*listener
	conns      map[*trackedConn]struct{}
	perService map[string]int
	perSource  map[sourceKey]int
	connWG     sync.WaitGroup // one per admitted connection
	closeErr   error
	closeDone  chan struct{} // closed when Close has finished
}

// New returns a server for cfg. It listens on nothing until ServeSubmission
// or ServeMX is called.
func New(cfg Config) (*Server, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		ctx:        ctx,
		cancel:     cancel,
		cfg:        cfg,
		log:        cfg.Logger,
		conns:      map[*trackedConn]struct{}{},
		perService: map[string]int{},
		perSource:  map[sourceKey]int{},
	}, nil
}

// Outbox returns the outbox capturing mail for outside domains.
func (s *Server) Outbox() *Outbox { return s.cfg.Outbox }

// ServeSubmission serves the submission service (authenticated clients
// sending mail) on ln until Close. It always returns a non-nil error,
// ErrServerClosed after Close.
func (s *Server) ServeSubmission(ln net.Listener) error {
	return s.serve(ln, ServiceSubmission)
}

// ServeMX serves the MX service (mail from other domains to local
// mailboxes, no authentication) on ln until Close. It always returns a
// non-nil error, ErrServerClosed after Close.
func (s *Server) ServeMX(ln net.Listener) error {
	return s.serve(ln, ServiceMX)
}

func (s *Server) serve(ln net.Listener, service string) error {
	l := &listener{Listener: ln, done: make(chan struct{})}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()

	err := s.acceptLoop(l, service)
	if s.closing.Load() || errors.Is(err, ErrServerClosed) {
		return ErrServerClosed
	}
	return fmt.Errorf("smtpd: serve %s on %s: %w", service, ln.Addr(), err)
}

// newSMTPServer returns the go-smtp server running one connection's
// session. One per connection, so that its Debug stream — what go-smtp
// reads and writes, in plaintext even after STARTTLS — belongs to that
// connection: it is how the replies go-smtp makes by itself are audited.
func (s *Server) newSMTPServer(service string, tc *trackedConn) *smtp.Server {
	srv := smtp.NewServer(&backend{srv: s, service: service})
	srv.Domain = s.cfg.Hostname
	srv.MaxMessageBytes = s.cfg.MaxMessageBytes
	srv.MaxRecipients = s.cfg.MaxRecipients
	srv.ReadTimeout = s.cfg.ReadTimeout
	srv.WriteTimeout = s.cfg.WriteTimeout
	// go-smtp refuses cleartext AUTH itself (523) without calling the
	// session, so the refusal would not be audited: the session applies
	// the policy instead (see session.AuthMechanisms and session.Auth).
	srv.AllowInsecureAuth = true
	srv.ErrorLog = errorLog{log: s.log.With(logKeyService, service, logKeySession, tc.state.id)}
	srv.Debug = tc.state.tap
	if s.cfg.TLSConfig != nil {
		s.tlsOnce.Do(func() { s.tlsCfg = s.tlsConfig() })
		srv.TLSConfig = s.tlsCfg
	}
	return srv
}

// tlsConfig wraps the configured TLS settings so that each STARTTLS
// handshake is tied to its session and audited.
func (s *Server) tlsConfig() *tls.Config {
	base := s.cfg.TLSConfig.Clone()
	outer := base.Clone()
	outer.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		cfg := base
		if base.GetConfigForClient != nil {
			c, err := base.GetConfigForClient(hello)
			if err != nil {
				return nil, err
			}
			if c != nil {
				cfg = c
			}
		}
		tc, ok := hello.Conn.(*trackedConn)
		if !ok {
			return nil, nil
		}
		cfg = cfg.Clone()
		prev := cfg.VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if prev != nil {
				if err := prev(cs); err != nil {
					return err
				}
			}
			tc.state.handshakeDone()
			return nil
		}
		return cfg, nil
	}
	return outer
}

// Close stops the listeners, ends idle sessions at once, gives sessions
// busy with a message ShutdownTimeout to finish, then cuts them off. It
// returns once every session goroutine has ended, or with an error naming
// the sessions still stuck (in the Backend or on a full audit bus) a further
// ShutdownTimeout later.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closeDone != nil {
		done := s.closeDone
		s.mu.Unlock()
		<-done
		return s.closeErr
	}
	s.closeDone = make(chan struct{})
	s.closing.Store(true)
	s.cancel()
	listeners := s.listeners
	s.mu.Unlock()

	var firstErr error
	for _, l := range listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) && firstErr == nil {
			firstErr = err
		}
	}
	allDone := make(chan struct{})
	go func() {
		defer close(allDone)
		// Connections are ended by the interrupts below.
		s.connWG.Wait()
	}()
	for _, c := range s.snapshotConns() {
		c.interruptIfIdle()
	}

	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-allDone:
	case <-timer.C:
		stuck := s.snapshotConns()
		s.log.Warn("smtpd: cutting off sessions at shutdown", "count", len(stuck))
		for _, c := range stuck {
			c.forceClose()
		}
		timer.Reset(s.cfg.ShutdownTimeout)
		select {
		case <-allDone:
		case <-timer.C:
			var ids []string
			for _, c := range s.snapshotConns() {
				ids = append(ids, c.state.id)
				_ = c.close(false) // audit the disconnect: the session may never return
			}
			firstErr = fmt.Errorf("smtpd: close: %d sessions still running after %s: %v", len(ids), 2*s.cfg.ShutdownTimeout, ids)
		}
	}

	s.mu.Lock()
	s.closeErr = firstErr
	close(s.closeDone)
	s.mu.Unlock()
	return firstErr
}

func (s *Server) snapshotConns() []*trackedConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// publish sends e on the bus. A closed bus means shutdown: the event is
// dropped quietly.
func (s *Server) publish(e audit.Event) {
	if s.cfg.Bus == nil {
		return
	}
	if _, err := s.cfg.Bus.Publish(e); err != nil && !errors.Is(err, audit.ErrClosed) {
		s.log.Warn("smtpd: publish audit event", "action", e.Action, logKeySession, e.SessionID, logKeyErr, err)
	}
}

// errorLog routes go-smtp's internal error log to slog at debug level:
// broken clients are expected here.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l errorLog) Println(v ...any)               { l.log.Debug(fmt.Sprint(v...)) }
