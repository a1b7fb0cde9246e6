package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/certs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failedLogins are the lines Dovecot logs for n failed logins of one
// account, each in its own session.
func failedLogins(n int, user string) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("Dec 11 23:%02d:%02d mail dovecot: imap-login: Disconnected: Aborted login by logging out (auth failed, 1 attempts in 2 secs): user=<%s>, method=PLAIN, rip=203.0.113.7, rport=%d, lip=10.20.0.25, lport=143, session=<s%d>", 40+i/60, i%60, user, 40000+i, i))
	}
	return out
}

// TestIngestCommand: syslog over TCP and a followed file feed the rule
// pack; the brute force fires, alerts and events are written, and what is
// not understood is counted and shown at the end.
func TestIngestCommand(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "mail.log")
	require.NoError(t, os.WriteFile(logFile, nil, 0o644))
	alerts, events := filepath.Join(dir, "alerts.jsonl"), filepath.Join(dir, "events.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"ingest", "--syslog", "tcp://127.0.0.1:0", "--file", logFile, "--from-start",
			"--log-tz", "UTC", "--alerts", alerts, "--events", events, "--run-id", "md-7"}, &stdout, &stderr)
	}()
	var addr string
	re := regexp.MustCompile(`ingest: tcp (127\.0\.0\.1:\d+), following `)
	for deadline := time.Now().Add(20 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no listening line: %s", stderr.String())
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
	}
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	lines := failedLogins(12, "noemie.baron@interieur.test")
	for _, l := range lines[:8] {
		fmt.Fprintf(c, "<38>%s\n", l)
	}
	fmt.Fprint(c, "not syslog at all\n")
	require.NoError(t, c.Close())
	require.NoError(t, os.WriteFile(logFile, []byte(strings.Join(lines[8:], "\n")+"\nDec 11 23:59:00 mail sshd[9]: Accepted password for root\n"), 0o644))
	// The file's lines are read within a poll; then stop as Ctrl-C would.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stdout.String(), "IMAP Brute Force Against One Account"); time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no alert: %s\n%s", stdout.String(), stderr.String())
	}
	cancel()
	require.NoError(t, <-done)

	out := stdout.String()
	var a struct {
		Title    string   `json:"rule.title"`
		EventIDs []string `json:"event.ids"`
	}
	first, _, _ := strings.Cut(out, "\n")
	require.NoError(t, json.Unmarshal([]byte(first), &a), out)
	b, err := os.ReadFile(alerts)
	require.NoError(t, err)
	assert.Equal(t, out, string(b), "--alerts holds what stdout printed")
	b, err = os.ReadFile(events)
	require.NoError(t, err)
	evLines := strings.Split(strings.TrimSpace(string(b)), "\n")
	assert.Len(t, evLines, 24, "a failed login and a logout per line")
	assert.Contains(t, evLines[0], `"event.id":"md-7-1"`)
	assert.Contains(t, evLines[0], `"labels.run_id":"md-7"`)
	for _, id := range a.EventIDs {
		assert.Contains(t, string(b), `"event.id":"`+id+`"`, "the alert's events are in --events")
	}
	se := stderr.String()
	assert.Contains(t, se, "ingest: 14 lines, 24 events, 2 lines not understood (1 not syslog)")
	assert.Contains(t, se, "not syslog at all")
	assert.Contains(t, se, "sshd[9]: Accepted password")
	assert.Regexp(t, `ingest: [1-9]\d* alerts`, se)
}

func TestIngestBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ingest"}, "give --syslog ADDR or --file PATH"},
		{[]string{"ingest", "--syslog", "localhost"}, "--syslog: syslog address \"localhost\": want HOST:PORT"},
		{[]string{"ingest", "--syslog", "ftp://127.0.0.1:1"}, `scheme "ftp"`},
		{[]string{"ingest", "--syslog", "tls://127.0.0.1:0"}, "tls:// needs --tls-cert and --tls-key"},
		{[]string{"ingest", "--syslog", "127.0.0.1:0", "--tls-cert", "c.pem"}, "serve a tls:// --syslog address only"},
		{[]string{"ingest", "--syslog", "tls://127.0.0.1:0", "--tls-cert", "nope.pem", "--tls-key", "nope.key"}, "--tls-cert nope.pem"},
		{[]string{"ingest", "--file", os.TempDir()}, "a directory, not a log file"},
		{[]string{"ingest", "--file", "x", "--log-tz", "Mars/Olympus"}, `--log-tz "Mars/Olympus"`},
		{[]string{"ingest", "--file", "x", "--placeholder", "oops"}, `--placeholder oops: want NAME=VALUE1,VALUE2`},
		{[]string{"ingest", "--file", "x", "--run-id", "two words"}, `--run-id "two words": no spaces`},
		{[]string{"ingest", "--file", "/dev/zero"}, `--file /dev/zero: a character device, not a log file`}, // read for ever: Ctrl-C could not stop it
		{[]string{"ingest", "--file", "x", "--rules", "/nonexistent/rules"}, "/nonexistent/rules"},
		{[]string{"ingest", "--file", "x", "--events", "/nonexistent/dir/e.jsonl"}, "--events"},
	} {
		var out, errb syncBuffer
		err := run(context.Background(), c.args, &out, &errb)
		require.Error(t, err, "%v", c.args)
		assert.Contains(t, err.Error(), c.want, "%v", c.args)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), "%v", c.args)
	}
}

