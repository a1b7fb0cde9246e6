package run

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/internal/tlsio"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
	"github.com/maildrill/maildrill/mailsim/target"
	"github.com/maildrill/maildrill/scenarios"
)

// StepError says which scenario, actor and step failed.
type StepError struct {
	Scenario string
	Actor    string
	Step     string
	Index    int
	Line     int
	Err      error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("scenario %s, actor %s, step %d %q (line %d): %v", e.Scenario, e.Actor, e.Index+1, e.Step, e.Line, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// errBudget ends an actor whose budget is spent.
var errBudget = errors.New("budget spent")

type cred struct{ user, pass string }

type attachment struct {
	name string
	mime string
	data []byte
	// blob, when data is nil, names the content in the runner's blobs.
	blob string
	size int64
}

// load returns att with its data, read back from the runner's blobs when
// it was put there.
func (ar *actorRun) load(att attachment) (attachment, error) {
	if att.data != nil || att.blob == "" {
		return att, nil
	}
	b, err := ar.r.blobs.get(att.blob)
	if err != nil {
		return att, fmt.Errorf("reading back a downloaded file: %w", err)
	}
	att.data = b
	return att, nil
}

// actorRun is one actor (or one staff member) replaying.
type actorRun struct {
	r      *runner
	a      *scenarios.Actor
	member *staffMember
	name   string
	order  int
	rng    *rand.Rand
	now    time.Time
	src    netip.Addr
	port   int

	ic       *imapclient.Client
	icSrc    string
	icUsed   time.Time // wall time of the session's last use
	user     string
	pass     string
	selected string
	readOnly bool

	found     []cred
	search    map[string][]imap.UID
	lastRead  []imap.UID
	downloads []attachment
	dlBytes   int64
	// keepDownloads says what of the downloads later steps can use.
	keepDownloads int

	bytes    int64
	messages int
	step     *scenarios.Step

	// Side by side (side.go): the time of the action the actor is
	// taking, read by the mail system's goroutines; and the mailboxes
	// its next action touches beside its own (nil: its own only, for a
	// staff member; everything for anyone else).
	sliceAt   atomic.Pointer[time.Time]
	touchNext []string
}

func (r *runner) newActorRun(a *scenarios.Actor, m *staffMember, order int) *actorRun {
	name := a.ID
	if m != nil {
		name = a.ID + "/" + m.account.Address
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", r.sc.Env.Seed, name)
	seed := h.Sum64()
	ar := &actorRun{r: r, a: a, member: m, name: name, order: order, rng: rand.New(rand.NewPCG(seed, seed>>7|1)),
		now: r.sc.Env.Start, search: map[string][]imap.UID{}}
	ar.src = pickAddr(a.Source, ar.rng)
	if m != nil {
		ar.src = m.src
	}
	ar.port = 40000 + (order*97)%20000
	switch {
	case m != nil:
		ar.keepDownloads = keepLast // a staff member forwards the last file opened
	case attachesDownloads(a.Steps):
		ar.keepDownloads = keepAll
	}
	return ar
}

// How much of what an actor downloads it keeps for later steps.
const (
	keepNone = iota // no later step sends it
	keepLast        // only the last file
	keepAll         // all, within maxKeptDownloads (a send with attach: downloaded)
)

// attachesDownloads tells whether a send step among steps (nested ones
// included) attaches what was downloaded.
func attachesDownloads(steps []*scenarios.Step) bool {
	for _, st := range steps {
		if st.Params().Attach || attachesDownloads(st.Params().Steps) {
			return true
		}
	}
	return false
}

// pickAddr picks a deterministic host address within the prefixes.
func pickAddr(ps []netip.Prefix, rng *rand.Rand) netip.Addr {
	p := ps[rng.IntN(len(ps))]
	if p.IsSingleIP() {
		return p.Addr()
	}
	a := p.Addr().As16()
	hostBits := p.Addr().BitLen() - p.Bits()
	if hostBits > 16 {
		hostBits = 16
	}
	n := 1 + rng.IntN(1<<hostBits-2)
	a[15] |= byte(n)
	a[14] |= byte(n >> 8)
	out := netip.AddrFrom16(a)
	if p.Addr().Is4() {
		out = out.Unmap()
	}
	return out
}

func (ar *actorRun) deadline() time.Time {
	return ar.r.sc.Env.Start.Add(ar.r.sc.Env.Duration)
}

// tick advances the actor's time by d (the pacing delay when d < 0, with
// jitter) and waits for its turn.
func (ar *actorRun) tick(ctx context.Context, d time.Duration) error {
	return ar.waitUntil(ctx, ar.now.Add(ar.paced(d)))
}

// sliceTime is the time of the action the actor is taking, side by side
// (before its first wait: the scenario's start).
func (ar *actorRun) sliceTime() time.Time {
	if at := ar.sliceAt.Load(); at != nil {
		return *at
	}
	return ar.r.sc.Env.Start
}

// paced is the wait d (the pacing delay when d < 0) with the pacing's
// jitter.
func (ar *actorRun) paced(d time.Duration) time.Duration {
	if d < 0 {
		d = ar.a.Pacing.Delay
	}
	if j := ar.a.Pacing.Jitter; j > 0 && d > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*ar.rng.Float64()-1)))
	}
	return d
}

