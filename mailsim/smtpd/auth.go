package smtpd

import (
	"errors"
	"strings"

	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

// authAttempt is an AUTH exchange in progress.
type authAttempt struct {
	mech      string
	cleartext bool
	login     *LoginServer  // for LOGIN, to learn the user name sent so far
	delay     time.Duration // failure delay applied (throttling)
}

// AuthMechanisms lists the mechanisms advertised in EHLO: PLAIN and LOGIN
// on submission, over TLS or when cleartext logins are allowed; none on MX.
func (s *session) AuthMechanisms() []string {
	if !s.submission() {
		return nil
	}
	if !s.cs.isTLS() && !s.srv.cfg.AllowInsecureAuth {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts an AUTH exchange. go-smtp calls it for any mechanism name the
// client sends, advertised or not.
func (s *session) Auth(mech string) (sasl.Server, error) {
	s.flushAuth()
	mech = sanitize(strings.ToUpper(mech), maxMechLen)
	e := s.cs.event(audit.SMTPAuth)
	cleartext := !e.TLS
	e.AuthMechanism = mech
	e.AuthCleartext = audit.Bool(cleartext)
	e.Outcome = audit.Failure

	switch {
	case !s.submission():
		e.Reason = ReasonUnknownMechanism
		s.srv.publish(e)
		return nil, smtp.ErrAuthUnsupported
	case mech != sasl.Plain && mech != sasl.Login:
		e.Reason = ReasonUnknownMechanism
		s.srv.publish(e)
		return nil, smtp.ErrAuthUnknownMechanism
	case cleartext && !s.srv.cfg.AllowInsecureAuth:
		// Refused in Next, so that the user name of an initial response
		// (already sent in the clear) makes it into the event. No
		// challenge is ever sent: credentials are not solicited.
		return &cleartextRefusal{s: s, event: e}, nil
	}

	a := &authAttempt{mech: mech, cleartext: cleartext}
	var srv sasl.Server
	if mech == sasl.Plain {
		srv = sasl.NewPlainServer(func(identity, username, password string) error {
			return s.authenticate(a, identity, username, password)
		})
	} else {
		a.login = NewLoginServer(func(username, password string) error {
			return s.authenticate(a, "", username, password)
		})
		srv = a.login
	}
	s.mu.Lock()
	s.auth = a
	s.mu.Unlock()
	return &saslGuard{Server: srv, s: s, a: a}, nil
}

// authenticate checks credentials, records the outcome and ends the
// attempt.
func (s *session) authenticate(a *authAttempt, identity, username, password string) error {
	name := sanitize(username, maxNameLen)
	lim := s.srv.cfg.Throttle
	if reason := lim.Check(s.cs.ip, username); reason != "" {
		// Refused without checking the password (Check counted it).
		s.finishAuth(a, name, reason)
		return errAuthThrottled
	}
	addr, err := s.srv.cfg.Backend.Authenticate(username, password)
	refuse := func(reason string) error {
		// The failure delay comes before the 535, as Dovecot's
		// auth_failure_delay; the event records it (event.duration).
		a.delay = lim.Failure(s.cs.ip, username)
		_ = throttle.Sleep(s.srv.ctx, s.srv.cfg.Clock, a.delay)
		s.finishAuth(a, name, reason)
		return smtp.ErrAuthFailed
	}
	if err == nil && identity != "" && !strings.EqualFold(identity, username) && !strings.EqualFold(identity, addr) {
		return refuse(ReasonAuthzidMismatch)
	}
	switch {
	case err == nil:
		lim.Success(s.cs.ip, username)
		s.cs.setUser(addr)
		s.finishAuth(a, name, "")
		return nil
	case errors.Is(err, ErrUnknownUser):
		return refuse(ReasonUnknownUser)
	case errors.Is(err, ErrInvalidCredentials):
		return refuse(ReasonInvalidCredentials)
	default:
		s.srv.log.Warn("smtpd: backend authentication error", logKeySession, s.cs.id, logKeyErr, err)
		s.finishAuth(a, name, ReasonBackendError)
		return errAuthTemporary
	}
}

// finishAuth publishes the outcome of a (reason "" = successful) attempt,
// once.
func (s *session) finishAuth(a *authAttempt, name, reason string) {
	s.mu.Lock()
	if s.auth != a {
		s.mu.Unlock()
		return
	}
	s.auth = nil
	s.mu.Unlock()
	e := s.cs.event(audit.SMTPAuth)
	e.AuthMechanism = a.mech
	e.AuthCleartext = audit.Bool(a.cleartext)
	e.UserName = name
	e.Duration = a.delay
	if reason == "" {
		e.Outcome = audit.Success
	} else {
		e.Outcome, e.Reason = audit.Failure, reason
	}
	s.srv.publish(e)
}

// flushAuth records an exchange the client abandoned (cancelled with "*",
// sent bad base64, or hung up) as a failure.
func (s *session) flushAuth() { s.endAuth(ReasonAborted) }

// endAuth records the exchange in progress, if any, as failed for reason.
func (s *session) endAuth(reason string) bool {
	s.mu.Lock()
	a := s.auth
	s.mu.Unlock()
	if a == nil {
		return false
	}
	name := ""
	if a.login != nil {
		name = sanitize(a.login.Username(), maxNameLen)
	}
	s.finishAuth(a, name, reason)
	return true
}

// saslGuard audits responses a mechanism rejects before credentials are
// checked (a PLAIN response without its two NULs, say).
type saslGuard struct {
	sasl.Server
	s *session
	a *authAttempt
}

func (g *saslGuard) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := g.Server.Next(response)
	if err != nil {
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			return nil, done, err // credentials were checked and audited
		}
		name := ""
		if g.a.login != nil {
			name = sanitize(g.a.login.Username(), maxNameLen)
		}
		g.s.finishAuth(g.a, name, ReasonMalformed)
		return nil, done, errMalformedAuth
	}
	return challenge, done, nil
}

// cleartextRefusal refuses an AUTH exchange attempted without TLS, noting
// the user name if the client already sent it as an initial response (the
// password is never kept).
type cleartextRefusal struct {
	s     *session
	event audit.Event
}

func (r *cleartextRefusal) Next(response []byte) ([]byte, bool, error) {
	e := r.event
	e.Reason = ReasonCleartextDisallowed
	if response != nil {
		name := string(response)
		if e.AuthMechanism == sasl.Plain {
			parts := strings.SplitN(name, "\x00", 3)
			name = ""
			if len(parts) == 3 {
				name = parts[1]
			}
		}
		e.UserName = sanitize(name, maxNameLen)
	}
	r.s.srv.publish(e)
	return nil, true, errEncryptionRequired
}
