package scenarios

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
)

// Target is the mail system a run attacks.
type Target struct {
	Name                               string
	IMAPAddr, IMAPSAddr, SubmissionAdr string
	TLS                                *tls.Config // trusts the target's CA
	Accounts                           []mailsim.Account
	Domain                             string
	Proxy                              bool       // send PROXY headers (actors' own addresses)
	Bus                                *audit.Bus // the audit trail, when the run can read it
	Server                             *mailsim.Server
	allowed                            map[string]bool
	close                              func() error
}

// Close stops what the run started.
func (t *Target) Close() error {
	if t.close != nil {
		return t.close()
	}
	return nil
}

// startEmbedded runs mailsim in-process on loopback with ephemeral ports,
// requiring PROXY headers so each actor is seen at its own address.
func startEmbedded(ctx context.Context, env Environment, clk clock.Clock, runID, certDir, cacheDir string) (*Target, error) {
	srv, err := mailsim.Start(ctx, mailsim.Config{
		CorpusCacheDir: cacheDir,
		Seed:           env.Seed, Users: env.Users, MessagesPerUser: env.Messages,
		AdminAddr: mailsim.Disabled, MXAddr: mailsim.Disabled,
		Clock: clk, RunID: runID, ProxyProtocol: true, AllowInsecureAuth: env.AllowPlaintext,
		CertDir: certDir, RetainEvents: -1,
	})
	if err != nil {
		return nil, err
	}
	t := &Target{
		Name: "embedded", IMAPAddr: srv.IMAPAddr, IMAPSAddr: srv.IMAPSAddr, SubmissionAdr: srv.SubmissionAddr,
		TLS: srv.Certs.ClientConfig("localhost"), Accounts: srv.Accounts(), Domain: srv.Org.Config().Domain,
		Proxy: true, Bus: srv.Bus, Server: srv, close: srv.Close,
	}
	t.allowed = map[string]bool{srv.IMAPAddr: true, srv.IMAPSAddr: true, srv.SubmissionAddr: true}
	return t, nil
}

// checkDial enforces the safety rule: attackers reach only servers this run
// started, or hosts the user named with --allow-target.
func (r *runner) checkDial(addr string) error {
	if r.target.allowed[addr] || r.opts.AllowTargets[addr] {
		return nil
	}
	return fmt.Errorf("refusing to connect to %s: this run did not start it; name it with --allow-target %s to attack it deliberately", addr, addr)
}

// AllowList parses --allow-target values (host:port).
func AllowList(vals []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, v := range vals {
		host, port, err := net.SplitHostPort(v)
		if err != nil || host == "" || port == "" || strings.ContainsAny(host, "*") {
			return nil, fmt.Errorf("--allow-target %q: want host:port (no wildcards)", v)
		}
		out[v] = true
	}
	return out, nil
}