func (ar *actorRun) waitUntil(ctx context.Context, t time.Time) error {
	if t.After(ar.now) {
		ar.now = t
	}
	if ar.now.After(ar.deadline()) {
		return errStopped
	}
	if b := ar.a.Budget.Until; b > 0 && ar.now.After(ar.r.sc.Env.Start.Add(b)) {
		return errBudget
	}
	var touch []string
	if ar.r.side != nil {
		touch = everything
		if ar.member != nil && (len(ar.touchNext) == 0 || ar.touchNext[0] != "*") {
			touch = append([]string{ar.member.account.Address}, ar.touchNext...)
		}
	}
	ar.touchNext = nil
	if err := ar.r.sched.waitUntil(ctx, ar.order, ar.now, touch); err != nil {
		return err
	}
	if ar.r.side != nil {
		at := ar.now
		ar.sliceAt.Store(&at)
	}
	ar.r.notePace(ar.name, ar.now)
	if err := ar.r.target.SyncClock(ctx, ar.r.clk.Now()); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("setting the target's clock: %w", err)
	}
	return ctx.Err()
}

func (ar *actorRun) record(action, outcome string, t scenarios.TruthRecord) {
	t.Time = ar.r.clk.Now()
	if ar.r.side != nil {
		// The clock is the earliest action's; this is the time of the
		// action the actor is taking (not ar.now, which a wait that
		// ends the actor, past the scenario's end, has moved on).
		t.Time = ar.sliceTime()
	}
	t.Actor = ar.name
	t.Role = ar.a.Kind
	if ar.step != nil {
		t.Step = ar.step.ID
		t.StepKind = ar.step.Kind
	}
	t.Action = action
	t.Outcome = outcome
	if t.User == "" {
		t.User = ar.user
	}
	t.SourceIP = ar.src.String()
	if ar.r.side != nil {
		ar.r.holdTruth(t, t.Time, ar.order)
		return
	}
	ar.r.record(t)
}

func (ar *actorRun) nextSrc() netip.AddrPort {
	ar.port++
	if ar.port > 65000 {
		ar.port = 40000
	}
	return netip.AddrPortFrom(ar.src, uint16(ar.port))
}

