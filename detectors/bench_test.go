package detectors

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// benchEvent is a generated audit event shaped like mailsim's audit.Event: a
// struct whose Field method switches on the name. Per-event values (user,
// address, session, time, id) sit in the event; per-action constants in a
// shared template, so that a 1M-event stream fits in memory.
type benchEvent struct {
	tpl     *benchTpl
	user    any // values are boxed once, as a JSON decoder does
	owner   any
	ip      any
	session any
	t       time.Time
	id      string
}

type benchTpl struct {
	action, outcome, reason, service, items, fileName, criteria, direction, domain any
	fileSize, attachments                                                          any
	hasFile, hasAttachments                                                        bool
}

func (e *benchEvent) Field(n string) (any, bool) {
	t := e.tpl
	switch n {
	case "event.action":
		return t.action, true
	case "service.type":
		return t.service, true
	case "user.name":
		return e.user, true
	case "mailbox.owner":
		return e.owner, e.owner != nil
	case "source.ip":
		return e.ip, true
	case "session.id":
		return e.session, true
	case "tls.established":
		return true, true
	case "auth.cleartext":
		return false, t.action == "imap.login"
	case "event.outcome":
		return t.outcome, t.outcome != nil
	case "event.reason":
		return t.reason, t.reason != nil
	case "imap.fetch.items":
		return t.items, t.items != nil
	case "file.name":
		return t.fileName, t.hasFile
	case "file.size":
		return t.fileSize, t.hasFile
	case "imap.search.criteria":
		return t.criteria, t.criteria != nil
	case "email.direction":
		return t.direction, t.direction != nil
	case "destination.domain":
		return t.domain, t.domain != nil
	case "smtp.mail_from":
		return e.user, t.service == "smtp"
	case "email.attachments.count":
		return t.attachments, t.hasAttachments
	case "imap.mailbox":
		return "INBOX", t.action == "imap.select"
	case "client.name":
		return "Thunderbird", true
	}
	return nil, false
}
func (e *benchEvent) Time() time.Time { return e.t }
func (e *benchEvent) ID() string      { return e.id }

// genStream deterministically generates n maildrill audit events, one every
// 2 ms: staff traffic of 2000 users (logins, selects, header and body
// fetches, attachment downloads, searches, internal deliveries, logouts; 97%)
// and attack traffic from 50 outside addresses (failed logins against random
// accounts, attachment downloads in other owners' mailboxes, sensitive
// searches, outbound deliveries; 3%).
type streamGen struct {
	r                    *rand.Rand
	names, ips, sess     []any
	staff, attack        []*benchTpl
	attackIPs, attackSes []any
	t                    time.Time
	i                    int
}

const benchUsers = 2000

func newStreamGen() *streamGen {
	g := &streamGen{r: rand.New(rand.NewPCG(1, 2))}
	g.names = make([]any, benchUsers)
	g.ips = make([]any, benchUsers)
	g.sess = make([]any, benchUsers)
	for u := range g.names {
		g.names[u] = "agent" + strconv.Itoa(u) + "@interieur.test"
		g.ips[u] = "10.20." + strconv.Itoa(u/250) + "." + strconv.Itoa(u%250)
		g.sess[u] = "s" + strconv.Itoa(u)
	}
	g.staff = []*benchTpl{
		{action: "imap.login", outcome: "success", service: "imap"},
		{action: "imap.select", service: "imap"},
		{action: "imap.fetch", service: "imap", items: "(FLAGS ENVELOPE)"},
		{action: "imap.fetch", service: "imap", items: "BODY.PEEK[]"},
		{action: "imap.fetch", service: "imap", items: "BODY[2]", fileName: "rapport.pdf", fileSize: float64(250000), hasFile: true},
		{action: "imap.search", service: "imap", criteria: "UNSEEN"},
		{action: "smtp.deliver", service: "smtp", direction: "internal", domain: "interieur.test", attachments: float64(0), hasAttachments: true},
		{action: "imap.logout", service: "imap"},
	}
	g.attack = []*benchTpl{
		{action: "imap.login", outcome: "failure", reason: "invalid_credentials", service: "imap"},
		{action: "imap.fetch", service: "imap", items: "BODY[2]", fileName: "secret.docx", fileSize: float64(900000), hasFile: true},
		{action: "imap.search", service: "imap", criteria: `TEXT "confidentiel"`},
		{action: "smtp.deliver", service: "smtp", direction: "outbound", domain: "proton.example", attachments: float64(1), hasAttachments: true},
	}
	g.attackIPs, g.attackSes = make([]any, 50), make([]any, 50)
	for a := range g.attackIPs {
		g.attackIPs[a], g.attackSes[a] = "203.0.113."+strconv.Itoa(a), "x"+strconv.Itoa(a)
	}
	g.t = time.Date(2025, 12, 11, 8, 0, 0, 0, time.FixedZone("CET", 3600))
	return g
}

