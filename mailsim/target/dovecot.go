package target

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// dovecotTarget is the real target: Debian's Dovecot + Postfix in a
// container (mailsim/dovecot), seeded with the same organisation's mail
// (a Maildir export of the same corpus), with its mail log parsed into
// the audit trail.
//
// A real server cannot follow a virtual clock, so events are stamped as
// they arrive: with a virtual clock, each event gets the scenario time of
// the action that caused it, because before the clock moves on by more
// than barrierGap SyncClock waits until the log has caught up
// (Container.Barrier); with a scaled or real clock, the clock's time on
// arrival.
type dovecotTarget struct {
	base
	c        *dovecot.Container
	sync     func(context.Context, time.Time) error // nil: the clock is not virtual
	note     func(string)
	root     string // the exported Maildirs
	pubMu    sync.Mutex
	pubErr   error
	once     sync.Once
	closeErr error
}

func startDovecot(ctx context.Context, spec Spec) (_ *dovecotTarget, err error) {
	profile := dovecot.Profile(spec.DovecotProfile)
	if profile == "" {
		profile = dovecot.Enhanced
	}
	if profile != dovecot.Stock && profile != dovecot.Enhanced {
		return nil, fmt.Errorf("dovecot profile %q: want stock or enhanced", profile)
	}
	clk, note := spec.Clock, spec.Note
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
	org, st, err := mailsim.NewStore(mailsim.Config{Seed: spec.Seed, Users: spec.Users, MessagesPerUser: spec.Messages,
		CorpusCacheDir: spec.CorpusCacheDir, Clock: clk})
	if err != nil {
		<-built
		return nil, err
	}
	root, err := os.MkdirTemp(mailRootParent(), "maildrill-dovecot-")
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

	t := &dovecotTarget{note: note, root: root, base: base{
		name: "dovecot", accounts: accounts, domain: org.Config().Domain,
		bus: audit.NewBus(clk, audit.BusOptions{RunID: spec.RunID, Retain: -1}),
	}}
	_, virtual := clk.(*clock.Virtual)
	var stamp atomic.Int64 // UnixNano of the last synchronisation (virtual clock)
	stamp.Store(clk.Now().UnixNano())
	stampFn := func(time.Time) time.Time { return clk.Now() }
	if virtual {
		stampFn = func(time.Time) time.Time { return time.Unix(0, stamp.Load()).In(clk.Now().Location()) }
	}
	c, err := dovecot.StartContainer(ctx, dovecot.ContainerOptions{
		Image: img, Profile: profile, Domain: t.domain, Accounts: accounts, MailRoot: root,
		CertDir: spec.CertDir, CertTime: spec.Start,
		Parser: dovecot.Options{Stamp: stampFn},
		Events: func(e *audit.Event) {
			if _, err := t.bus.Publish(*e); err != nil {
				t.pubMu.Lock()
				t.pubErr = errors.Join(t.pubErr, err)
				t.pubMu.Unlock()
			}
		},
	})
	if err != nil {
		t.bus.Close()
		return nil, err
	}
	note(fmt.Sprintf("Dovecot (%s logging) ready in %.1f s", profile, c.StartToReady.Seconds()))
	t.c = c
	t.ep = Endpoints{IMAP: c.IMAPProxyAddr, IMAPS: c.IMAPSProxyAddr, Submission: c.SubmissionProxyAddr}
	t.tls = c.TLSConfig("localhost")
	if virtual {
		t.sync = forwardOnly(clk.Now(), func(ctx context.Context, last, now time.Time) error {
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
	return t, nil
}

// mailRootParent is where the exported Maildirs go (the flagship's
// organisation is about 2 GB in 6,000 files, written once, read by the
// container, removed at the end): $MAILDRILL_MAIL_DIR, else $TMPDIR when
// set, else /dev/shm when it is a tmpfs with 4 GiB free (on a disk the
// removal alone took seconds), else the temporary directory.
func mailRootParent() string {
	if d := os.Getenv("MAILDRILL_MAIL_DIR"); d != "" {
		return d
	}
	if os.Getenv("TMPDIR") != "" {
		return os.TempDir()
	}
	if roomyShm() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func (t *dovecotTarget) SyncClock(ctx context.Context, now time.Time) error {
	if t.sync == nil {
		return nil
	}
	return t.sync(ctx, now)
}

// SessionEnds: Dovecot's stock logging has no client port, so the trail
// cannot tell when a given connection ended. TrackConn counts the closed
// connections per client address instead, and every log barrier waits
// until their ends are logged.
func (*dovecotTarget) SessionEnds() bool { return false }

// TrackConn reports conn's close to the container's log barrier.
func (t *dovecotTarget) TrackConn(conn net.Conn, src string) net.Conn {
	return &trackedConn{Conn: conn, closed: func() { t.c.ConnClosed(src) }}
}

// trackedConn calls closed once, after the first Close.
type trackedConn struct {
	net.Conn
	once   sync.Once
	closed func()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.closed)
	return err
}

// Close waits until everything the servers did has reached the trail,
// then stops the container, the bus, and removes the Maildirs.
func (t *dovecotTarget) Close() error {
	t.once.Do(func() { t.closeErr = t.close() })
	return t.closeErr
}

func (t *dovecotTarget) close() error {
	var errs []error
	if err := t.c.Barrier(context.Background(), 10*time.Second); err != nil {
		errs = append(errs, err)
	}
	passed, timedOut := t.c.BarrierStats()
	tc := time.Now()
	errs = append(errs, t.c.Close())
	t.note(fmt.Sprintf("Dovecot container stopped and removed in %.1f s (%d log barriers, %.1f s in them)", time.Since(tc).Seconds(), passed, t.c.BarrierTime().Seconds()))
	t.bus.Close()
	t.pubMu.Lock()
	errs = append(errs, t.pubErr)
	t.pubMu.Unlock()
	if timedOut > 0 {
		t.note(fmt.Sprintf("log barriers: %d passed, %d timed out", passed, timedOut))
	}
	if err := os.RemoveAll(t.root); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