// dial opens a TCP connection to addr, announcing the actor's address.
func (ar *actorRun) dial(ctx context.Context, addr string) (net.Conn, string, error) {
	if err := ar.r.checkDial(addr); err != nil {
		return nil, "", err
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, "", err
	}
	src := ar.nextSrc()
	lane := laneKey(src.Addr().String(), int(src.Port()))
	key := lane
	if !ar.r.target.Proxy() {
		key = conn.LocalAddr().String()
	}
	ar.r.forgetEnded(key)
	if ar.r.side != nil {
		ar.r.side.register(lane, ar)
	}
	if ar.r.target.Proxy() {
		// The front's address and the service's standard port, as a load
		// balancer in front of the mail servers would announce them.
		dst := netip.AddrPortFrom(netip.MustParseAddr("10.20.0.25"), servicePort(ar.r.target.Endpoints(), addr))
		if err := proxyproto.WriteV1(conn, src, dst); err != nil {
			conn.Close()
			return nil, "", err
		}
	}
	// A target that cannot tell this connection's end in its trail
	// learns when it is closed.
	return ar.r.target.TrackConn(conn, key), key, nil
}

func servicePort(ep target.Endpoints, addr string) uint16 {
	switch addr {
	case ep.IMAP:
		return 143
	case ep.IMAPS:
		return 993
	case ep.Submission:
		return 587
	}
	return 0
}

// waitEnded waits (bounded) for the server to record the end of a session,
// so that its events keep their place in scenario time.
func (ar *actorRun) waitEnded(key string) {
	if !ar.r.target.SessionEnds() {
		return
	}
	select {
	case <-ar.r.sessionEnd(key):
	case <-time.After(10 * time.Second):
		ar.r.log.Warn("session end not seen", "actor", ar.name, "src", key)
	}
}

// clientID is the IMAP ID the actor sends; attackers carry the run id as
// the correlation marker.
func (ar *actorRun) clientID() *imap.IDData {
	name, version := ar.a.Client.Name, ar.a.Client.Version
	if ar.member != nil {
		name, version = ar.member.client.Name, ar.member.client.Version
	}
	if name == "" {
		return nil
	}
	id := &imap.IDData{Name: name, Version: version}
	if ar.a.Kind != "staff" {
		id.Environment = "maildrill-run=" + ar.r.runID
	}
	return id
}

// imapConnect connects and sends ID; it does not log in.
func (ar *actorRun) imapConnect(ctx context.Context) (*imapclient.Client, string, error) {
	t := ar.r.target
	ep := t.Endpoints()
	addr := ep.IMAP
	mode := ep.IMAPTLS // the remote target's; the others: by the actor's tls
	if mode == "" {
		mode = "none"
		if ar.a.TLS {
			addr, mode = ep.IMAPS, "implicit"
		}
	}
	conn, key, err := ar.dial(ctx, addr)
	if err != nil {
		return nil, "", err
	}
	var c *imapclient.Client
	switch mode {
	case "implicit":
		c = imapclient.New(tlsio.Client(conn, t.ClientTLS()), &imapclient.Options{})
	case "starttls":
		if c, err = imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: t.ClientTLS()}); err != nil {
			conn.Close()
			return nil, "", fmt.Errorf("IMAP STARTTLS: %w", err)
		}
	default:
		c = imapclient.New(conn, &imapclient.Options{})
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, "", fmt.Errorf("IMAP greeting: %w", err)
	}
	if id := ar.clientID(); id != nil {
		if _, err := c.ID(id).Wait(); err != nil {
			c.Close()
			return nil, "", fmt.Errorf("IMAP ID: %w", err)
		}
	}
	return c, key, nil
}

func (ar *actorRun) imapClose(c *imapclient.Client, key string) {
	_ = c.Logout().Wait()
	c.Close()
	ar.waitEnded(key)
}

// account resolves an address, local part or role to an account.
func (ar *actorRun) account(spec string) (account.Account, error) {
	if a, ok := scenarios.FindAccount(ar.r.target.Accounts(), spec); ok {
		return a, nil
	}
	return account.Account{}, fmt.Errorf("no account %q (give an address, a local part, or a role such as director, secretariat)", strings.ToLower(strings.TrimSpace(spec)))
}

