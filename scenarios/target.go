package scenarios

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/container"
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
	// SyncClock, when set, moves the target's own clock to the runner's
	// before each action (a container's virtual clock, over its admin API).
	SyncClock func(context.Context, time.Time) error
	allowed   map[string]bool
	close     func() error
	// noSessionEnd: the target's trail cannot tell when a given
	// connection ended (Dovecot's stock logging has no client port), so
	// actors do not wait for it.
	noSessionEnd bool
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
		CertDir: certDir, RetainEvents: -1, Throttle: env.Throttle,
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

// startDocker runs mailsim in a container (mailsim/container). The
// container's clock is virtual whatever the run's clock: the runner sets it
// before each action (SyncClock), so events carry scenario time in every
// mode. Its audit trail, streamed from the admin API, is republished on a
// local bus with the same run id, and the runner reads it as it reads the
// embedded target's. The container's admin.* events (the runner's own
// clock moves, before every action) are not the scenario's and are left
// out, so the trail matches the embedded target's; ids and sequences are
// the local bus's.
func startDocker(ctx context.Context, env Environment, clk clock.Clock, runID string, note func(string)) (*Target, error) {
	note("building or finding the mailsim image (a static go build, then docker build FROM scratch on a change; the first build takes a minute or two)")
	img, err := container.BuildImage(ctx, container.BuildOptions{})
	if err != nil {
		return nil, err
	}
	how := "built"
	if img.Cached {
		how = "cached"
	}
	t0 := time.Now()
	m, err := container.Start(ctx, container.Options{
		Image: img.Tag, Seed: env.Seed, Users: env.Users, Messages: env.Messages, AllowPlaintext: env.AllowPlaintext,
		RunID: runID, ProxyProtocol: true, Start: clk.Now(), Throttle: env.Throttle,
	})
	if err != nil {
		return nil, err
	}
	note(fmt.Sprintf("image %s (%s in %.1f s); container ready in %.1f s", img.Tag, how, img.Took.Seconds(), time.Since(t0).Seconds()))
	bus := audit.NewBus(clk, audit.BusOptions{RunID: runID, Retain: -1})
	var received atomic.Uint64
	streamCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.Stream(streamCtx, 1, func(e audit.Event) error {
			if e.ServiceType == "admin" {
				received.Add(1) // read, not republished
				return nil
			}
			e.ID, e.Sequence = "", 0
			if _, err := bus.Publish(e); err != nil {
				return err
			}
			received.Add(1)
			return nil
		})
	}()
	t := &Target{
		Name: "docker", IMAPAddr: m.IMAPAddr, IMAPSAddr: m.IMAPSAddr, SubmissionAdr: m.SubmissionAddr,
		TLS: m.TLSConfig("localhost"), Accounts: m.Accounts, Domain: m.Domain, Proxy: true, Bus: bus,
		SyncClock: forwardOnly(time.Time{}, func(ctx context.Context, _, now time.Time) error { return m.SetClock(ctx, now) }),
	}
	t.allowed = map[string]bool{m.IMAPAddr: true, m.IMAPSAddr: true, m.SubmissionAddr: true}
	t.close = func() error {
		// Let the stream catch up with what the container published, then
		// stop it, the bus and the container.
		ctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		var errs []error
		if n, err := m.Published(ctx); err == nil {
			for received.Load() < n && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
		}
		cancel()
		if err := <-done; err != nil && !errors.Is(err, audit.ErrClosed) && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
		bus.Close()
		errs = append(errs, m.Close())
		return errors.Join(errs...)
	}
	return t, nil
}

// forwardOnly makes a SyncClock that calls move, one call at a time,
// only when now is past the last time it was given (concurrent actors on a
// scaled clock may ask out of order): the target's clock never goes back.
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