// next fills evs with the following events of the stream, one every 2 ms:
// staff traffic of 2000 users (logins, selects, header and body fetches,
// attachment downloads, searches, internal deliveries, logouts; 97%) and
// attack traffic from 50 outside addresses (failed logins against random
// accounts, attachment downloads in other owners' mailboxes, sensitive
// searches, outbound deliveries; 3%). Fresh events are allocated, as a
// producer would.
func (g *streamGen) next(evs []Event) {
	pool := make([]benchEvent, len(evs))
	for i := range evs {
		g.t = g.t.Add(2 * time.Millisecond)
		e := &pool[i]
		e.t, e.id = g.t, "e"+strconv.Itoa(g.i)
		g.i++
		u := g.r.IntN(benchUsers)
		if g.r.IntN(100) < 97 {
			e.tpl = g.staff[g.r.IntN(len(g.staff))]
			e.user, e.owner, e.ip, e.session = g.names[u], g.names[u], g.ips[u], g.sess[u]
		} else {
			a := g.r.IntN(50)
			e.tpl = g.attack[g.r.IntN(len(g.attack))]
			e.user, e.ip, e.session = g.names[u], g.attackIPs[a], g.attackSes[a]
			if e.tpl.action == "imap.fetch" {
				e.user, e.owner = g.names[a], g.names[u]
			}
		}
		evs[i] = e
	}
}

// genStream returns the first n events of the stream.
func genStream(n int) []Event {
	evs := make([]Event, n)
	newStreamGen().next(evs)
	return evs
}

// replay feeds b.N events of the stream to process, generated in batches of
// 16384 outside the timer (so that the stream does not sit in the heap),
// and returns the wall and CPU time spent in process.
func replay(b *testing.B, process func(Event)) (wall, cpu time.Duration) {
	g := newStreamGen()
	batch := make([]Event, 16384)
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for done := 0; done < b.N; {
		n := min(len(batch), b.N-done)
		g.next(batch[:n])
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		for _, ev := range batch[:n] {
			process(ev)
		}
		wall += time.Since(start)
		cpu += cpuTime() - cpu0
		b.StopTimer()
		done += n
	}
	return wall, cpu
}

// BenchmarkEngine: one op = one event through the full pack on one core.
// Run with -benchtime=1000000x to process the whole 1M-event stream once.
func BenchmarkEngine(b *testing.B) {
	rules, err := testPackRules()
	if err != nil {
		b.Fatal(err)
	}
	eng, err := NewEngine(rules, testPackConfig())
	if err != nil {
		b.Fatal(err)
	}
	alerts := 0
	el, cpu := replay(b, func(ev Event) { alerts += len(eng.Process(ev)) })
	alerts += len(eng.Flush())
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	// on a shared machine wall time lies: also report per second of CPU used
	// by the process (GOMAXPROCS=1 with -cpu 1, GC included)
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	if b.N >= 100000 && alerts == 0 {
		b.Fatal("the stream must raise alerts")
	}
	st := eng.Stats()
	b.Logf("N=%d alerts=%d matches=%d suppressed=%d groups=%d", b.N, alerts, st.Matches, st.Suppressed, st.Groups)
}

// BenchmarkEngineDetectionOnly: the same stream through the pack's
// single-event rules only (no correlation state), to show the split.
func BenchmarkEngineDetectionOnly(b *testing.B) {
	all, err := testPackRules()
	if err != nil {
		b.Fatal(err)
	}
	var rules []*sigma.Rule
	for _, r := range all {
		if r.Detection != nil && r.Level != "informational" && r.Name == "" {
			rules = append(rules, r)
		}
	}
	eng, err := NewEngine(rules, testPackConfig())
	if err != nil {
		b.Fatal(err)
	}
	el, cpu := replay(b, func(ev Event) { eng.Process(ev) })
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(len(rules)), "rules")
}