// credentials returns who to log in as.
func (ar *actorRun) credentials(p *scenarios.Params) (cred, error) {
	if ar.member != nil {
		return cred{ar.member.account.Address, ar.member.account.Password}, nil
	}
	if p != nil && p.User != "" {
		acc, err := ar.account(p.User)
		if err != nil {
			return cred{}, err
		}
		pw := acc.Password
		if len(p.Passwords) > 0 {
			pw = p.Passwords[0]
		}
		return cred{acc.Address, pw}, nil
	}
	if len(ar.a.Creds.List) > 0 && len(ar.found) == 0 {
		return cred{}, errListed
	}
	if ar.a.Creds.FromSpray || len(ar.a.Creds.List) > 0 {
		if len(ar.found) == 0 {
			return cred{}, errors.New("no credentials found yet: a spray or brute_force step must succeed first")
		}
		return ar.found[0], nil
	}
	if ar.a.Creds.User != "" {
		acc, err := ar.account(ar.a.Creds.User)
		if err != nil {
			return cred{}, err
		}
		pw := ar.a.Creds.Password
		if pw == "" {
			pw = acc.Password
		}
		return cred{acc.Address, pw}, nil
	}
	return cred{}, errors.New("the actor has no credentials: set credentials.user, or credentials.from: spray")
}

var errListed = errors.New("credentials from a list: not tried yet")

// tryList logs in with the first entry of the stolen list that works.
func (ar *actorRun) tryList(ctx context.Context) error {
	for i, lc := range ar.a.Creds.List {
		if i > 0 {
			if err := ar.tick(ctx, -1); err != nil {
				return err
			}
		}
		acc, err := ar.account(lc.User)
		user := lc.User
		if err == nil {
			user = acc.Address
		}
		if err := ar.login(ctx, cred{user, lc.Password}); err == nil {
			ar.found = append(ar.found, cred{user, lc.Password})
			return nil
		}
	}
	return errors.New("no credential of the stolen list works")
}

// imapReuseLimit is how long an actor keeps using a quiet IMAP session,
// in wall time: well under the servers' autologout (30 minutes).
const imapReuseLimit = 20 * time.Minute

// ensureIMAP makes sure the actor is logged in over IMAP.
func (ar *actorRun) ensureIMAP(ctx context.Context) error {
	if ar.ic != nil {
		// A session left quiet for long would be logged out by the
		// server (mailsim's and Dovecot's autologout is 30 minutes of wall
		// time, which a real-clock run's waits can pass): log out and in
		// again first, as a mail client does when it wakes.
		if time.Since(ar.icUsed) < imapReuseLimit {
			ar.icUsed = time.Now()
			return nil
		}
		user, pass := ar.user, ar.pass
		ar.logout()
		if err := ar.login(ctx, cred{user: user, pass: pass}); err != nil {
			return err
		}
		ar.icUsed = time.Now()
		return nil
	}
	cr, err := ar.credentials(nil)
	if errors.Is(err, errListed) {
		return ar.tryList(ctx)
	}
	if err != nil {
		return err
	}
	return ar.login(ctx, cr)
}

func (ar *actorRun) login(ctx context.Context, cr cred) error {
	if ar.ic != nil {
		ar.logout()
	}
	c, key, err := ar.imapConnect(ctx)
	if err != nil {
		return err
	}
	if err := c.Login(cr.user, cr.pass).Wait(); err != nil {
		ar.record("imap.login", "failure", scenarios.TruthRecord{User: cr.user, Detail: err.Error()})
		ar.imapClose(c, key)
		return fmt.Errorf("login as %s: %w", cr.user, err)
	}
	ar.ic, ar.icSrc, ar.user, ar.pass, ar.selected = c, key, cr.user, cr.pass, ""
	ar.icUsed = time.Now()
	ar.record("imap.login", "success", scenarios.TruthRecord{User: cr.user})
	return nil
}

