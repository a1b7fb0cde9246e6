package target

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/imapd"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
	"github.com/maildrill/maildrill/mailsim/remote"
	"github.com/maildrill/maildrill/mailsim/store"
)

// TestEmbeddedServesTheOrg starts the embedded target and checks what it
// hands out: the organisation NewOrg describes, its own listeners (and
// nothing else) as served, and a trail that shows a login over real TCP
// and TLS at the address the PROXY header announced, stamped on the
// run's clock.
func TestEmbeddedServesTheOrg(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clk := clock.NewVirtual(start)
	var notes []string
	tg, err := Start(ctx, Spec{Seed: 7, Users: 8, Messages: 10, Clock: clk, Start: start,
		RunID: "md-target-test", CertDir: t.TempDir(), Note: func(s string) { notes = append(notes, s) }})
	require.NoError(t, err)
	defer tg.Close()

	org, err := NewOrg(7, 8, 10)
	require.NoError(t, err)
	assert.Equal(t, "embedded", tg.Name())
	assert.Equal(t, org.Accounts(), tg.Accounts())
	assert.Equal(t, org.Domain(), tg.Domain())
	assert.True(t, tg.Proxy())
	assert.True(t, tg.SessionEnds())
	assert.NoError(t, tg.SyncClock(ctx, start.Add(time.Hour)))
	ep := tg.Endpoints()
	for _, a := range []string{ep.IMAP, ep.IMAPS, ep.Submission} {
		assert.True(t, tg.Serves(a), a)
	}
	for _, a := range []string{"", "10.1.2.3:993", "mail.example.org:143"} {
		assert.False(t, tg.Serves(a), a)
	}

	acc := tg.Accounts()[0] // the director
	require.Equal(t, "person", acc.Kind)
	sub := tg.Events().Subscribe()
	defer sub.Close()
	clk.Set(start.Add(time.Minute))
	src := netip.MustParseAddrPort("192.0.2.7:40001")
	conn, err := net.Dial("tcp", ep.IMAPS)
	require.NoError(t, err)
	require.NoError(t, proxyproto.WriteV1(conn, src, netip.MustParseAddrPort("10.20.0.25:993")))
	tc := tls.Client(conn, tg.ClientTLS())
	defer tc.Close()
	r := bufio.NewReader(tc)
	greeting, err := r.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(greeting, "* OK"), greeting)
	reply := func(tag, cmd string) string {
		t.Helper()
		_, err := fmt.Fprintf(tc, "%s %s\r\n", tag, cmd)
		require.NoError(t, err)
		for {
			l, err := r.ReadString('\n')
			require.NoError(t, err)
			if strings.HasPrefix(l, tag+" ") {
				return l
			}
		}
	}
	require.Contains(t, reply("a1", fmt.Sprintf("LOGIN %q %q", acc.Address, acc.Password)), "a1 OK")
	reply("a2", "LOGOUT")

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		e, err := sub.Next(wctx)
		require.NoError(t, err, "no imap.login event")
		if e.Action != audit.IMAPLogin {
			continue
		}
		assert.Equal(t, audit.Success, e.Outcome)
		assert.Equal(t, src.Addr().String(), e.SourceIP)
		assert.Equal(t, acc.Address, e.UserName)
		assert.Equal(t, "md-target-test", e.RunID)
		assert.True(t, e.Timestamp.Equal(start.Add(time.Minute)), "stamped %s, want the run's clock %s", e.Timestamp, start.Add(time.Minute))
		break
	}
	require.NoError(t, tg.Close())
	// The session's end was published before the bus closed.
	var ended bool
	for {
		e, err := sub.Next(ctx)
		if err != nil {
			assert.ErrorIs(t, err, audit.ErrClosed)
			break
		}
		ended = ended || e.Action == audit.IMAPLogout && e.SourceIP == src.Addr().String()
	}
	assert.True(t, ended, "no imap.logout from %s before the trail closed", src.Addr())
	assert.Empty(t, notes, "the embedded target starts without notes")
}

