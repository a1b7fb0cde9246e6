package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/dovecot"
)

// barrierGap is how far a virtual clock may move without first waiting
// for the Dovecot target's log to catch up: events still on their way are
// stamped with the time of the last synchronisation, so they can be at
// most this late in scenario time.
const barrierGap = 2 * time.Second

// startDovecot runs the real target: Debian's Dovecot + Postfix in a
// container (mailsim/dovecot), seeded with the same organisation's mail
// (a Maildir export of the same corpus), with its mail log parsed into
// the run's audit trail.
//
// A real server cannot follow a virtual clock, so events are stamped by
// the runner as they arrive: with a virtual clock, each event gets the
// scenario time of the action that caused it, because before the clock
// moves on by more than barrierGap the runner waits until the log has
// caught up (Container.Barrier); with a scaled or real clock, the clock's
// time on arrival.
func startDovecot(ctx context.Context, env Environment, clk clock.Clock, runID, certDir string, opts Options, note func(string)) (_ *Target, err error) {
	profile := dovecot.Profile(opts.DovecotProfile)
	if profile == "" {
		profile = dovecot.Enhanced
	}
	if profile != dovecot.Stock && profile != dovecot.Enhanced {
		return nil, fmt.Errorf("dovecot profile %q: want stock or enhanced", profile)
	}
	// The image build (debootstrap on a cold machine: network and disk)
	// and the Maildir export of the same organisation's mail (CPU) run
	// side by side.
	t0 := time.Now()
	note("building or finding the Dovecot + Postfix image (a cold build runs debootstrap), exporting the mail as Maildir")
	var img string
	var buildErr error
	built := make(chan struct{})
	go func() {
		defer close(built)
		img, buildErr = dovecot.BuildImageProgress(ctx, func(step string) { note("image: " + step) })
	}()
	org, st, err := mailsim.NewStore(mailsim.Config{Seed: env.Seed, Users: env.Users, MessagesPerUser: env.Messages,
		CorpusCacheDir: opts.CorpusCacheDir, Clock: clk})
	if err != nil {
		<-built
		return nil, err
	}
	root, err := os.MkdirTemp("", "maildrill-dovecot-")
	if err != nil {
		<-built
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(root)
		}
	}()
	accounts := mailsim.OrgAccounts(org)
	var dacc []dovecot.Account
	for _, a := range accounts {
		dacc = append(dacc, dovecot.Account{Address: a.Address, Password: a.Password, Kind: a.Kind, Delegates: a.Delegates})
	}
	owners := make([]string, len(accounts))
	for i, a := range accounts {
		owners[i] = a.Address
	}
	exportErr := st.ExportMaildirs(ctx, owners, root, nil)
	exported := time.Since(t0)
	<-built
	if err := errors.Join(buildErr, exportErr); err != nil {
		return nil, err
	}
	note(fmt.Sprintf("image %s ready in %.1f s; %d mailboxes exported as Maildir in %.1f s", img, time.Since(t0).Seconds(), len(accounts), exported.Seconds()))

	bus := audit.NewBus(clk, audit.BusOptions{RunID: runID, Retain: -1})
	_, virtual := clk.(*clock.Virtual)
	var stamp atomic.Int64 // UnixNano of the last synchronisation (virtual clock)
	stamp.Store(clk.Now().UnixNano())
	stampFn := func(time.Time) time.Time { return clk.Now() }
	if virtual {
		stampFn = func(time.Time) time.Time { return time.Unix(0, stamp.Load()).In(clk.Now().Location()) }
	}
	var pubErr error
	var pubMu sync.Mutex
	c, err := dovecot.StartContainer(ctx, dovecot.ContainerOptions{
		Image: img, Profile: profile, Domain: org.Config().Domain, Accounts: dacc, MailRoot: root,
		CertDir: certDir, CertTime: env.Start,
		Parser: dovecot.Options{Stamp: stampFn},
		Events: func(e *audit.Event) {
			if _, err := bus.Publish(*e); err != nil {
				pubMu.Lock()
				pubErr = errors.Join(pubErr, err)
				pubMu.Unlock()
			}
		},
	})
	if err != nil {
		bus.Close()
		return nil, err
	}
	note(fmt.Sprintf("Dovecot (%s logging) ready in %.1f s", profile, c.StartToReady.Seconds()))

	t := &Target{
		Name: "dovecot", IMAPAddr: c.IMAPProxyAddr, IMAPSAddr: c.IMAPSProxyAddr, SubmissionAdr: c.SubmissionProxyAddr,
		TLS:      c.TLSConfig("localhost"),
		Accounts: accounts, Domain: org.Config().Domain, Proxy: true, Bus: bus,
		noSessionEnd: true,
	}
	if virtual {
		t.SyncClock = forwardOnly(clk.Now(), func(ctx context.Context, last, now time.Time) error {
			if now.Sub(last) > barrierGap {
				// A timeout only makes some events late: note it, go on.
				if err := c.Barrier(ctx, 5*time.Second); err != nil && ctx.Err() == nil {
					note(fmt.Sprintf("warning: %v (events may be stamped late)", err))
				}
			}
			stamp.Store(now.UnixNano())
			return ctx.Err()
		})
	}
	t.allowed = map[string]bool{c.IMAPProxyAddr: true, c.IMAPSProxyAddr: true, c.SubmissionProxyAddr: true}
	t.close = func() error {
		var errs []error
		// Everything the servers did has reached the trail before it closes.
		if err := c.Barrier(context.Background(), 10*time.Second); err != nil {
			errs = append(errs, err)
		}
		passed, timedOut := c.BarrierStats()
		tc := time.Now()
		errs = append(errs, c.Close())
		note(fmt.Sprintf("Dovecot container stopped and removed in %.1f s (%d log barriers)", time.Since(tc).Seconds(), passed))
		bus.Close()
		pubMu.Lock()
		errs = append(errs, pubErr)
		pubMu.Unlock()
		if timedOut > 0 {
			note(fmt.Sprintf("log barriers: %d passed, %d timed out", passed, timedOut))
		}
		if err := os.RemoveAll(root); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	return t, nil
}
