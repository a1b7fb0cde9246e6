package ingest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/certs"
	"github.com/maildrill/maildrill/mailsim/dovecot"
)

var opts = dovecot.Options{Now: func() time.Time { return now }}

// captured returns the Dovecot and Postfix lines captured from real
// servers (mailsim/dovecot/testdata), one file after another.
func captured(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../dovecot/testdata/*.log")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured logs: %v", err)
	}
	var lines []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for l := range strings.SplitSeq(strings.TrimRight(string(b), "\n"), "\n") {
			// Lines with no timestamp (a container's own output) are
			// stamped with the time they are read: not comparable.
			if _, err := time.Parse(time.Stamp, l[:min(15, len(l))]); err == nil {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

// parseAll is what the parser makes of the lines read from a file.
func parseAll(t testing.TB, lines []string) []string {
	t.Helper()
	evs, err := dovecot.ParseAll(strings.NewReader(strings.Join(lines, "\n")), dovecot.NewParser(opts))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 100 {
		t.Fatalf("only %d events from the captured logs", len(evs))
	}
	return jsonEvents(evs)
}

func jsonEvents(evs []*audit.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		b, _ := json.Marshal(e)
		out[i] = string(b)
	}
	return out
}

// split takes a traditional log line apart: "Mmm dd hh:mm:ss [host] tag: msg".
func split(t testing.TB, l string) (ts time.Time, host, tag, msg string) {
	t.Helper()
	ts, err := time.Parse(time.Stamp, l[:15])
	if err != nil {
		t.Fatalf("%q: %v", l, err)
	}
	ts = time.Date(2026, ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), 0, time.UTC)
	rest := l[16:]
	if f, r, _ := strings.Cut(rest, " "); !strings.HasSuffix(f, ":") {
		host, rest = f, r
	}
	tag, msg, ok := strings.Cut(rest, ": ")
	if !ok {
		t.Fatalf("no tag in %q", l)
	}
	return ts, host, tag, msg
}

// rfc3164 writes a line as RFC 3164 syslog, as rsyslog's traditional
// forward format does.
func rfc3164(t testing.TB, l string) string {
	ts, host, tag, msg := split(t, l)
	if host == "" {
		host = "mail"
	}
	return fmt.Sprintf("<22>%s %s %s: %s", ts.Format(time.Stamp), host, tag, msg)
}

// rfc5424 writes a line as RFC 5424 syslog the way Dovecot's and
// Postfix's messages arrive: Dovecot logs under the ident "dovecot" with
// its process in the message, Postfix as APP-NAME and PROCID.
func rfc5424(t testing.TB, l string) string {
	ts, host, tag, msg := split(t, l)
	if host == "" {
		host = "-"
	}
	app, pid := "dovecot", "-"
	if strings.HasPrefix(tag, "postfix") {
		app = tag
		if i := strings.IndexByte(tag, '['); i > 0 {
			app, pid = tag[:i], strings.TrimSuffix(tag[i+1:], "]")
		}
	} else {
		msg = tag + ": " + msg
	}
	return fmt.Sprintf(`<22>1 %s %s %s %s - [meta sequenceId="1"] %s`, ts.Format(time.RFC3339Nano), host, app, pid, msg)
}

type collector struct {
	mu  sync.Mutex
	evs []*audit.Event
}

func (c *collector) add(e *audit.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, e)
	c.mu.Unlock()
}

func start(t *testing.T, cfg Config) (*Ingester, *collector) {
	t.Helper()
	c := &collector{}
	if cfg.Parser.Now == nil {
		cfg.Parser = opts
	}
	in, err := Start(context.Background(), cfg, c.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in, c
}

func same(t *testing.T, what string, got []*audit.Event, want []string) {
	t.Helper()
	g := jsonEvents(got)
	if len(g) != len(want) {
		t.Errorf("%s: %d events, want %d", what, len(g), len(want))
	}
	for i := range min(len(g), len(want)) {
		if g[i] != want[i] {
			t.Errorf("%s: event %d\n got %s\nwant %s", what, i, g[i], want[i])
			return
		}
	}
}

// Every captured line sent over each transport and framing gives the
// events the parser gives from the log file, and each line is counted.
func TestTransports(t *testing.T) {
	lines := captured(t)
	want := parseAll(t, lines)
	bundle, err := certs.Generate(t.TempDir(), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	type sender func(t *testing.T, tcp, udp net.Addr, msgs []string)
	stream := func(framing string, useTLS bool) sender {
		return func(t *testing.T, tcp, _ net.Addr, msgs []string) {
			var c net.Conn
			var err error
			if useTLS {
				c, err = tls.Dial("tcp", tcp.String(), bundle.ClientConfig("localhost"))
			} else {
				c, err = net.Dial("tcp", tcp.String())
			}
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			for _, m := range msgs {
				if framing == "octet" {
					fmt.Fprintf(&b, "%d %s", len(m), m)
				} else {
					b.WriteString(m + "\n")
				}
			}
			if _, err := c.Write(b.Bytes()); err != nil {
				t.Fatal(err)
			}
			// Left open: Close must still read what was sent.
			t.Cleanup(func() { c.Close() })
		}
	}
	datagrams := func(t *testing.T, _, udp net.Addr, msgs []string) {
		c, err := net.Dial("udp", udp.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i, m := range msgs {
			if _, err := c.Write([]byte(m)); err != nil {
				t.Fatal(err)
			}
			if i%50 == 49 { // loopback drops datagrams a full socket cannot take
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	for _, c := range []struct {
		name, addr, src string
		format          func(testing.TB, string) string
		send            sender
	}{
		{"tcp newline rfc3164", "127.0.0.1:0", "tcp", rfc3164, stream("newline", false)},
		{"tcp octet-counting rfc5424", "tcp://127.0.0.1:0", "tcp", rfc5424, stream("octet", false)},
		{"tcp newline rfc5424", "127.0.0.1:0", "tcp", rfc5424, stream("newline", false)},
		{"udp rfc3164", "udp://127.0.0.1:0", "udp", rfc3164, datagrams},
		{"udp rfc5424", "127.0.0.1:0", "udp", rfc5424, datagrams},
		{"tls octet-counting rfc5424", "tls://127.0.0.1:0", "tls", rfc5424, stream("octet", true)},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, col := start(t, Config{Syslog: c.addr, TLS: bundle.TLSConfig})
			tcp, udp := in.Addr()
			msgs := make([]string, len(lines))
			for i, l := range lines {
				msgs[i] = c.format(t, l)
			}
			c.send(t, tcp, udp, msgs)
			if c.src == "udp" { // datagrams are not flow-controlled: wait until all are read
				for in.Stats().Lines < int64(len(msgs)) {
					time.Sleep(5 * time.Millisecond)
				}
			}
			in.Close()
			same(t, c.name, col.evs, want)
			st := in.Stats()
			if st.Lines != int64(len(lines)) || st.Sources[c.src].Lines != st.Lines || st.Events != int64(len(want)) {
				t.Errorf("stats %+v, want %d lines from %s and %d events", st, len(lines), c.src, len(want))
			}
			// The captured logs hold start-up banners the parser does not
			// know: they are counted and shown, not dropped.
			if st.Unparsed == 0 || len(st.UnparsedSamples) == 0 || st.Malformed != 0 {
				t.Errorf("unparsed %d, malformed %d, samples %q", st.Unparsed, st.Malformed, st.UnparsedSamples)
			}
		})
	}
}

func TestAddrBoth(t *testing.T) {
	in, _ := start(t, Config{Syslog: "127.0.0.1:0"})
	tcp, udp := in.Addr()
	if tcp == nil || udp == nil || tcp.(*net.TCPAddr).Port != udp.(*net.UDPAddr).Port {
		t.Fatalf("tcp %v udp %v: want both on one port", tcp, udp)
	}
	in2, _ := start(t, Config{Syslog: "udp://127.0.0.1:0"})
	if tcp, udp := in2.Addr(); tcp != nil || udp == nil {
		t.Fatalf("udp:// listens on tcp %v udp %v", tcp, udp)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "nothing to read"},
		{Config{Syslog: "5514"}, "want HOST:PORT"},
		{Config{Syslog: "http://127.0.0.1:5514"}, `scheme "http"`},
		{Config{Syslog: "tls://127.0.0.1:0"}, "tls:// needs a certificate"},
		{Config{Syslog: "127.0.0.1:99999"}, "syslog"},
	} {
		_, err := Start(context.Background(), c.cfg, func(*audit.Event) {})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.cfg, err, c.want)
		}
	}
}

// What is not syslog, or not Dovecot or Postfix, is counted and shown.
func TestUnparsedShown(t *testing.T) {
	in, col := start(t, Config{Syslog: "tcp://127.0.0.1:0"})
	tcp, _ := in.Addr()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "hello there\n"+
		"<13>Nov 27 00:54:33 mail sshd[1]: Accepted password for root\n"+
		"<22>Nov 27 00:54:33 mail postfix/smtpd[149]: connect from unknown[203.0.113.7]:51544\n"+
		"<13>"+strings.Repeat("x", MaxMessage+1)+"\n"+
		"<22>Nov 27 00:54:34 mail postfix/smtpd[149]: disconnect from unknown[203.0.113.7]:51544 ehlo=1 quit=1 commands=2\n")
	c.Close()
	// Broken framing ends that connection and is reported.
	c2, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c2, "12x <13>broken")
	c2.Close()
	for in.Stats().ConnErrors == 0 || in.Stats().Lines < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	in.Close()
	st := in.Stats()
	if len(col.evs) != 2 || st.Lines != 5 || st.Unparsed != 3 || st.Malformed != 2 || st.ConnErrors != 1 {
		t.Fatalf("%d events, stats %+v", len(col.evs), st)
	}
	var b strings.Builder
	st.Summary(&b)
	for _, want := range []string{"5 lines, 2 events, 3 lines not understood (2 not syslog)", "does not start with <PRI>): hello there",
		"sshd[1]: Accepted password", "message longer than", "frame length is not a number"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// Closing the context stops the Ingester as Close does.
func TestContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	in, err := Start(ctx, Config{Syslog: "tcp://127.0.0.1:0"}, func(*audit.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	tcp, _ := in.Addr()
	cancel()
	in.Close()
	if c, err := net.Dial("tcp", tcp.String()); err == nil {
		c.Close()
		t.Fatal("still listening after the context ended")
	}
}

// Postfix messages whose tag lost its daemon (rsyslog without
// parser.permitSlashInProgramName) are not understood, and the summary
// says what to change.
func TestPostfixTagHint(t *testing.T) {
	in, col := start(t, Config{Syslog: "tcp://127.0.0.1:0"})
	tcp, _ := in.Addr()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "<22>1 2026-11-27T00:54:33+00:00 mail postfix 149 - -  connect from unknown[203.0.113.7]:51544\n")
	fmt.Fprint(c, "<22>1 2026-11-27T00:54:33+00:00 mail postfix/smtpd 149 - -  connect from unknown[203.0.113.7]:51544\n")
	c.Close()
	waitLines(t, in, 2)
	in.Close()
	st := in.Stats()
	var b strings.Builder
	st.Summary(&b)
	if len(col.evs) != 1 || st.Unparsed != 1 || !strings.Contains(b.String(), `hint: Postfix messages arrive without their daemon`) {
		t.Errorf("%d events, summary:\n%s", len(col.evs), b.String())
	}
}

// Datagrams the kernel drops while the reader is behind are counted, not
// hidden: every datagram sent is either a line or a drop.
func TestUDPDropsCounted(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's drop count is read on Linux only")
	}
	release := make(chan struct{})
	c := &collector{}
	in, err := Start(context.Background(), Config{Syslog: "udp://127.0.0.1:0", Parser: opts}, func(e *audit.Event) {
		<-release // the parser is stuck: the socket buffer fills
		c.add(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	_, udp := in.Addr()
	conn, err := net.Dial("udp", udp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := "<22>Nov 27 00:54:33 mail postfix/submission/smtpd[149]: connect from unknown[203.0.113.7]:51544 " + strings.Repeat("x", 1000)
	sent := 0
	for in.Stats().UDPDropped == 0 && sent < 200000 {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	close(release)
	in.Close()
	st := in.Stats()
	if st.UDPDropped == 0 || st.Lines+st.UDPDropped != int64(sent) {
		t.Fatalf("sent %d: %d lines, %d dropped", sent, st.Lines, st.UDPDropped)
	}
	var b strings.Builder
	st.Summary(&b)
	if !strings.Contains(b.String(), "datagrams dropped by the kernel") {
		t.Errorf("summary hides the drops:\n%s", b.String())
	}
}
