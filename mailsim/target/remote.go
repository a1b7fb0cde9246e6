package target

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/dovecot"
	"github.com/maildrill/maildrill/mailsim/ingest"
	"github.com/maildrill/maildrill/mailsim/remote"
)

// RemoteSpec is what the remote target needs besides Spec: the user's
// own server, what --allow-target allows, and the warm-up.
type RemoteSpec struct {
	File  *remote.File
	Allow *remote.Allow
	// Resolve looks endpoint names up (nil: the system's resolver).
	Resolve remote.Resolver
	// Seed: APPEND a slice of the organisation's mail into the test
	// accounts before the run (each message with remote.RunHeader: the
	// run id) and remove exactly those messages at Close.
	Seed bool
	// SeedPerFolder bounds the messages seeded per folder (default 20).
	SeedPerFolder int
	// Ingest, when set, receives the ingester's statistics at Close
	// (lines, events, lines not understood with samples).
	Ingest func(ingest.Stats)
}

// barrierPrefix starts the user name of a log barrier's login attempt.
const barrierPrefix = "maildrill-barrier-"

// remoteTarget is the user's own staging server: nothing is started.
// Its endpoints and test accounts come from the remote file; its audit
// trail from the server's own log (syslog or a followed file, through
// mailsim/ingest and the Dovecot/Postfix parser).
//
// Every endpoint was checked against --allow-target before anything was
// sent (remote.Allow.Check), and the run dials the addresses that check
// resolved, never a name again.
//
// Clock: with a virtual clock, before the clock moves on by more than
// barrierGap SyncClock waits for a log barrier — an IMAP LOGIN as
// maildrill-barrier-<run id>-<n>, sent and hung up on before the answer
// (so no authentication delay applies), which Dovecot logs on the
// disconnection; marker lines are consumed before the parser and never
// become events. With a scaled or real clock, events are stamped on
// arrival.
type remoteTarget struct {
	base
	f         *remote.File
	spec      RemoteSpec
	runID     string
	imapAddr  string // the resolved IMAP address
	conn      *remote.Conn
	in        *ingest.Ingester
	note      func(string)
	sync      func(context.Context, time.Time) error
	seeded    bool
	marker    atomic.Uint64 // highest barrier number seen in the log
	imapMarks atomic.Bool   // barriers by IMAP LOGIN (submission logs no refusal)
	seq       atomic.Uint64
	passed    atomic.Uint64
	timeouts  atomic.Uint64
	noLogs    bool
	pubMu     sync.Mutex
	pubErr    error
	once      sync.Once
	closeErr  error
	ep        remoteEndpoints
}

// remoteEndpoints are the resolved endpoints with their TLS modes.
type remoteEndpoints struct {
	imap, submission string
	imapTLS, subTLS  string
	host             string
}

// RemoteAccounts are the remote file's test accounts as a run sees them.
func RemoteAccounts(f *remote.File) []account.Account {
	out := make([]account.Account, 0, len(f.Accounts))
	for _, a := range f.Accounts {
		out = append(out, account.Account{Address: a.Address, Password: a.Password, Name: a.Name, Department: a.Department,
			Role: a.Role, Kind: a.Kind, Delegates: a.Delegates})
	}
	return out
}

