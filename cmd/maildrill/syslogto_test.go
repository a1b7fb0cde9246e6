package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/internal/syslogsend"
	"github.com/maildrill/maildrill/mailsim/admin"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/scenarios/report"
	scenariorun "github.com/maildrill/maildrill/scenarios/run"
)

// rsyslog is Debian's rsyslogd, started by a test with its own
// configuration: TCP (and UDP) syslog on loopback, every message written
// to a file with its RFC 5424 header fields.
type rsyslog struct {
	cmd      *exec.Cmd
	out      string
	tcp, udp int
	exited   chan struct{}
}

// rsyslogdPath finds rsyslogd; CI installs it (apt-get install rsyslog),
// and MAILDRILL_REQUIRE_TOOLS=1 turns its absence into a failure.
func rsyslogdPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"rsyslogd", "/usr/sbin/rsyslogd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("MAILDRILL_REQUIRE_TOOLS") != "" {
		t.Fatal("rsyslogd not found: apt-get install rsyslog")
	}
	t.Skip("rsyslogd not found (apt-get install rsyslog)")
	return ""
}

// freeUDPPort is a loopback UDP port nobody uses right now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func startRsyslog(t *testing.T) *rsyslog {
	t.Helper()
	bin := rsyslogdPath(t)
	dir := t.TempDir()
	r := &rsyslog{out: filepath.Join(dir, "received.log"), udp: freeUDPPort(t), exited: make(chan struct{})}
	portFile := filepath.Join(dir, "tcp.port")
	conf := filepath.Join(dir, "rsyslog.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`
global(workDirectory=%q maxMessageSize="64k")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName=%q)
input(type="imudp" address="127.0.0.1" port="%d")
template(name="fields" type="string" string="%%timereported:::date-rfc3339%% %%hostname%% %%app-name%% %%procid%% %%syslogseverity-text%% %%msg%%\n")
action(type="omfile" file=%q template="fields")
`, dir, portFile, r.udp, r.out)), 0o644))
	check, err := exec.Command(bin, "-N1", "-f", conf).CombinedOutput()
	require.NoError(t, err, "rsyslogd -N1: %s", check)
	r.cmd = exec.Command(bin, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var logs syncBuffer
	r.cmd.Stdout, r.cmd.Stderr = &logs, &logs
	require.NoError(t, r.cmd.Start())
	go func() { r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(portFile)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			r.tcp, err = strconv.Atoi(string(bytes.TrimSpace(b)))
			require.NoError(t, err)
			return r
		}
		select {
		case <-r.exited:
			t.Fatalf("rsyslogd exited: %s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd did not listen: %s", logs.String())
		}
	}
}

// lines are the messages rsyslog has written so far.
func (r *rsyslog) lines(t *testing.T) []string {
	b, err := os.ReadFile(r.out)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// waitLines waits until rsyslog has written n messages (bounded, not
// timed: the count is what is checked).
func (r *rsyslog) waitLines(t *testing.T, n int) []string {
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := r.lines(t)
		if len(l) >= n || time.Now().After(deadline) {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trailRecords renders the audit trail of an events log as the mail-log
// records of audit.SyslogRecords, in order.
func trailRecords(t *testing.T, events string) []audit.SyslogRecord {
	f, err := os.Open(events)
	require.NoError(t, err)
	defer f.Close()
	var recs []audit.SyslogRecord
	require.NoError(t, admin.ReadEvents(bufio.NewReader(f), events, func(e audit.Event) error {
		recs = append(recs, audit.SyslogRecords(&e, audit.SyslogOptions{})...)
		return nil
	}))
	return recs
}

var accountRE = regexp.MustCompile(`syslog-to (\S+): (\d+) lines delivered, (\d+) lost`)

// account reads the sender's account from stderr.
func account(t *testing.T, stderr string) (delivered, lost int) {
	m := accountRE.FindStringSubmatch(stderr)
	require.NotNil(t, m, "no syslog-to account on stderr:\n%s", stderr)
	t.Log(strings.TrimSpace(stderr[strings.Index(stderr, m[0]):]))
	delivered, _ = strconv.Atoi(m[2])
	lost, _ = strconv.Atoi(m[3])
	return
}

// The flagship's whole audit trail reaches rsyslog over TCP: as many
// messages as the trail has mail-log lines, each the same line (time,
// host, program, process id, message), in order, and none lost.
func TestSyslogToRsyslog(t *testing.T) {
	rs := startRsyslog(t)
	dir := t.TempDir()
	events := filepath.Join(dir, "ev.jsonl")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"run", "ministry-overnight", "-q", "--events", events,
		"--syslog-to", fmt.Sprintf("tcp://127.0.0.1:%d", rs.tcp)}, &out, &errb)
	require.NoError(t, err, "%s\n%s", out.String(), errb.String())
	recs := trailRecords(t, events)
	require.Greater(t, len(recs), 5000, "the flagship's trail")
	delivered, lost := account(t, errb.String())
	assert.Equal(t, len(recs), delivered)
	assert.Zero(t, lost)
	assert.Contains(t, errb.String(), fmt.Sprintf("syslog-to tcp://127.0.0.1:%d: %d lines delivered, 0 lost\n", rs.tcp, len(recs)))

	got := rs.waitLines(t, len(recs))
	require.Len(t, got, len(recs), "messages rsyslog wrote")
	for i, rec := range recs {
		f := strings.SplitN(got[i], " ", 6)
		require.Len(t, f, 6, got[i])
		ts, err := time.Parse(time.RFC3339Nano, f[0])
		require.NoError(t, err, got[i])
		assert.True(t, ts.Equal(rec.Time.Truncate(time.Microsecond)), "line %d: time %s, want %s", i+1, f[0], rec.Time)
		proc := rec.ProcID
		if proc == "" {
			proc = "-"
		}
		sev := "info"
		if strings.HasPrefix(rec.Msg, "warning: ") {
			sev = "warning"
		}
		want := []string{rec.Host, rec.App, proc, sev, rec.Msg}
		if !assert.Equal(t, want, f[1:], "line %d", i+1) {
			break
		}
	}
}

// Stopping the receiver half-way: the run still finishes and judges, and
// the account says how many lines were lost; delivered and lost add up to
// the trail, and rsyslog has at most the delivered ones.
func TestSyslogToReceiverKilled(t *testing.T) {
	rs := startRsyslog(t)
	dir := t.TempDir()
	events := filepath.Join(dir, "ev.jsonl")
	var out, errb bytes.Buffer
	repFile := filepath.Join(dir, "report.json")
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"run", "ministry-overnight", "-q", "--events", events, "--syslog-buffer", "500", "--json", repFile,
			"--syslog-to", fmt.Sprintf("tcp://127.0.0.1:%d", rs.tcp)}, &out, &errb)
	}()
	// Kill rsyslog once the first messages are in (the trail has
	// thousands: the run is far from over).
	for len(rs.lines(t)) < 100 {
		select {
		case err := <-done:
			t.Fatalf("the run ended before rsyslog had 100 messages: %v\n%s", err, errb.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	require.NoError(t, rs.cmd.Process.Signal(syscall.SIGKILL))
	<-rs.exited
	require.NoError(t, <-done, "%s\n%s", out.String(), errb.String())
	assert.Contains(t, out.String(), "MET", "the run judged its expectations")

	recs := trailRecords(t, events)
	delivered, lost := account(t, errb.String())
	assert.Positive(t, lost, errb.String())
	assert.Equal(t, len(recs), delivered+lost, errb.String())
	assert.LessOrEqual(t, len(rs.lines(t)), delivered)
	// The JSON report carries the same account.
	b, err := os.ReadFile(repFile)
	require.NoError(t, err)
	rep, err := report.ReadJSON(bytes.NewReader(b))
	require.NoError(t, err)
	require.NotNil(t, rep.SyslogTo)
	assert.Equal(t, int64(delivered), rep.SyslogTo.Delivered)
	assert.Equal(t, int64(lost), rep.SyslogTo.Lost)
	assert.Equal(t, rep.SyslogTo.Lost, rep.SyslogTo.LostBufferFull+rep.SyslogTo.LostUnsent+rep.SyslogTo.LostTooLarge)
	assert.Equal(t, int64(len(recs)), rep.SyslogTo.Sent)
	assert.Regexp(t, `\d+ lost \(\d+ dropped from the full buffer; \d+ still buffered when sending stopped; .*last error: .*(refused|reset|closed)`, errb.String())
}

// UDP: a smaller scenario, every line a datagram that rsyslog receives.
func TestSyslogToRsyslogUDP(t *testing.T) {
	rs := startRsyslog(t)
	syslogToSmallRun(t, rs, fmt.Sprintf("udp://127.0.0.1:%d", rs.udp))
}

// The container target's trail, streamed out of the container, goes the
// same way (MAILDRILL_DOCKER=1: a Docker daemon).
func TestSyslogToDockerTarget(t *testing.T) {
	if os.Getenv("MAILDRILL_DOCKER") != "1" {
		t.Skip("set MAILDRILL_DOCKER=1 (a Docker daemon) to run the docker target")
	}
	rs := startRsyslog(t)
	syslogToSmallRun(t, rs, fmt.Sprintf("tcp://127.0.0.1:%d", rs.tcp), "--target", "docker")
}

// syslogToSmallRun runs brute-force with --syslog-to url: rsyslog gets
// every line of its trail, in order, none lost.
func syslogToSmallRun(t *testing.T, rs *rsyslog, url string, extra ...string) {
	dir := t.TempDir()
	events := filepath.Join(dir, "ev.jsonl")
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"run", "brute-force", "-q", "--events", events, "--syslog-to", url}, extra...), &out, &errb)
	require.NoError(t, err, "%s\n%s", out.String(), errb.String())
	recs := trailRecords(t, events)
	require.NotEmpty(t, recs)
	delivered, lost := account(t, errb.String())
	assert.Equal(t, len(recs), delivered)
	assert.Zero(t, lost)
	got := rs.waitLines(t, len(recs))
	require.Len(t, got, len(recs))
	for i, rec := range recs {
		assert.Contains(t, got[i], " "+rec.Host+" "+rec.App+" ", "line %d", i+1)
		assert.True(t, strings.HasSuffix(got[i], " "+rec.Msg), "line %d: %s", i+1, got[i])
	}
}

// Bad --syslog-* flags are bad input: exit 2, the flag named, before any run.
func TestSyslogToBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--syslog-to", "127.0.0.1:514"}, "--syslog-to: \"127.0.0.1:514\" has no scheme"},
		{[]string{"--syslog-to", "http://127.0.0.1:514"}, `--syslog-to: scheme "http": want udp, tcp or tls`},
		{[]string{"--syslog-to", "tcp://127.0.0.1"}, "has no port"},
		{[]string{"--syslog-to", "tcp://127.0.0.1:514", "--syslog-insecure"}, "--syslog-insecure: skipping certificate checks is for tls://"},
		{[]string{"--syslog-to", "tls://127.0.0.1:6514", "--syslog-ca", "/nonexistent.pem"}, "--syslog-ca: open /nonexistent.pem"},
		{[]string{"--syslog-ca", "ca.pem"}, "need --syslog-to"},
		{[]string{"--syslog-to", "tcp://127.0.0.1:514", "--syslog-buffer", "0"}, "--syslog-buffer 0"},
	} {
		for _, cmd := range []string{"run", "test"} {
			var out, errb bytes.Buffer
			err := run(context.Background(), append([]string{cmd, "brute-force"}, c.args...), &out, &errb)
			require.Error(t, err, c.args)
			assert.Equal(t, exitBadInput, exitCode(err, &errb), c.args)
			assert.Contains(t, err.Error(), c.msg)
			assert.NotContains(t, errb.String(), "▶", "no run started")
		}
	}
}

// Postfix's warnings keep their severity on the wire; the rest is
// informational, as Dovecot and Postfix log it.
func TestSyslogSeverity(t *testing.T) {
	ev := audit.Event{Timestamp: time.Now(), ServiceType: "smtp", ServiceName: "submission", SessionID: "s", SourceIP: "203.0.113.9",
		Action: audit.SMTPAuth, Outcome: audit.Failure, AuthMechanism: "PLAIN", UserName: "x@y"}
	recs := audit.SyslogRecords(&ev, audit.SyslogOptions{})
	require.Len(t, recs, 1)
	m := scenariorun.SyslogMessage(recs[0])
	assert.True(t, m.HasSeverity)
	assert.Equal(t, syslogsend.SeverityWarn, m.Severity)
	assert.Contains(t, string(syslogsend.Format(m, syslogsend.FacilityMail)), "<20>1 ")
	ev.Action, ev.Outcome = audit.SMTPConnect, audit.Success
	m = scenariorun.SyslogMessage(audit.SyslogRecords(&ev, audit.SyslogOptions{})[0])
	assert.Contains(t, string(syslogsend.Format(m, syslogsend.FacilityMail)), "<22>1 ")
}

// serve streams its audit trail too: a login, a wrong password and the
// logouts reach rsyslog as Dovecot lines, every one accounted for at exit.
func TestServeSyslogTo(t *testing.T) {
	rs := startRsyslog(t)
	dir := t.TempDir()
	accounts := filepath.Join(dir, "accounts.json")
	imaps := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--imap", "off", "--imaps", imaps, "--submission", "off", "--mx", "off", "--admin", "off",
			"--users", "5", "--messages", "10", "--accounts", accounts, "--cert-dir", filepath.Join(dir, "certs"),
			"--syslog-to", fmt.Sprintf("tcp://127.0.0.1:%d", rs.tcp)}, &out, &errb)
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Ctrl-C to stop") }, 20*time.Second, 20*time.Millisecond, "banner: %s %s", out.String(), errb.String())
	b, err := os.ReadFile(accounts)
	require.NoError(t, err)
	var accs []map[string]any
	require.NoError(t, json.Unmarshal(b, &accs))
	user, pass := accs[0]["address"].(string), accs[0]["password"].(string)
	ca := loadCA(t, filepath.Join(dir, "certs", "ca.pem"))
	c, err := imapclient.DialTLS(imaps, &imapclient.Options{TLSConfig: ca})
	require.NoError(t, err)
	require.Error(t, c.Login(user, "wrong").Wait())
	c.Close()
	c, err = imapclient.DialTLS(imaps, &imapclient.Options{TLSConfig: ca})
	require.NoError(t, err)
	require.NoError(t, c.Login(user, pass).Wait())
	require.NoError(t, c.Logout().Wait())
	c.Close()
	cancel()
	require.NoError(t, <-done, errb.String())

	delivered, lost := account(t, errb.String())
	assert.Zero(t, lost)
	got := rs.waitLines(t, delivered)
	require.Len(t, got, delivered)
	all := strings.Join(got, "\n")
	assert.NotContains(t, all, " warning ", "Dovecot logs its auth failures at info")
	for _, want := range []string{
		"dovecot - info auth: passwd-file(" + user,
		"dovecot - info imap-login: Login: user=<" + user + ">",
		"dovecot - info imap(" + user + ")",
	} {
		assert.Contains(t, all, want)
	}
}

// serve runs for hours: a receiver that is not there is told at once on
// stderr, not only at exit, and when it comes up the waiting lines reach it.
func TestServeSyslogToLateReceiver(t *testing.T) {
	dir := t.TempDir()
	accounts := filepath.Join(dir, "accounts.json")
	imaps, sink := freeAddr(t), freeAddr(t) // nothing listens on sink yet
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--imap", "off", "--imaps", imaps, "--submission", "off", "--mx", "off", "--admin", "off",
			"--users", "5", "--messages", "10", "--accounts", accounts, "--cert-dir", filepath.Join(dir, "certs"),
			"--syslog-to", "tcp://" + sink}, &out, &errb)
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Ctrl-C to stop") }, 20*time.Second, 20*time.Millisecond, "banner: %s %s", out.String(), errb.String())
	b, err := os.ReadFile(accounts)
	require.NoError(t, err)
	var accs []map[string]any
	require.NoError(t, json.Unmarshal(b, &accs))
	user, pass := accs[0]["address"].(string), accs[0]["password"].(string)
	c, err := imapclient.DialTLS(imaps, &imapclient.Options{TLSConfig: loadCA(t, filepath.Join(dir, "certs", "ca.pem"))})
	require.NoError(t, err)
	require.NoError(t, c.Login(user, pass).Wait())
	require.Eventually(t, func() bool { return strings.Contains(errb.String(), "syslog-to tcp://"+sink+": cannot connect (") },
		20*time.Second, 10*time.Millisecond, "stderr: %s", errb.String())
	assert.Contains(t, errb.String(), "connection refused); retrying, lines wait in the buffer (10000 at most, then the oldest are dropped)")

	ln, err := net.Listen("tcp", sink)
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- ""
			return
		}
		b, _ := io.ReadAll(conn) // until serve closes the connection at exit
		got <- string(b)
	}()
	require.Eventually(t, func() bool { return strings.Contains(errb.String(), "syslog-to tcp://"+sink+": connected again") },
		20*time.Second, 10*time.Millisecond, "stderr: %s", errb.String())
	require.NoError(t, c.Logout().Wait())
	c.Close()
	cancel()
	require.NoError(t, <-done, errb.String())
	delivered, lost := account(t, errb.String())
	assert.Zero(t, lost)
	stream := <-got
	assert.Equal(t, delivered, strings.Count(stream, "<22>1 "), "every delivered line arrived")
	assert.Contains(t, stream, " mail dovecot - - - imap-login: Login: user=<"+user+">")
	assert.Contains(t, stream, "Logged out")
}