func (ar *actorRun) logout() {
	if ar.ic == nil {
		return
	}
	ar.imapClose(ar.ic, ar.icSrc)
	ar.record("imap.logout", "success", scenarios.TruthRecord{})
	ar.ic, ar.selected = nil, ""
}

func (ar *actorRun) selectMailbox(ctx context.Context, name string, readOnly bool) (*imap.SelectData, error) {
	if err := ar.ensureIMAP(ctx); err != nil {
		return nil, err
	}
	if name == "" {
		name = "INBOX"
	}
	name, err := ar.mailboxName(name)
	if err != nil {
		return nil, err
	}
	if ar.selected == name && ar.readOnly == readOnly {
		return nil, nil
	}
	sd, err := ar.ic.Select(name, &imap.SelectOptions{ReadOnly: readOnly}).Wait()
	action := "imap.select"
	if readOnly {
		action = "imap.examine"
	}
	if err != nil {
		ar.record(action, "failure", scenarios.TruthRecord{Mailbox: name, Detail: err.Error()})
		ar.selected = ""
		return nil, err
	}
	ar.selected, ar.readOnly = name, readOnly
	ar.record(action, "success", scenarios.TruthRecord{Mailbox: name, Count: int(sd.NumMessages)})
	return sd, nil
}

// mailboxName resolves "@role/INBOX" or "@local.part/INBOX" to the
// other-users or shared namespace name of that mailbox.
func (ar *actorRun) mailboxName(name string) (string, error) {
	if !strings.HasPrefix(name, "@") {
		return name, nil
	}
	who, folder, _ := strings.Cut(name[1:], "/")
	if folder == "" {
		folder = "INBOX"
	}
	acc, err := ar.account(who)
	if err != nil {
		return "", err
	}
	local, _, _ := strings.Cut(acc.Address, "@")
	if strings.EqualFold(acc.Address, ar.user) {
		return folder, nil
	}
	if acc.Kind == "shared" {
		return "Shared/" + local + "/" + folder, nil
	}
	return "Users/" + local + "/" + folder, nil
}

// smtpSession opens an authenticated submission session. raw is the
// connection the client talks over (TLS when used): sendMail writes a
// message's body there itself.
func (ar *actorRun) smtpSession(ctx context.Context, cr cred) (c *smtp.Client, key string, raw io.ReadWriter, err error) {
	t := ar.r.target
	conn, key, err := ar.dial(ctx, t.Endpoints().Submission)
	if err != nil {
		return nil, "", nil, err
	}
	helo := ar.a.Helo
	if ar.member != nil {
		helo = ar.member.helo
	}
	if helo == "" {
		helo = "workstation"
	}
	switch t.Endpoints().SubmissionTLS {
	case "implicit":
		tc := tlsio.Client(conn, t.ClientTLS())
		c := smtp.NewClient(tc)
		if err := c.Hello(helo); err != nil {
			c.Close()
			return nil, "", nil, err
		}
		return c, key, tc, nil
	case "none":
		c := smtp.NewClient(conn)
		if err := c.Hello(helo); err != nil {
			c.Close()
			return nil, "", nil, err
		}
		return c, key, conn, nil
	}
	if !ar.a.TLS && t.Endpoints().SubmissionTLS == "" {
		// tls: false — no STARTTLS: AUTH crosses the network in clear
		// (the servers accept it only with allow_plaintext_auth).
		c := smtp.NewClient(conn)
		if err := c.Hello(helo); err != nil {
			c.Close()
			return nil, "", nil, err
		}
		return c, key, conn, nil
	}
	// EHLO and STARTTLS by hand so the HELO name is the actor's.
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	if err := smtpExpect(br, "220"); err == nil {
		fmt.Fprintf(conn, "EHLO %s\r\n", helo)
		err = smtpExpect(br, "250")
		if err == nil {
			fmt.Fprintf(conn, "STARTTLS\r\n")
			err = smtpExpect(br, "220")
		}
		if err != nil {
			conn.Close()
			return nil, "", nil, err
		}
	} else {
		conn.Close()
		return nil, "", nil, err
	}
	conn.SetDeadline(time.Time{})
	tc := tlsio.Client(conn, t.ClientTLS())
	// go-smtp's client reads a greeting first; after STARTTLS the server
	// sends none, so replay the one already seen.
	c = smtp.NewClient(&greetedConn{Conn: tc, r: io.MultiReader(strings.NewReader("220 resumed after STARTTLS\r\n"), tc)})
	if err := c.Hello(helo); err != nil {
		c.Close()
		return nil, "", nil, err
	}
	return c, key, tc, nil
}