func startRemote(ctx context.Context, spec Spec) (_ *remoteTarget, err error) {
	rs := spec.Remote
	if rs == nil || rs.File == nil {
		return nil, errors.New("the remote target needs a remote file (--remote FILE)")
	}
	f := rs.File
	// The safety rule, before anything is sent.
	checked, err := rs.Allow.Check(ctx, f, rs.Resolve)
	if err != nil {
		return nil, err
	}
	t := &remoteTarget{f: f, spec: *rs, runID: spec.RunID, note: spec.Note, base: base{
		name: "remote", accounts: RemoteAccounts(f), domain: f.Domain,
		bus: audit.NewBus(spec.Clock, audit.BusOptions{RunID: spec.RunID, Retain: -1}),
	}}
	for _, r := range checked {
		switch r.Key {
		case "imap":
			t.ep.imap, t.ep.imapTLS, t.ep.host = r.Dial(), r.TLS, r.Host()
		case "submission":
			t.ep.submission, t.ep.subTLS = r.Dial(), r.TLS
		}
	}
	t.imapAddr = t.ep.imap
	t.base.ep = Endpoints{IMAP: t.ep.imap, IMAPS: t.ep.imap, Submission: t.ep.submission,
		IMAPTLS: t.ep.imapTLS, SubmissionTLS: t.ep.subTLS}
	t.base.tls = f.ClientTLS(t.ep.host)
	if t.conn, err = remote.NewConn(f, checked); err != nil {
		t.bus.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	spec.Note("remote target " + f.Describe())

	clk := spec.Clock
	_, virtual := clk.(*clock.Virtual)
	if f.Logs == nil {
		t.noLogs = true
		spec.Note("WARNING: the remote file has no logs: section: the server's telemetry does not reach maildrill, so no verdict can come from it (only outside alerts can judge)")
	} else {
		var stamp atomic.Int64
		stamp.Store(clk.Now().UnixNano())
		stampFn := func(time.Time) time.Time { return clk.Now() }
		if virtual {
			stampFn = func(time.Time) time.Time { return time.Unix(0, stamp.Load()).In(clk.Now().Location()) }
		}
		cfg := ingest.Config{Syslog: f.Logs.Syslog, File: f.Logs.File,
			Parser: dovecot.Options{Stamp: stampFn, Domain: f.Domain},
			Marker: t.isMarker}
		t.in, err = ingest.Start(context.WithoutCancel(ctx), cfg, func(e *audit.Event) {
			if _, err := t.bus.Publish(*e); err != nil {
				t.pubMu.Lock()
				t.pubErr = errors.Join(t.pubErr, err)
				t.pubMu.Unlock()
			}
		})
		if err != nil {
			return nil, fmt.Errorf("%s:%d: logs: %w", f.Path, f.Logs.Line, err)
		}
		if tcp, udp := t.in.Addr(); tcp != nil || udp != nil {
			spec.Note(fmt.Sprintf("receiving the server's syslog on %s", f.Logs.Syslog))
		} else {
			spec.Note("following the server's log " + f.Logs.File)
		}
		if virtual {
			// The first barrier proves the log reaches maildrill at all,
			// and finds how to leave a marker in it.
			err := t.barrier(ctx, 15*time.Second)
			if err != nil && ctx.Err() == nil {
				spec.Note(fmt.Sprintf("log barrier on submission: %v; trying IMAP (each barrier then waits for the server's failed-login delay)", err))
				t.imapMarks.Store(true)
				err = t.barrier(ctx, 30*time.Second)
			}
			if err != nil {
				return nil, fmt.Errorf("the server's log does not reach maildrill (%s:%d logs:): a test login as %s… was sent to %s but its log line never arrived within 30 s: check the forwarding (docs/remote.md), or run on a scaled clock (--speed): %w",
					f.Path, f.Logs.Line, barrierPrefix, t.imapAddr, err)
			}
			t.sync = forwardOnly(clk.Now(), func(ctx context.Context, last, now time.Time) error {
				if now.Sub(last) > barrierGap {
					if err := t.barrier(ctx, 5*time.Second); err != nil && ctx.Err() == nil {
						spec.Note(fmt.Sprintf("warning: %v (events may be stamped late)", err))
					}
				}
				stamp.Store(now.UnixNano())
				return ctx.Err()
			})
		}
	}
	// From here on every message the run puts on the server carries the
	// run header, and Close removes them: the seeded ones and those the
	// run sends or appends.
	t.seeded = true
	spec.Note(fmt.Sprintf("every message this run puts on the server carries %s: %s (after a killed run: maildrill cleanup --remote %s --run-id %s)",
		remote.RunHeader, t.runID, f.Path, t.runID))
	if rs.Seed {
		if err := t.seed(ctx, spec); err != nil {
			return nil, fmt.Errorf("--seed-mailboxes: %w", err)
		}
	}
	return t, nil
}

// isMarker consumes the log lines of this run's barriers.
func (t *remoteTarget) isMarker(line string) bool {
	p := barrierPrefix + t.runID + "-"
	i := strings.Index(line, p)
	if i < 0 {
		return false
	}
	s := line[i+len(p):]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if n, err := strconv.ParseUint(s[:j], 10, 64); err == nil {
		for {
			cur := t.marker.Load()
			if n <= cur || t.marker.CompareAndSwap(cur, n) {
				break
			}
		}
	}
	return true
}

// barrier waits until the server's log has caught up with everything
// done before the call.
func (t *remoteTarget) barrier(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n := t.seq.Add(1)
	if err := t.mark(ctx, n); err != nil {
		t.timeouts.Add(1)
		return err
	}
	for wait := 200 * time.Microsecond; ; wait = min(wait*2, 5*time.Millisecond) {
		if t.marker.Load() >= n {
			t.passed.Add(1)
			return nil
		}
		select {
		case <-ctx.Done():
			t.timeouts.Add(1)
			return fmt.Errorf("remote: log barrier %d: %w", n, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// mark leaves a marker in the server's log: by default on submission,
// MAIL FROM and RCPT TO an address named after the barrier, without
// authentication — every submission service refuses to relay for an
// unauthenticated client and Postfix logs the refusal at once ("NOQUEUE:
// reject: RCPT from ... from=<maildrill-barrier-...>"), and nothing is
// queued. When the server does not log that refusal (t.imapMarks, found
// by the first barrier), an IMAP LOGIN as the barrier's name, hung up on
// before the answer: Dovecot logs it once its failed-authentication delay
// (2 s by default) has passed.
func (t *remoteTarget) mark(ctx context.Context, n uint64) error {
	name := fmt.Sprintf("%s%s-%d", barrierPrefix, t.runID, n)
	if t.imapMarks.Load() {
		return t.markIMAP(ctx, name)
	}
	return t.markSMTP(ctx, name)
}

func (t *remoteTarget) markSMTP(ctx context.Context, name string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.ep.submission)
	if err != nil {
		return fmt.Errorf("remote: log barrier: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var c net.Conn = conn
	if t.ep.subTLS == remote.TLSImplicit {
		c = tls.Client(conn, t.tls)
	}
	br := bufio.NewReader(c)
	reply := func() (string, error) {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return "", err
			}
			if len(l) < 4 || l[3] != '-' {
				return l, nil
			}
		}
	}
	cmd := func(format string, args ...any) (string, error) {
		if _, err := fmt.Fprintf(c, format+"\r\n", args...); err != nil {
			return "", err
		}
		return reply()
	}
	if _, err := reply(); err != nil {
		return fmt.Errorf("remote: log barrier: no greeting: %w", err)
	}
	if _, err := cmd("EHLO %s", name); err != nil {
		return fmt.Errorf("remote: log barrier: %w", err)
	}
	if t.ep.subTLS == remote.TLSStartTLS {
		if r, err := cmd("STARTTLS"); err != nil || !strings.HasPrefix(r, "220") {
			return fmt.Errorf("remote: log barrier: STARTTLS: %q %v", r, err)
		}
		c = tls.Client(conn, t.tls)
		br = bufio.NewReader(c)
		if _, err := cmd("EHLO %s", name); err != nil {
			return fmt.Errorf("remote: log barrier: %w", err)
		}
	}
	if _, err := cmd("MAIL FROM:<%s@invalid>", name); err != nil {
		return fmt.Errorf("remote: log barrier: %w", err)
	}
	r, err := cmd("RCPT TO:<%s@invalid>", name)
	if err != nil {
		return fmt.Errorf("remote: log barrier: %w", err)
	}
	if strings.HasPrefix(r, "2") {
		cmd("RSET")
		cmd("QUIT")
		return fmt.Errorf("remote: log barrier: the submission service accepted an unauthenticated recipient (%q): an open relay logs no refusal", strings.TrimSpace(r))
	}
	cmd("QUIT")
	return nil
}

func (t *remoteTarget) markIMAP(ctx context.Context, name string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.imapAddr)
	if err != nil {
		return fmt.Errorf("remote: log barrier: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var c net.Conn = conn
	br := bufio.NewReader(c)
	switch t.ep.imapTLS {
	case remote.TLSImplicit:
		tc := tls.Client(conn, t.tls)
		c, br = tc, bufio.NewReader(tc)
		if _, err := br.ReadString('\n'); err != nil {
			return fmt.Errorf("remote: log barrier: no greeting: %w", err)
		}
	case remote.TLSStartTLS:
		if _, err := br.ReadString('\n'); err != nil {
			return fmt.Errorf("remote: log barrier: no greeting: %w", err)
		}
		fmt.Fprintf(conn, "s STARTTLS\r\n")
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return fmt.Errorf("remote: log barrier: STARTTLS: %w", err)
			}
			if strings.HasPrefix(l, "s ") {
				break
			}
		}
		tc := tls.Client(conn, t.tls)
		c = tc
	default:
		if _, err := br.ReadString('\n'); err != nil {
			return fmt.Errorf("remote: log barrier: no greeting: %w", err)
		}
	}
	// A login attempt with no chance; hung up on at once, so the
	// server's delay after a failed authentication costs nothing.
	if _, err := fmt.Fprintf(c, "b LOGIN %s x\r\n", name); err != nil {
		return fmt.Errorf("remote: log barrier: %w", err)
	}
	return nil
}

// seed APPENDs the organisation's mail into the test accounts.
func (t *remoteTarget) seed(ctx context.Context, spec Spec) error {
	per := t.spec.SeedPerFolder
	if per <= 0 {
		per = 20
	}
	msgs, err := seedMessages(ctx, spec, t.f, per)
	if err != nil {
		return err
	}
	added, skipped, err := t.conn.Seed(ctx, t.runID, msgs)
	t.note(fmt.Sprintf("seeded %d messages into %d test accounts (%s: %s; %d for folders the accounts do not have were left out)",
		added, len(msgs), remote.RunHeader, t.runID, skipped))
	return err
}

// Endpoints: IMAP and IMAPS are the one IMAP endpoint (its TLS mode in
// IMAPTLS).
func (t *remoteTarget) Proxy() bool { return false }

// Serves: the resolved endpoints.
func (t *remoteTarget) Serves(addr string) bool {
	return addr != "" && (addr == t.ep.imap || addr == t.ep.submission)
}

func (t *remoteTarget) SyncClock(ctx context.Context, now time.Time) error {
	if t.sync == nil {
		return nil
	}
	return t.sync(ctx, now)
}

// SessionEnds: the server's log names clients by address, and every
// connection of the run comes from this machine.
func (*remoteTarget) SessionEnds() bool { return false }

// NoTelemetry tells that no log reaches maildrill (no logs: section).
func (t *remoteTarget) NoTelemetry() bool { return t.noLogs }

// Close waits for the log to catch up, removes the seeded messages (on
// a fresh context: also after a stop or Ctrl-C), stops the ingester and
// reports what it could not read.
func (t *remoteTarget) Close() error {
	t.once.Do(func() { t.closeErr = t.close() })
	return t.closeErr
}

func (t *remoteTarget) close() error {
	var errs []error
	if t.in != nil && t.sync != nil {
		if err := t.barrier(context.Background(), 10*time.Second); err != nil {
			t.note(fmt.Sprintf("warning: %v: the last events may be missing", err))
		}
	}
	if t.seeded {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		counts, err := t.conn.Cleanup(ctx, t.runID)
		cancel()
		n := 0
		for _, c := range counts {
			n += c.Removed
		}
		t.note(fmt.Sprintf("removed %d messages marked %s: %s from the test accounts", n, remote.RunHeader, t.runID))
		if err != nil {
			errs = append(errs, fmt.Errorf("cleanup (run maildrill cleanup --remote %s --run-id %s): %w", t.f.Path, t.runID, err))
		}
	}
	if t.in != nil {
		errs = append(errs, t.in.Close())
		st := t.in.Stats()
		var b strings.Builder
		st.Summary(&b)
		for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			t.note(l)
		}
		t.note(fmt.Sprintf("log barriers: %d passed, %d timed out", t.passed.Load(), t.timeouts.Load()))
		if t.spec.Ingest != nil {
			t.spec.Ingest(st)
		}
	}
	t.bus.Close()
	t.pubMu.Lock()
	errs = append(errs, t.pubErr)
	t.pubMu.Unlock()
	return errors.Join(errs...)
}
