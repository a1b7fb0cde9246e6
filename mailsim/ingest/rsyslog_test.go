package ingest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/dovecot"
)

// rsyslogd is Debian's rsyslog daemon, or the test is skipped (failed
// under MAILDRILL_REQUIRE_TOOLS=1).
func rsyslogd(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/rsyslogd", "rsyslogd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("MAILDRILL_REQUIRE_TOOLS") != "" {
		t.Fatal("rsyslogd not found (apt-get install rsyslog) and MAILDRILL_REQUIRE_TOOLS is set")
	}
	t.Skip("rsyslogd not found (apt-get install rsyslog)")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syslogLine is a captured log line as Dovecot and Postfix send it to
// syslog: Dovecot under its ident "dovecot" with the process in the
// message, Postfix under its own tag; no log level (syslog has severity).
func syslogLine(t *testing.T, l string) string {
	ts, host, tag, msg := split(t, l)
	if host == "" {
		host = "mail"
	}
	if !strings.HasPrefix(tag, "postfix") {
		msg = tag + ": " + msg
		tag = "dovecot"
	}
	return fmt.Sprintf("<22>%s %s %s: %s", ts.Format(time.Stamp), host, tag, msg)
}

// TestRsyslog: Debian's rsyslogd, started here with its own configuration,
// reads the captured Dovecot and Postfix lines two ways — imfile on a log
// file, and imtcp as the mail servers' syslog would send them — and
// forwards each over TCP to an Ingester in RFC 5424
// (RSYSLOG_SyslogProtocol23Format, octet-counted) and in the traditional
// forward format (newline framing). Each Ingester gives exactly the events
// ParseAll gives for the lines, and counts as not understood exactly the
// lines the parser does not know.
func TestRsyslog(t *testing.T) {
	bin := rsyslogd(t)
	lines := captured(t)
	// The lines are restamped with today's date, keeping their time of
	// day, as a mail server's syslog would send them now. A line without
	// a year gets it from rsyslogd (the current year, or last year's for
	// December read in January) on the RFC 5424 paths, and from the parser
	// (the latest year not more than a week ahead) on the others: for
	// lines of today the two agree; for the captured November lines read
	// between January and November they would not.
	today := time.Now().Format("Jan _2")
	for i, l := range lines {
		lines[i] = today + l[len(today):]
	}
	o := dovecot.Options{Now: time.Now, Location: time.UTC}
	evs, err := dovecot.ParseAll(strings.NewReader(strings.Join(lines, "\n")), dovecot.NewParser(o))
	if err != nil {
		t.Fatal(err)
	}
	want := jsonEvents(evs)
	unknown := 0
	p := dovecot.NewParser(o)
	for _, l := range lines {
		if evs, known := p.ParseLine(l); len(evs) == 0 && !known {
			unknown++
		}
	}

	type sink struct {
		name string
		in   *Ingester
		col  *collector
	}
	var sinks []sink
	for _, name := range []string{"file-rfc5424", "file-traditional", "tcp-rfc5424", "tcp-traditional"} {
		in, col := start(t, Config{Syslog: "tcp://127.0.0.1:0", Parser: o})
		sinks = append(sinks, sink{name, in, col})
	}
	port := func(i int) int { tcp, _ := sinks[i].in.Addr(); return tcp.(*net.TCPAddr).Port }

	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "mail.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	inPort := freePort(t)
	fwd := func(p int, template, framing string) string {
		return fmt.Sprintf(`action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" tcp_framing="%s" template="%s"
    action.resumeRetryCount="-1" action.resumeInterval="1")`, p, framing, template)
	}
	// parser.permitSlashInProgramName keeps Postfix's tag whole
	// ("postfix/submission/smtpd", not "postfix") in RFC 5424's APP-NAME;
	// TestPostfixTagHint shows what happens without it.
	conf := fmt.Sprintf(`global(workDirectory="%s" maxMessageSize="64k" net.enableDNS="off" parser.permitSlashInProgramName="on")
main_queue(queue.type="direct")
module(load="imfile")
module(load="imtcp")
input(type="imfile" file="%s" tag="maillog:" ruleset="file")
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="net")
ruleset(name="file") {
  %s
  %s
}
ruleset(name="net") {
  %s
  %s
}
`, work, logFile, inPort,
		fwd(port(0), "RSYSLOG_SyslogProtocol23Format", "octet-counted"), fwd(port(1), "RSYSLOG_TraditionalForwardFormat", "traditional"),
		fwd(port(2), "RSYSLOG_SyslogProtocol23Format", "octet-counted"), fwd(port(3), "RSYSLOG_TraditionalForwardFormat", "traditional"))
	confFile := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-N1", "-f", confFile).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1: %v\n%s", err, out)
	}
	var out strings.Builder
	cmd := exec.Command(bin, "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	// Feed rsyslog once its TCP input listens.
	var c net.Conn
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", inPort)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd's imtcp does not listen: %v\n%s", err, out.String())
		}
	}
	defer c.Close()
	for _, l := range lines {
		if _, err := fmt.Fprintf(c, "%s\n", syslogLine(t, l)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	for _, s := range sinks {
		for deadline := time.Now().Add(30 * time.Second); s.in.Stats().Lines < int64(len(lines)); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d lines arrived\nrsyslogd: %s", s.name, s.in.Stats().Lines, len(lines), out.String())
			}
		}
	}
	for _, s := range sinks {
		s.in.Close()
		same(t, s.name, s.col.evs, want)
		st := s.in.Stats()
		if st.Lines != int64(len(lines)) || st.Unparsed != int64(unknown) || st.Malformed != 0 || st.ConnErrors != 0 {
			t.Errorf("%s: stats %+v, want %d lines, %d not understood", s.name, st, len(lines), unknown)
		}
	}
}
