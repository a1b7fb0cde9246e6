package imapd

import (
	"context"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/mailsim/throttle"
)

// Authentication throttling (Config.Throttle), applied by the session's
// login path: a throttled attempt is refused without checking the password,
// and every failure is answered after the configured failure delay.

// throttled tells whether an attempt for user from the connection's source
// is refused without checking the password. It returns the audit reason and
// the reply, or "" and nil. The caller records the refusal (authFailure):
// it counts as a failure and is delayed like one.
func (s *Server) throttled(info *ConnInfo, user string) (string, error) {
	reason := s.cfg.Throttle.Check(info.SourceIP, user)
	if reason == "" {
		return "", nil
	}
	return reason, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
		Text: "Too many failed authentications, try again later"}
}

// authFailure records a failed authentication and waits the failure delay
// (scenario time on the bus clock) before the reply, or until the
// connection or the server closes.
func (s *Server) authFailure(info *ConnInfo, user string) {
	d := s.cfg.Throttle.Failure(info.SourceIP, user)
	if d <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-info.done:
		case <-s.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	_ = throttle.Sleep(ctx, s.cfg.Bus.Clock(), d)
}

// authSucceeded clears the source's and account's failure counts.
func (s *Server) authSucceeded(info *ConnInfo, user string) {
	s.cfg.Throttle.Success(info.SourceIP, user)
}