// TestIngestTLS: tls:// with --tls-cert and --tls-key takes syslog from a
// client that verifies the certificate.
func TestIngestTLS(t *testing.T) {
	bundle, err := certs.Generate(t.TempDir(), nil, time.Now())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"ingest", "--syslog", "tls://127.0.0.1:0", "--tls-cert", bundle.CertFile, "--tls-key", bundle.KeyFile, "--log-tz", "UTC"}, &stdout, &stderr)
	}()
	var addr string
	re := regexp.MustCompile(`ingest: tls (127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(20 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no listening line: %s", stderr.String())
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
	}
	c, err := tls.Dial("tcp", addr, bundle.ClientConfig("localhost"))
	require.NoError(t, err)
	for _, l := range failedLogins(10, "gael.morin@interieur.test") {
		m := "<38>" + l
		fmt.Fprintf(c, "%d %s", len(m), m) // RFC 5425: octet counting
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stdout.String(), "IMAP Brute Force Against One Account"); time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no alert: %s\n%s", stdout.String(), stderr.String())
	}
	require.NoError(t, c.Close())
	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, stderr.String(), "ingest: 10 lines, 20 events, 0 lines not understood")
	assert.Contains(t, stderr.String(), "tls   10 lines, 20 events")
}

// TestIngestStopsOnSignal: the binary ends on SIGINT with exit 0 after
// reading what a still-open connection had sent, and prints its summary.
func TestIngestStopsOnSignal(t *testing.T) {
	bin := sharedCLI(t)
	cmd := exec.Command(bin, "ingest", "--syslog", "tcp://127.0.0.1:0", "--log-tz", "UTC")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.Stdout = io.Discard
	require.NoError(t, cmd.Start())
	w := watchLines(stderr)
	w.waitFor(t, "ingest: tcp 127.0.0.1:", 20*time.Second)
	addr := regexp.MustCompile(`ingest: tcp (127\.0\.0\.1:\d+)`).FindStringSubmatch(w.text())[1]
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	for _, l := range failedLogins(3, "gael.morin@interieur.test") {
		fmt.Fprintf(c, "<38>%s\n", l)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, exitOK, waitExit(t, cmd, 20*time.Second), w.text())
	<-w.done
	assert.Contains(t, w.text(), "ingest: 3 lines, 6 events, 0 lines not understood")
}

// TestIngestSaysWhenTheFileIsMissing: a --file that names nothing is
// followed (tail -F), but said on stderr: it used to wait in silence,
// a typo indistinguishable from a quiet server.
func TestIngestSaysWhenTheFileIsMissing(t *testing.T) {
	dir := t.TempDir()
	for path, want := range map[string]string{
		filepath.Join(dir, "mail.log"):          "mail.log does not exist yet: waiting for it",
		filepath.Join(dir, "nodir", "mail.log"): "does not exist, nor does its directory",
	} {
		var stdout, stderr syncBuffer
		err := run(context.Background(), []string{"ingest", "--file", path, "--deadline", "300ms"}, &stdout, &stderr)
		require.NoError(t, err, stderr.String())
		assert.Contains(t, stderr.String(), want)
	}
	var stdout, stderr syncBuffer
	existing := filepath.Join(dir, "there.log")
	require.NoError(t, os.WriteFile(existing, nil, 0o644))
	require.NoError(t, run(context.Background(), []string{"ingest", "--file", existing, "--deadline", "300ms"}, &stdout, &stderr))
	assert.NotContains(t, stderr.String(), "does not exist")
}
