package target

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/container"
)

// docker is mailsim in a container (mailsim/container). The container's
// clock is virtual whatever the run's clock: SyncClock sets it before
// each action, so events carry scenario time in every mode. Its audit
// trail, streamed from the admin API, is republished on a local bus with
// the same run id. The container's admin.* events (the clock moves
// before every action) are not the scenario's and are left out, so the
// trail matches the embedded target's; ids and sequences are the local
// bus's.
type docker struct {
	base
	m        *container.Mailsim
	sync     func(context.Context, time.Time) error
	received atomic.Uint64 // events read from the container's stream
	cancel   context.CancelFunc
	done     chan error // the stream's end
	once     sync.Once
	closeErr error
}

func startDocker(ctx context.Context, spec Spec) (*docker, error) {
	spec.Note("building or finding the mailsim image (a static go build, then docker build FROM scratch on a change; the first build takes a minute or two)")
	img, err := container.BuildImage(ctx, container.BuildOptions{})
	if err != nil {
		return nil, err
	}
	how := "built"
	if img.Cached {
		how = "cached"
	}
	t0 := time.Now()
	m, err := container.Start(ctx, dockerOptions(spec, img.Tag))
	if err != nil {
		return nil, err
	}
	spec.Note(fmt.Sprintf("image %s (%s in %.1f s); container ready in %.1f s", img.Tag, how, img.Took.Seconds(), time.Since(t0).Seconds()))
	t := &docker{m: m, done: make(chan error, 1), base: base{
		name: "docker", ep: Endpoints{IMAP: m.IMAPAddr, IMAPS: m.IMAPSAddr, Submission: m.SubmissionAddr},
		tls: m.TLSConfig("localhost"), accounts: m.Accounts, domain: m.Domain,
		bus: audit.NewBus(spec.Clock, audit.BusOptions{RunID: spec.RunID, Retain: -1}),
	}}
	t.sync = forwardOnly(time.Time{}, func(ctx context.Context, _, now time.Time) error { return m.SetClock(ctx, now) })
	var streamCtx context.Context
	streamCtx, t.cancel = context.WithCancel(context.Background())
	go func() {
		t.done <- m.Stream(streamCtx, 1, func(e audit.Event) error {
			if e.ServiceType == "admin" {
				t.received.Add(1) // read, not republished
				return nil
			}
			e.ID, e.Sequence = "", 0
			if _, err := t.bus.Publish(e); err != nil {
				return err
			}
			t.received.Add(1)
			return nil
		})
	}()
	return t, nil
}

// dockerOptions are the container's for spec: the run's organisation,
// clock and throttling, PROXY headers from the runner, and session caps
// that seat the run's actors as the embedded target's do.
func dockerOptions(spec Spec, image string) container.Options {
	l := sessionLimits(spec.Actors)
	return container.Options{
		Image: image, Seed: spec.Seed, Users: spec.Users, Messages: spec.Messages, AllowPlaintext: spec.AllowPlaintext,
		RunID: spec.RunID, ProxyProtocol: true, Start: spec.Clock.Now(), Throttle: spec.Throttle,
		MaxIMAPSessions: l.IMAPSessions, MaxSubmissionSessions: l.SubmissionSessions,
	}
}

func (t *docker) SyncClock(ctx context.Context, now time.Time) error { return t.sync(ctx, now) }
func (*docker) SessionEnds() bool                                    { return true }

// Close lets the stream catch up with what the container published, then
// stops it, the bus and the container.
func (t *docker) Close() error {
	t.once.Do(func() { t.closeErr = t.close() })
	return t.closeErr
}

func (t *docker) close() error {
	ctx, c := context.WithTimeout(context.Background(), 5*time.Second)
	defer c()
	var errs []error
	if n, err := t.m.Published(ctx); err == nil {
		for t.received.Load() < n && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.cancel()
	if err := <-t.done; err != nil && !errors.Is(err, audit.ErrClosed) && !errors.Is(err, context.Canceled) {
		errs = append(errs, err)
	}
	t.bus.Close()
	errs = append(errs, t.m.Close())
	return errors.Join(errs...)
}