// The embedded target keeps no audit event its reader has read (a run
// reads them all as they come), and sizes its parsed-message cache for the
// clients the run announces.
func TestEmbeddedKeepsLittle(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, clients := range []int{1, 200} {
		tg, err := Start(context.Background(), Spec{Seed: 7, Users: 4, Messages: 10, Clock: clock.NewVirtual(start), Start: start,
			CertDir: t.TempDir(), Clients: clients})
		require.NoError(t, err)
		srv := tg.(*embedded).srv
		_, _, limit := srv.Store.CacheStats()
		assert.Equal(t, mailsim.MessageCacheFor(clients), limit)

		sub := tg.Events().Subscribe()
		for i := range 5000 {
			_, err := srv.Bus.Publish(audit.Event{Action: audit.IMAPFetch, SourceIP: fmt.Sprint("192.0.2.", i%200)})
			require.NoError(t, err)
			_, err = sub.Next(context.Background())
			require.NoError(t, err)
		}
		n, _ := srv.Bus.Retained()
		assert.Less(t, n, 1100, "read events are dropped (in batches of about 1,024)")

		// Mail added during the run is kept on disk, until the end.
		added := tg.(*embedded).added
		big := "Subject: fwd\r\n\r\n" + strings.Repeat("x", store.SpillMinBytes) + "\r\n"
		_, err = srv.Store.Deliver(tg.Accounts()[0].Address, []byte(big))
		require.NoError(t, err)
		files, err := os.ReadDir(added)
		require.NoError(t, err)
		assert.Len(t, files, 1)
		require.NoError(t, tg.Close())
		_, err = os.Stat(added)
		assert.True(t, os.IsNotExist(err), "removed by Close")
	}
	assert.Less(t, mailsim.MessageCacheFor(1), mailsim.MessageCacheFor(200))
}

// The run's clients resume TLS sessions: the second connection does not
// pay a full handshake, nor a key exchange.
func TestEmbeddedClientsResumeTLS(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tg, err := Start(context.Background(), Spec{Seed: 7, Users: 4, Messages: 10, Clock: clock.NewVirtual(start), Start: start, CertDir: t.TempDir()})
	require.NoError(t, err)
	defer tg.Close()
	var resumed []bool
	var versions []uint16
	for i := range 2 {
		conn, err := net.Dial("tcp", tg.Endpoints().IMAPS)
		require.NoError(t, err)
		require.NoError(t, proxyproto.WriteV1(conn, netip.MustParseAddrPort(fmt.Sprintf("192.0.2.7:%d", 40001+i)), netip.MustParseAddrPort("10.20.0.25:993")))
		tc := tls.Client(conn, tg.ClientTLS())
		_, err = bufio.NewReader(tc).ReadString('\n')
		require.NoError(t, err)
		st := tc.ConnectionState()
		resumed = append(resumed, st.DidResume)
		versions = append(versions, st.Version)
		tc.Close()
	}
	assert.Equal(t, []bool{false, true}, resumed)
	// TLS 1.2: a ticket resumes without a key exchange (1.3 makes a new one).
	assert.Equal(t, []uint16{tls.VersionTLS12, tls.VersionTLS12}, versions)
}

func TestStartRefuses(t *testing.T) {
	clk := clock.NewVirtual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	for _, c := range []struct {
		spec Spec
		want string
	}{
		{Spec{Kind: "mainframe", Clock: clk}, `unknown target "mainframe"`},
		{Spec{Kind: "remote", Clock: clk}, "the remote target needs a remote file"},
		{Spec{Kind: "embedded"}, "Clock is nil"},
		{Spec{Kind: "dovecot", DovecotProfile: "verbose", Clock: clk}, `dovecot profile "verbose": want stock or enhanced`},
		{Spec{Kind: "embedded", Users: 1, Clock: clk, CertDir: t.TempDir()}, "users = 1"},
	} {
		tg, err := Start(context.Background(), c.spec)
		if tg != nil {
			tg.Close()
		}
		require.Error(t, err, c.want)
		assert.Contains(t, err.Error(), c.want)
	}
}

// TestForwardOnly: the target's clock is moved one call at a time, only
// forwards, and each move knows where the last one left it.
func TestForwardOnly(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	type move struct{ last, now time.Time }
	var moves []move
	fail := errors.New("admin API down")
	sync := forwardOnly(t0, func(_ context.Context, last, now time.Time) error {
		moves = append(moves, move{last, now})
		if now.Equal(t0.Add(3 * time.Second)) {
			return fail
		}
		return nil
	})
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	require.NoError(t, sync(ctx, t0))
	require.NoError(t, sync(ctx, at(time.Second)))
	require.NoError(t, sync(ctx, at(500*time.Millisecond))) // out of order: ignored
	require.NoError(t, sync(ctx, at(time.Second)))          // no change: ignored
	require.NoError(t, sync(ctx, at(2*time.Second)))
	require.ErrorIs(t, sync(ctx, at(3*time.Second)), fail)
	require.NoError(t, sync(ctx, at(4*time.Second)))
	assert.Equal(t, []move{
		{t0, at(time.Second)}, {at(time.Second), at(2 * time.Second)},
		{at(2 * time.Second), at(3 * time.Second)}, {at(3 * time.Second), at(4 * time.Second)},
	}, moves)
}

