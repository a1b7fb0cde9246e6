package mailsim_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
)

// The soak runs only with MAILDRILL_SOAK=1; it prints a summary block and
// writes it to the file named by MAILDRILL_SOAK_REPORT, if set.

const (
	soakSessions = 1000             // concurrent sessions, each worker starting a new one as its last ends
	soakRun      = 30 * time.Second // how long the workers keep starting sessions
	soakBound    = 60 * time.Second // the whole soak's wall-time bound
	probeEvery   = 100 * time.Millisecond
)

func soakEnabled(t *testing.T) {
	if os.Getenv("MAILDRILL_SOAK") != "1" {
		t.Skip("soak: set MAILDRILL_SOAK=1")
	}
}

// raiseNoFile lifts the soft descriptor limit to the hard one, so that the
// clients of the soak do not run out of descriptors themselves.
func raiseNoFile(t *testing.T) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
	}
	return rl.Cur
}

// procStatus returns a field of /proc/self/status ("VmHWM", "VmRSS").
func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			return strings.TrimSpace(strings.TrimPrefix(l, field+":"))
		}
	}
	return "?"
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// soakReport collects the summary block.
type soakReport struct {
	mu    sync.Mutex
	lines []string
}

func (r *soakReport) add(format string, args ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *soakReport) flush(t *testing.T, title string) {
	block := "==== " + title + " ====\n" + strings.Join(r.lines, "\n") + "\n==== end ====\n"
	t.Log("\n" + block)
	if p := os.Getenv("MAILDRILL_SOAK_REPORT"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		f.WriteString(block)
		f.Close()
	}
}

// prober connects to every listener every probeEvery and counts the probes
// served: a greeting (after TLS for IMAPS) then a clean LOGOUT/QUIT, or a
// healthy /healthz.
type prober struct {
	names  []string
	probes map[string]func() error
	total  map[string]*atomic.Int64
	served map[string]*atomic.Int64
	mu     sync.Mutex
	fails  []string
}

func newProber(srv *mailsim.Server) *prober {
	p := &prober{
		names: []string{"imap", "imaps", "submission", "mx", "admin"},
		total: map[string]*atomic.Int64{}, served: map[string]*atomic.Int64{},
	}
	imapProbe := func(addr string, implicitTLS bool) func() error {
		return func() error {
			c, err := dialRaw(addr)
			if err != nil {
				return err
			}
			defer c.finish()
			if implicitTLS {
				if err := c.handshake(srv.Certs.ClientConfig("localhost")); err != nil {
					return err
				}
			}
			if l, err := c.line(); err != nil || !strings.HasPrefix(l, "* OK") {
				return fmt.Errorf("greeting %q: %v", l, err)
			}
			return c.imapCmd("p", "LOGOUT")
		}
	}
	smtpProbe := func(addr string) func() error {
		return func() error {
			c, err := dialRaw(addr)
			if err != nil {
				return err
			}
			defer c.finish()
			if err := c.smtpReply(220); err != nil {
				return err
			}
			return c.smtpCmd("QUIT", 221)
		}
	}
	p.probes = map[string]func() error{
		"imap": imapProbe(srv.IMAPAddr, false), "imaps": imapProbe(srv.IMAPSAddr, true),
		"submission": smtpProbe(srv.SubmissionAddr), "mx": smtpProbe(srv.MXAddr),
		"admin": func() error { return adminHealth(srv.AdminAddr) },
	}
	for _, n := range p.names {
		p.total[n], p.served[n] = new(atomic.Int64), new(atomic.Int64)
	}
	return p
}

// run probes until ctx ends and returns once every probe has finished.
func (p *prober) run(ctx context.Context) {
	var wg sync.WaitGroup
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
		for _, n := range p.names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.total[n].Add(1)
				if err := p.probes[n](); err != nil {
					p.mu.Lock()
					if len(p.fails) < 20 {
						p.fails = append(p.fails, n+": "+err.Error())
					}
					p.mu.Unlock()
					return
				}
				p.served[n].Add(1)
			}()
		}
	}
}

// soakCounts is what the clients did, in audit terms.
type soakCounts struct {
	imapConns, smtpConns                   atomic.Int64
	imapLoginOK, imapLoginFail             atomic.Int64
	smtpAuthOK, smtpAuthFail, smtpDelivers atomic.Int64
	// uncertain counts logins and deliveries sent whose answer the client
	// could not read (it gave up): the server may or may not have
	// recorded them.
	uncertain atomic.Int64
}