type greetedConn struct {
	net.Conn
	r io.Reader
}

func (g *greetedConn) Read(p []byte) (int, error) { return g.r.Read(p) }

func smtpExpect(br *bufio.Reader, code string) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("SMTP: %w", err)
		}
		if !strings.HasPrefix(line, code) {
			return fmt.Errorf("SMTP: unexpected reply %q", strings.TrimSpace(line))
		}
		if len(line) < 4 || line[3] != '-' {
			return nil
		}
	}
}

func (ar *actorRun) smtpClose(c *smtp.Client, key string) {
	_ = c.Quit()
	c.Close()
	ar.waitEnded(key)
}

// budget reports whether the actor may still download n more bytes.
func (ar *actorRun) budgetLeft() error {
	b := ar.a.Budget
	if b.Bytes > 0 && ar.bytes >= b.Bytes {
		return errBudget
	}
	if b.Messages > 0 && ar.messages >= b.Messages {
		return errBudget
	}
	return nil
}

// run replays the actor.
func (ar *actorRun) run(ctx context.Context) error {
	defer ar.logout()
	if ar.member != nil {
		err := ar.staffDay(ctx)
		if errors.Is(err, errStopped) || errors.Is(err, errBudget) {
			return nil
		}
		return err
	}
	err := ar.runSteps(ctx, ar.a.Steps)
	if errors.Is(err, errBudget) {
		ar.r.note(Note{Time: ar.now, Actor: ar.name, Kind: "info", Text: "budget spent: actor stops"})
		return nil
	}
	if errors.Is(err, errStopped) {
		return nil
	}
	return err
}

func (ar *actorRun) runSteps(ctx context.Context, steps []*scenarios.Step) error {
	for i, st := range steps {
		if st.At != nil {
			if err := ar.waitUntil(ctx, ar.atTime(st.At)); err != nil {
				return err
			}
		} else if i > 0 || ar.step != nil {
			if err := ar.tick(ctx, -1); err != nil {
				return err
			}
		} else if err := ar.waitUntil(ctx, ar.now); err != nil {
			return err
		}
		prev := ar.step
		ar.step = st
		start := ar.r.clk.Now()
		ar.r.note(Note{Time: start, Actor: ar.name, Kind: "step", Text: st.Describe(), Step: st.ID})
		var err error
		if run, ok := impls[st.Kind]; ok {
			err = run(ctx, ar, st, st.Params())
		} else {
			err = fmt.Errorf("step kind %q has no implementation in this build", st.Kind)
		}
		ar.r.span(st.ID, ar.name, start, ar.r.clk.Now())
		ar.step = prev
		if err != nil {
			if errors.Is(err, errStopped) || errors.Is(err, errBudget) || ctx.Err() != nil {
				return err
			}
			var se *StepError
			if errors.As(err, &se) {
				return err
			}
			return &StepError{Scenario: ar.r.sc.ID, Actor: ar.name, Step: st.Describe(), Index: i, Line: st.Line(), Err: err}
		}
	}
	return nil
}

// atTime resolves a step's start.
func (ar *actorRun) atTime(at *scenarios.At) time.Time {
	return at.Next(ar.r.sc.Env.Start, ar.now, ar.r.sc.Env.Location)
}