// BenchmarkJSONEvents: the CLI path, parsing a JSON line per event then the pack.
func BenchmarkJSONEvents(b *testing.B) {
	evs := genStream(10000)
	lines := make([][]byte, len(evs))
	for i, e := range evs {
		be := e.(*benchEvent)
		m := map[string]any{"@timestamp": be.t.Format(time.RFC3339Nano), "event.id": be.id}
		for _, k := range []string{"event.action", "service.type", "user.name", "mailbox.owner", "source.ip", "session.id",
			"tls.established", "auth.cleartext", "event.outcome", "event.reason", "imap.fetch.items", "file.name", "file.size",
			"imap.search.criteria", "email.direction", "destination.domain", "smtp.mail_from", "email.attachments.count", "imap.mailbox", "client.name"} {
			if v, ok := be.Field(k); ok {
				m[k] = v
			}
		}
		lines[i] = mustJSON(b, m)
	}
	rules, _ := testPackRules()
	eng, err := NewEngine(rules, testPackConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		ev, err := ParseJSONEvent(lines[i%len(lines)], JSONOptions{})
		if err != nil {
			b.Fatal(err)
		}
		eng.Process(ev)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
}

// BenchmarkStateMemory: bytes of heap held per correlation group with 100,000
// distinct group keys (the pack's imap_brute_force, grouped by user.name,
// one failed login per user inside the 20-minute window).
func BenchmarkStateMemory(b *testing.B) {
	const keys = 100_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		evs := make([]Event, keys)
		failTpl := &benchTpl{action: "imap.login", outcome: "failure", reason: "invalid_credentials", service: "imap"}
		t := time.Date(2025, 12, 11, 8, 0, 0, 0, time.UTC)
		for k := range evs {
			evs[k] = &benchEvent{tpl: failTpl, ip: "203.0.113.9", user: any(fmt.Sprintf("user%06d@interieur.test", k)),
				t: t.Add(time.Duration(k) * time.Millisecond), id: fmt.Sprintf("ev%07d", k)}
		}
		rules, _ := testPackRules()
		eng, err := NewEngine(rules, testPackConfig())
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for _, e := range evs {
			eng.Process(e)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		st := eng.Stats()
		if st.Groups < keys {
			b.Fatalf("groups = %d, want >= %d", st.Groups, keys)
		}
		// the events themselves stay alive in evs: only what the engine added counts
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(st.Groups), "bytes/key")
		b.ReportMetric(float64(st.Groups), "groups")
		runtime.KeepAlive(evs)
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// cpuTime is the CPU time (user+system) used by the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPackRecorded: the pack over the real event mix of the recorded
// flagship runs (testdata/runs: mailsim's trail, stock and enhanced
// Dovecot), parsed once outside the timer. One op = one event; every pass
// over a recording starts a fresh engine (outside the timer), so event time
// never runs backwards. The /plain runs turn the prefilter off.
func BenchmarkPackRecorded(b *testing.B) {
	rules, err := testPackRules()
	if err != nil {
		b.Fatal(err)
	}
	for _, run := range []string{"embedded", "dovecot-stock", "dovecot-enhanced", "embedded/plain", "dovecot-stock/plain", "dovecot-enhanced/plain"} {
		target, plain := strings.CutSuffix(run, "/plain")
		cfg := testPackConfig()
		cfg.NoPrefilter = plain
		b.Run(run, func(b *testing.B) {
			evs := readRecorded(b, filepath.Join("..", "testdata", "runs", "ministry-overnight", target, "events.jsonl.gz"))
			var eng *Engine
			alerts, passes := 0, 0
			var wall, cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				b.StopTimer()
				if eng, err = NewEngine(rules, cfg); err != nil {
					b.Fatal(err)
				}
				n := min(len(evs), b.N-done)
				b.StartTimer()
				start, cpu0 := time.Now(), cpuTime()
				for _, ev := range evs[:n] {
					alerts += len(eng.Process(ev))
				}
				alerts += len(eng.Flush())
				wall += time.Since(start)
				cpu += cpuTime() - cpu0
				done += n
				passes++
			}
			b.ReportMetric(float64(b.N)/wall.Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
			if b.N >= len(evs) && alerts == 0 {
				b.Fatal("a whole recording raised no alert")
			}
			b.Logf("%d events a pass, %d passes, %d alerts", len(evs), passes, alerts)
		})
	}
}

func readRecorded(b testing.TB, path string) []Event {
	b.Helper()
	fh, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		b.Fatal(err)
	}
	var evs []Event
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		ev, err := ParseJSONEvent(sc.Bytes(), JSONOptions{})
		if err != nil {
			b.Fatalf("%s: %v", path, err)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return evs
}