// TestSoak runs 1,000 concurrent sessions, half well-behaved and half
// hostile, while a prober checks every listener every 100 ms. Invariants:
// every well-behaved session succeeds, the audit trail holds exactly the
// events the clients caused with every connect paired with its end event,
// availability is 100 %, goroutines return to the baseline.
func TestSoak(t *testing.T) {
	soakEnabled(t)
	nofile := raiseNoFile(t)
	rep := &soakReport{}
	// The clients come from 100 loopback addresses (127.0.0.2-101), ten
	// sessions each on average, under the per-source caps as real clients
	// on many hosts are; the prober dials from 127.0.0.1.
	var next atomic.Uint32
	dialFrom = func() net.Addr {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+next.Add(1)%100))}
	}
	defer func() { dialFrom = nil }()
	srv, err := mailsim.Start(context.Background(), mailsim.Config{
		Seed: 1, Users: 20, MessagesPerUser: 20, AllowInsecureAuth: true, CertDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tracker := newAuditTracker(srv.Bus)
	followDone := tracker.startFollow(ctx)

	var people []account.Account
	for _, a := range srv.Accounts() {
		if a.Kind == "person" {
			people = append(people, a)
		}
	}
	if errs := endToEnd(srv, people[0].Address, people[0].Password, people[1].Address); len(errs) > 0 {
		t.Fatalf("not serving before the soak: %v", errs)
	}
	tracker.settle(2 * time.Second)
	tracker.check()
	warm := snapshotCounts(tracker)
	gBefore := steadyGoroutines()

	var n soakCounts
	proto := map[string]*atomic.Int64{srv.IMAPAddr: &n.imapConns, srv.IMAPSAddr: &n.imapConns, srv.SubmissionAddr: &n.smtpConns, srv.MXAddr: &n.smtpConns}
	dialHook = func(addr string) {
		if c := proto[addr]; c != nil {
			c.Add(1)
		}
	}
	defer func() { dialHook = nil }()

	pr := newProber(srv)
	probeCtx, stopProbes := context.WithCancel(ctx)
	probesDone := make(chan struct{})
	go func() { pr.run(probeCtx); close(probesDone) }()

	states := allFaultStates()
	kinds := map[string]*atomic.Int64{}
	var kindMu sync.Mutex
	count := func(kind string) {
		kindMu.Lock()
		if kinds[kind] == nil {
			kinds[kind] = new(atomic.Int64)
		}
		kinds[kind].Add(1)
		kindMu.Unlock()
	}
	var wellFailed, faultSeq atomic.Int64
	var failMu sync.Mutex
	var failures []string
	start := time.Now()
	deadline := start.Add(soakBound - 15*time.Second)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	var launched atomic.Int64
	var soakSession func(i int)
	for w := 0; w < soakSessions; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			for round := 0; time.Since(start) < soakRun; round++ {
				launched.Add(1)
				soakSession(w + round*soakSessions)
			}
		}()
	}
	soakSession = func(i int) {
		u := people[i%len(people)]
		rcpt := people[(i+1)%len(people)].Address
		env := &faultEnv{srv: srv, user: u.Address, pass: u.Password, rcpt: rcpt, okHook: func(what string) {
			switch what {
			case "imap.login":
				n.imapLoginOK.Add(1)
			case "smtp.auth":
				n.smtpAuthOK.Add(1)
			case "uncertain":
				n.uncertain.Add(1)
			}
		}}
		if i%2 == 0 { // well-behaved
			var err error
			var kind string
			switch (i / 2) % 4 {
			case 0:
				kind, err = "imaps fetch", imapSession(srv, true, u.Address, u.Password)
				if err == nil {
					n.imapLoginOK.Add(1)
				}
			case 1:
				kind, err = "imap+starttls fetch", imapSession(srv, false, u.Address, u.Password)
				if err == nil {
					n.imapLoginOK.Add(1)
				}
			case 2:
				kind, err = "submission send", submitMessage(srv, u.Address, u.Password, rcpt, fmt.Sprintf("soak %d", i))
				if err == nil {
					n.smtpAuthOK.Add(1)
					n.smtpDelivers.Add(1)
				}
			case 3:
				kind, err = "mx delivery", mxDeliver(srv, rcpt, fmt.Sprintf("soak %d", i), "")
				if err == nil {
					n.smtpDelivers.Add(1)
				}
			}
			count("well-behaved: " + kind)
			if err != nil {
				wellFailed.Add(1)
				failMu.Lock()
				if len(failures) < 20 {
					failures = append(failures, fmt.Sprintf("%s #%d: %v", kind, i, err))
				}
				failMu.Unlock()
			}
			return
		}
		j := i / 2
		switch j % 6 {
		case 0, 1: // the faults, stalls excepted (no short timeout to configure)
			k := int(faultSeq.Add(1) - 1)
			st := states[k%len(states)]
			f := allFaults[(k/len(states))%3]
			count("hostile: fault " + string(f))
			if c, err := st.setup(env); err == nil {
				c.apply(f)
			}
		case 2:
			count("hostile: brute force")
			bruteForce(srv, env, j%4 == 0, &n)
		case 3:
			count("hostile: command flood")
			commandFlood(srv, env, j%4 == 1, &n)
		case 4:
			if j%4 == 0 {
				count("hostile: deep MIME on the MX")
				if err := mxDeliver(srv, rcpt, "", deepMIME(200, rcpt)); err == nil {
					n.smtpDelivers.Add(1)
				} else {
					n.uncertain.Add(1)
				}
			} else {
				count("hostile: huge literal announcement")
				hugeLiteral(srv, env, &n)
			}
		case 5:
			count("hostile: junk bytes")
			junk(srv, uint64(i))
		}
	}
	close(gate)
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-time.After(time.Until(deadline)):
		t.Errorf("sessions still running after %v", time.Since(start))
	}
	elapsed := time.Since(start)
	stopProbes()
	<-probesDone

	// Settle: every session ends, every event is read.
	gAfter := waitGoroutines(gBefore, 10*time.Second)
	tracker.settle(5 * time.Second)
	unpaired, missingReason := tracker.check()
	rec := snapshotCounts(tracker)
	diff := func(key ...string) int64 {
		var s int64
		for _, k := range key {
			s += rec[k] - warm[k]
		}
		return s
	}

	rep.add("machine: %d cores (GOMAXPROCS %d), load %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadavg())
	rep.add("descriptor limit %d", nofile)
	rep.add("sessions: %d in all, %d at a time for %v, ran %v", launched.Load(), soakSessions, soakRun, elapsed.Round(time.Millisecond))
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		rep.add("  %-40s %d", k, kinds[k].Load())
	}
	rep.add("well-behaved sessions failed: %d", wellFailed.Load())
	for _, f := range failures {
		rep.add("  %s", f)
	}
	type row struct {
		what     string
		expected int64
		recorded int64
	}
	rows := []row{
		{"imap.connect (all outcomes)", n.imapConns.Load(), diff("imap.connect/success", "imap.connect/failure")},
		{"imap.logout", n.imapConns.Load(), diff("imap.logout/success", "imap.logout/failure", "imap.logout/")},
		{"smtp.connect (all outcomes)", n.smtpConns.Load(), diff("smtp.connect/success", "smtp.connect/failure")},
		{"smtp.disconnect", n.smtpConns.Load(), diff("smtp.disconnect/", "smtp.disconnect/success", "smtp.disconnect/failure")},
		{"imap.login success", n.imapLoginOK.Load(), diff("imap.login/success")},
		{"imap.login failure", n.imapLoginFail.Load(), diff("imap.login/failure")},
		{"smtp.auth success", n.smtpAuthOK.Load(), diff("smtp.auth/success")},
		{"smtp.auth failure", n.smtpAuthFail.Load(), diff("smtp.auth/failure")},
		{"smtp.deliver success", n.smtpDelivers.Load(), diff("smtp.deliver/success")},
	}
	rep.add("audit events: %d recorded in all (warm-up excluded)", int64(tracker.total)-warm["total"])
	rep.add("  %-30s %9s %9s", "event", "expected", "recorded")
	var mismatch []string
	unc := n.uncertain.Load()
	for k, r := range rows {
		mark := ""
		d := r.recorded - r.expected
		switch {
		case d == 0:
		case k >= 4 && d > 0 && d <= unc:
			mark = "  (within the uncertain ones)"
		default:
			mark = "  MISMATCH"
			mismatch = append(mismatch, r.what)
		}
		rep.add("  %-30s %9d %9d%s", r.what, r.expected, r.recorded, mark)
	}
	rep.add("  logins/deliveries sent whose answer the client did not read (client gave up): %d", unc)
	rep.add("sessions without an end event (or with events after it): %d", len(unpaired))
	for _, l := range groupUnpaired(unpaired) {
		rep.add("  %s", l)
	}
	rep.add("end events without event.reason: %d", len(missingReason))
	rep.add("peak RSS (VmHWM) %s, RSS now %s", procStatus("VmHWM"), procStatus("VmRSS"))
	rep.add("goroutines before %d, after %d", gBefore, gAfter)
	var availOK = true
	for _, name := range pr.names {
		tot, ok := pr.total[name].Load(), pr.served[name].Load()
		pct := 100.0
		if tot > 0 {
			pct = 100 * float64(ok) / float64(tot)
		}
		if ok != tot {
			availOK = false
		}
		rep.add("availability %-10s %5.1f %% (%d/%d probes)", name, pct, ok, tot)
	}
	for _, f := range pr.fails {
		rep.add("  probe failed: %s", f)
	}
	rep.flush(t, "maildrill soak")

	if wellFailed.Load() > 0 {
		t.Errorf("%d well-behaved sessions failed", wellFailed.Load())
	}
	if len(mismatch) > 0 {
		t.Errorf("audit events expected ≠ recorded: %v", mismatch)
	}
	if len(unpaired) > 0 {
		t.Errorf("%d sessions without an end event", len(unpaired))
	}
	if !availOK {
		t.Error("a listener missed probes")
	}
	if gAfter > gBefore {
		t.Errorf("goroutines: %d after, %d before\n%s", gAfter, gBefore, goroutineDump())
	}
	cancel()
	<-followDone
}

// groupUnpaired counts the unpaired sessions by what is wrong with them.
func groupUnpaired(unpaired []string) []string {
	byKind := map[string]int{}
	for _, u := range unpaired {
		_, rest, _ := strings.Cut(u, " ")
		byKind[rest]++
	}
	var out []string
	for k, n := range byKind {
		out = append(out, fmt.Sprintf("%4d × %s", n, k))
	}
	sort.Strings(out)
	return out
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func snapshotCounts(a *auditTracker) map[string]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := map[string]int64{"total": int64(a.total)}
	for k, v := range a.counts {
		m[k] = int64(v)
	}
	return m
}