func TestOrg(t *testing.T) {
	org, err := NewOrg(3, 8, 10)
	require.NoError(t, err)
	accs := org.Accounts()
	require.NotEmpty(t, accs)
	assert.Equal(t, "director", accs[0].Role)
	people := 0
	for i, a := range accs {
		assert.True(t, strings.HasSuffix(a.Address, "@"+org.Domain()), a.Address)
		if a.Kind == "person" {
			people++
			assert.Equal(t, i+1, people, "people come before shared mailboxes")
		}
		assert.Contains(t, org.Folders(a.Address), "INBOX", a.Address)
	}
	assert.Equal(t, 8, people)
	assert.Nil(t, org.Folders("nobody@"+org.Domain()))

	again, err := NewOrg(3, 8, 10)
	require.NoError(t, err)
	assert.Equal(t, accs, again.Accounts(), "the same seed, the same organisation")

	_, err = NewOrg(3, 1, 10)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "need at least 2")

	types := AttachmentTypes()
	assert.True(t, slices.IsSorted(types), "%v", types)
	assert.Contains(t, types, "pdf")
	pw := CommonPasswords()
	require.NotEmpty(t, pw)
	first := pw[0]
	pw[0] = "changed"
	assert.Equal(t, first, CommonPasswords()[0], "callers get a copy")
}

// TestRemoteRefusesUncovered: the remote target checks every endpoint
// against the allow list before it sends anything.
func TestRemoteRefusesUncovered(t *testing.T) {
	clk := clock.NewVirtual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	f, err := remote.Parse("r.yaml", []byte("domain: example.test\nimap: {address: '192.0.2.1:993', tls: implicit}\nsubmission: {address: '192.0.2.1:587', tls: starttls}\naccounts: [{address: a@example.test, password: p}]\n"))
	require.NoError(t, err)
	allow, err := remote.ParseAllow([]string{"198.51.100.0/24"})
	require.NoError(t, err)
	tg, err := Start(context.Background(), Spec{Kind: "remote", Clock: clk, Remote: &RemoteSpec{File: f, Allow: allow}})
	require.Error(t, err)
	assert.Nil(t, tg)
	var ue *remote.UncoveredError
	require.ErrorAs(t, err, &ue)
	assert.Len(t, ue.Missing, 2)
}

// The embedded target seats a large organisation's own actors: with more
// actors than half the default session limit it takes two sessions per
// actor; otherwise the defaults hold (and refuse the one past them).
func TestEmbeddedSeatsTheRunsActors(t *testing.T) {
	assert.Equal(t, mailsim.Limits{}, sessionLimits(0))
	assert.Equal(t, mailsim.Limits{}, sessionLimits(imapd.DefaultMaxSessions/2), "the defaults are enough")
	assert.Equal(t, mailsim.Limits{IMAPSessions: 4400, SubmissionSessions: 4400}, sessionLimits(2200))

	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	greetingPast := func(actors int) string {
		t.Helper()
		tg, err := Start(context.Background(), Spec{Seed: 7, Users: 4, Messages: 5, Clock: clock.NewVirtual(start), Start: start,
			CertDir: t.TempDir(), Actors: actors})
		require.NoError(t, err)
		defer tg.Close()
		var last string
		for i := 0; i <= imapd.DefaultMaxSessions; i++ {
			conn, err := net.Dial("tcp", tg.Endpoints().IMAP)
			require.NoError(t, err)
			defer conn.Close()
			// A source of its own each, so that only the total counts.
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i)}), 40000)
			require.NoError(t, proxyproto.WriteV1(conn, src, netip.MustParseAddrPort("10.20.0.25:143")))
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
			last, err = bufio.NewReader(conn).ReadString('\n')
			require.NoError(t, err, "connection %d", i+1)
			if i < imapd.DefaultMaxSessions {
				require.True(t, strings.HasPrefix(last, "* OK"), "connection %d: %q", i+1, last)
			}
		}
		return last
	}
	assert.True(t, strings.HasPrefix(greetingPast(0), "* BYE [LIMIT]"), "the default refuses the connection past it")
	assert.True(t, strings.HasPrefix(greetingPast(imapd.DefaultMaxSessions/2+1), "* OK"), "two seats per actor")
}

// The docker target asks its container for the same session caps as the
// embedded target takes (serve's --imap-max-sessions and
// --submission-max-sessions; TestContainerSessionLimits shows the
// container keeps them), and for serve's defaults when those seat the run.
func TestDockerSeatsTheRunsActors(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	spec := Spec{Seed: 7, Users: 2000, Messages: 5, Clock: clock.NewVirtual(start), Start: start, RunID: "md-x", Actors: 2200}
	o := dockerOptions(spec, "maildrill/mailsim:test")
	assert.Equal(t, 4400, o.MaxIMAPSessions)
	assert.Equal(t, 4400, o.MaxSubmissionSessions)
	assert.Equal(t, "maildrill/mailsim:test", o.Image)
	assert.True(t, o.ProxyProtocol)
	assert.True(t, o.Start.Equal(start))
	assert.Equal(t, 2000, o.Users)

	spec.Actors = 26
	o = dockerOptions(spec, "maildrill/mailsim:test")
	assert.Zero(t, o.MaxIMAPSessions, "serve's defaults")
	assert.Zero(t, o.MaxSubmissionSessions)
}
