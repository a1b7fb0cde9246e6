package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/maildrill/maildrill/internal/schedslice"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)

// sharedCLI builds the binary once for the process-level tests of this file.
func sharedCLI(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "maildrill-cli-")
		if err != nil {
			cliErr = err
			return
		}
		cliBin = filepath.Join(dir, "maildrill")
		out, err := exec.Command("go", "build", "-o", cliBin, ".").CombinedOutput()
		if err != nil {
			cliErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cliBin != "" {
		os.RemoveAll(filepath.Dir(cliBin))
	}
	os.Exit(code)
}

// lineWatcher collects a process's output lines and tells when one matches.
type lineWatcher struct {
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

// startFed starts cmd with a pipe to its stdin and its stdout and stderr
// watched line by line.
func startFed(t *testing.T, cmd *exec.Cmd) (io.WriteCloser, *lineWatcher) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	pr, pw, _ := os.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	pw.Close()
	return stdin, watchLines(pr)
}

func watchLines(r io.Reader) *lineWatcher {
	w := &lineWatcher{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *lineWatcher) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

func (w *lineWatcher) waitFor(t *testing.T, what string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(w.text(), what) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%q never printed; output so far:\n%s", what, w.text())
}

// waitOpeningFIFO waits until one of the process's threads is blocked
// opening a FIFO that has no writer (the kernel's wait_for_partner): the
// command is then past its start-up, signal handling included, whatever
// the machine's load.
func waitOpeningFIFO(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		wchans, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
		for _, f := range wchans {
			if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == "wait_for_partner" {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never blocked opening the FIFO", pid)
}

// waitExit waits for cmd to end (failing after timeout, which only guards
// against a hang) and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, timeout time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not exit within %s", cmd.Args, timeout)
		return -1
	}
}

// TestListClosedStdoutIsQuiet: `maildrill list | head -1` ends with exit 0
// and says nothing about a broken pipe, as Unix tools do.
func TestListClosedStdoutIsQuiet(t *testing.T) {
	bin := sharedCLI(t)
	for _, args := range [][]string{{"list"}, {"rules", "list"}, {"show", "ministry-overnight"}} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			cmd := exec.Command(bin, args...)
			cmd.Dir = "../.."
			pr, pw, err := os.Pipe()
			require.NoError(t, err)
			cmd.Stdout = pw
			var stderr strings.Builder
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			pw.Close()
			// Read one line, then go away, as head -1 does.
			line, err := bufio.NewReader(pr).ReadString('\n')
			require.NoError(t, err)
			require.NotEmpty(t, strings.TrimSpace(line))
			pr.Close()
			code := waitExit(t, cmd, 30*time.Second)
			require.Equal(t, 0, code, "stderr: %s", stderr.String())
			require.NotContains(t, stderr.String(), "broken pipe")
		})
	}
}

// startServe starts `maildrill serve` on ephemeral loopback ports and
// returns the process, its output and the listeners' addresses.
func startServe(t *testing.T, extra ...string) (*exec.Cmd, *lineWatcher, map[string]string) {
	t.Helper()
	return startServeEnv(t, nil, extra...)
}

// startServeEnv is startServe with env added to the process's environment.
func startServeEnv(t *testing.T, env []string, extra ...string) (*exec.Cmd, *lineWatcher, map[string]string) {
	t.Helper()
	bin := sharedCLI(t)
	dir := t.TempDir()
	args := append([]string{"serve", "--users", "3", "--messages", "10", "--cert-dir", filepath.Join(dir, "certs"),
		"--imap", "127.0.0.1:0", "--imaps", "127.0.0.1:0", "--submission", "127.0.0.1:0", "--mx", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--accounts", filepath.Join(dir, "accounts.json")}, extra...)
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	pw.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	w := watchLines(pr)
	w.waitFor(t, "Ctrl-C to stop", 60*time.Second)
	addrs := map[string]string{}
	re := regexp.MustCompile(`(?m)^\s+(IMAPS|IMAP|submission|MX|admin API)\s+(127\.0\.0\.1:\d+)`)
	for _, m := range re.FindAllStringSubmatch(w.text(), -1) {
		addrs[m[1]] = m[2]
	}
	require.Len(t, addrs, 5, "banner: %s", w.text())
	if m := regexp.MustCompile(`admin token: (\S+)`).FindStringSubmatch(w.text()); m != nil {
		addrs["token"] = m[1]
	}
	addrs["ca"] = filepath.Join(dir, "certs", "ca.pem")
	addrs["accounts"] = filepath.Join(dir, "accounts.json")
	return cmd, w, addrs
}

// resetAfter connects to addr, writes what, then resets the connection
// (RST, not FIN) while the server is still answering.
func resetAfter(t *testing.T, addr, what string, tlsCfg *tls.Config) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	tc := c.(*net.TCPConn)
	var conn net.Conn = c
	if tlsCfg != nil {
		tlc := tls.Client(c, tlsCfg)
		tlc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tlc.Handshake(); err != nil {
			t.Fatalf("TLS handshake with %s: %v", addr, err)
		}
		conn = tlc
	}
	if what != "" {
		conn.Write([]byte(what))
	}
	tc.SetLinger(0)
	tc.Close()
}

// TestServeSurvivesClientResets: clients that reset their connections in
// every state, on every listener, end only their own sessions. Before,
// the server's write to a reset socket raised SIGPIPE, which serve took
// for the operator's signal and shut everything down.
func TestServeSurvivesClientResets(t *testing.T) {
	cmd, w, addrs := startServe(t)
	caCfg := loadCA(t, addrs["ca"])
	caCfg.ServerName = "localhost"
	flood := func(n int) string { return strings.Repeat("NOOP\r\n", n) }
	for round := 0; round < 20; round++ {
		resetAfter(t, addrs["MX"], "", nil)
		resetAfter(t, addrs["MX"], "EHLO x\r\n"+flood(200)+"QUIT\r\n", nil)
		resetAfter(t, addrs["submission"], "EHLO x\r\nSTARTTLS\r\n", nil)
		resetAfter(t, addrs["submission"], "EHLO x\r\n"+flood(200), nil)
		resetAfter(t, addrs["IMAP"], strings.Repeat("a NOOP\r\n", 200)+"b LOGOUT\r\n", nil)
		resetAfter(t, addrs["IMAPS"], strings.Repeat("a CAPABILITY\r\n", 200)+"b LOGOUT\r\n", caCfg)
		resetAfter(t, addrs["admin API"], "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", nil)
	}
	// A reset in the middle of a FETCH literal, and on the admin API's
	// event stream, while the server is writing to them.
	b, err := os.ReadFile(addrs["accounts"])
	require.NoError(t, err)
	user := regexp.MustCompile(`"address": "([^"]+)"`).FindSubmatch(b)
	pass := regexp.MustCompile(`"password": "([^"]+)"`).FindSubmatch(b)
	require.NotNil(t, user)
	for round := 0; round < 5; round++ {
		resetAfter(t, addrs["IMAPS"], fmt.Sprintf("a LOGIN %q %q\r\nb SELECT INBOX\r\nc FETCH 1:* BODY.PEEK[]\r\n", user[1], pass[1]), caCfg)
		resetAfter(t, addrs["admin API"], "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+addrs["token"]+"\r\n\r\n", nil)
	}
	time.Sleep(300 * time.Millisecond) // let the server write into the dead sockets
	require.Nil(t, cmd.ProcessState, "serve exited:\n%s", w.text())
	require.NotContains(t, w.text(), "shutting down")

	// Still serving: an IMAP session works end to end.
	c, err := imapclient.DialTLS(addrs["IMAPS"], &imapclient.Options{TLSConfig: caCfg})
	require.NoError(t, err)
	require.NoError(t, c.Login(string(user[1]), string(pass[1])).Wait())
	_, err = c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	require.NoError(t, c.Logout().Wait())

	// The operator still stops it.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, waitExit(t, cmd, 30*time.Second), w.text())
	require.Contains(t, w.text(), "shutting down")
}

// TestRulesEvalStopsOnSignal: Ctrl-C, SIGTERM and --deadline stop `rules
// eval` reading a pipe that never ends, saying what it evaluated.
func TestRulesEvalStopsOnSignal(t *testing.T) {
	bin := sharedCLI(t)
	hupNotIgnored()
	ev := `{"@timestamp":"2025-12-11T23:40:00+01:00","event.action":"imap.login","event.outcome":"failure","source.ip":"203.0.113.9","user.name":"a@interieur.test"}` + "\n"
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		args []string
	}{
		{"SIGINT", syscall.SIGINT, nil},
		{"SIGTERM", syscall.SIGTERM, nil},
		{"SIGHUP", syscall.SIGHUP, nil}, // the terminal closed: it killed the process, nothing cleaned up
		{"deadline", 0, []string{"--deadline", "500ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"rules", "eval", "-"}, tc.args...)...)
			stdin, w := startFed(t, cmd)
			defer stdin.Close()
			for i := 0; i < 3000; i++ { // a few batches, then the producer goes quiet
				_, err := io.WriteString(stdin, ev)
				require.NoError(t, err)
			}
			time.Sleep(300 * time.Millisecond)
			if tc.sig != 0 {
				require.NoError(t, cmd.Process.Signal(tc.sig))
			}
			code := waitExit(t, cmd, 20*time.Second)
			<-w.done
			require.Equal(t, exitBadInput, code, w.text())
			require.Regexp(t, `stopped at line \d+ of stdin: \d+ events evaluated`, w.text())
		})
	}
}

// TestServeAuditLogFull: with the audit log on a full disk, serve says so
// at once, stops (default --on-audit-error stop) and does not claim the
// events it lost; with --on-audit-error warn it keeps serving and reports
// the loss at exit.
func TestServeAuditLogFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	for _, mode := range []string{"stop", "warn"} {
		t.Run(mode, func(t *testing.T) {
			cmd, w, addrs := startServe(t, "--events", "/dev/full", "--on-audit-error", mode)
			// A few sessions make events; the first write fails.
			for i := 0; i < 3; i++ {
				c, err := net.Dial("tcp", addrs["IMAP"])
				if err == nil {
					c.Write([]byte("a LOGOUT\r\n"))
					io.Copy(io.Discard, c)
					c.Close()
				}
			}
			w.waitFor(t, "AUDIT LOG WRITE FAILED", 20*time.Second)
			if mode == "stop" {
				code := waitExit(t, cmd, 30*time.Second)
				require.Equal(t, exitBadInput, code, w.text())
			} else {
				require.Nil(t, cmd.ProcessState, "warn keeps serving")
				c, err := net.Dial("tcp", addrs["IMAP"])
				require.NoError(t, err, "still serving")
				c.Close()
				require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
				waitExit(t, cmd, 30*time.Second)
			}
			<-w.done
			require.Regexp(t, `only 0 written to /dev/full: \d+ LOST \(.*no space left on device`, w.text())
			require.NotRegexp(t, `stopped; \d+ audit events recorded\n`, w.text())
		})
	}
}

// TestAnyCommandStopsOnSignal: a command that does not watch for a stop
// itself (replay, here blocked opening a FIFO nobody writes) still ends
// on Ctrl-C or --deadline, saying it was stopped, instead of ignoring the
// signal until SIGKILL.
func TestAnyCommandStopsOnSignal(t *testing.T) {
	bin := sharedCLI(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "events.jsonl")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	for _, tc := range []struct {
		name string
		sig  bool
		args []string
	}{
		{"SIGINT", true, nil},
		{"deadline", false, []string{"--deadline", "300ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"replay", "--events", fifo, "--truth", fifo, "ministry-overnight"}, tc.args...)...)
			cmd.Dir = "../.."
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			require.NoError(t, cmd.Start())
			if tc.sig {
				waitOpeningFIFO(t, cmd.Process.Pid, 20*time.Second)
				require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
			}
			code := waitExit(t, cmd, 20*time.Second)
			require.Equal(t, exitBadInput, code, out.String())
			require.Contains(t, out.String(), "maildrill replay stopped")
		})
	}
}

// serve runs with spare Ps (twice the default, at least 8) and as many bulk
// writers as the default's cores unless GOMAXPROCS is set (then the
// writers are GOMAXPROCS−1, at least 1), and says so with -v.
func TestServeSpareP(t *testing.T) {
	re := regexp.MustCompile(`msg=scheduler gomaxprocs=(\d+) before=(\d+) bulk_writers=(\d+)`)
	for _, tc := range []struct {
		env   []string
		spare bool
	}{{[]string{"GOMAXPROCS="}, true}, {[]string{"GOMAXPROCS=1"}, false}} {
		cmd, w, _ := startServeEnv(t, tc.env, "-v")
		m := re.FindStringSubmatch(w.text())
		require.NotNil(t, m, "%v: %s", tc.env, w.text())
		procs, _ := strconv.Atoi(m[1])
		before, _ := strconv.Atoi(m[2])
		writers, _ := strconv.Atoi(m[3])
		if tc.spare {
			assert.Equal(t, [2]int{max(8, 2*before), before}, [2]int{procs, writers}, "%v", tc.env)
		} else {
			assert.Equal(t, [3]int{1, 1, 1}, [3]int{procs, before, writers}, "%v: GOMAXPROCS−1, at least 1", tc.env)
		}
		require.NoError(t, cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, 0, waitExit(t, cmd, 30*time.Second))
	}
}

// serve asks the kernel for a short scheduling slice on its threads by
// default, and says so with -v; --sched-slice 0 leaves the kernel's
// default. Where the kernel cannot (before Linux 6.12) -v says "off".
func TestServeSchedSlice(t *testing.T) {
	re := regexp.MustCompile(`msg=scheduler .* sched_slice=(\S+)`)
	want := "100µs"
	if schedslice.Supported() != nil {
		want = "off"
	}
	for _, tc := range []struct {
		args []string
		want string
	}{{[]string{"-v"}, want}, {[]string{"-v", "--sched-slice", "0"}, "off"}, {[]string{"-v", "--sched-slice", "3ms"}, strings.Replace(want, "100µs", "3ms", 1)}} {
		cmd, w, _ := startServeEnv(t, nil, tc.args...)
		m := re.FindStringSubmatch(w.text())
		require.NotNil(t, m, "%v: %s", tc.args, w.text())
		assert.Equal(t, tc.want, m[1], "%v", tc.args)
		if tc.want != "off" {
			// The threads of serve's process have the slice: a thread the
			// runtime started while serve was setting them (cloned from
			// one not yet set) gets it at the next rescan.
			want, err := time.ParseDuration(tc.want)
			require.NoError(t, err)
			n, err := schedslice.WaitAll(cmd.Process.Pid, want, 20*schedslice.Rescan)
			require.NoError(t, err, "%v", tc.args)
			require.Greater(t, n, 1, "serve's threads")
		}
		require.NoError(t, cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, 0, waitExit(t, cmd, 30*time.Second))
	}
}

// hupNotIgnored: children inherit an ignored SIGHUP (go test run under
// nohup, or by a runner that ignores it), and maildrill then leaves it
// ignored (TestNohupKeepsIgnoringSIGHUP). This process then handles
// SIGHUP instead, and drops it, so that the children it starts get the
// default, as from a terminal. It keeps doing so: signal.Stop would put
// the ignored disposition back while signal.Ignored went on saying
// false, and a second run of the test (-count) would start its children
// with SIGHUP ignored again.
func hupNotIgnored() {
	hupOnce.Do(func() {
		if signal.Ignored(syscall.SIGHUP) {
			signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
		}
	})
}

var hupOnce sync.Once

// TestNohupKeepsIgnoringSIGHUP: started with SIGHUP ignored (nohup, or a
// shell's trap "" HUP), a command goes on ignoring it: only SIGINT and
// SIGTERM stop it then.
func TestNohupKeepsIgnoringSIGHUP(t *testing.T) {
	bin := sharedCLI(t)
	cmd := exec.Command("sh", "-c", `trap "" HUP; exec "$0" rules eval -`, bin)
	stdin, w := startFed(t, cmd)
	defer stdin.Close()
	_, err := io.WriteString(stdin, `{"@timestamp":"2025-12-11T23:40:00+01:00","event.action":"imap.login"}`+"\n")
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	time.Sleep(500 * time.Millisecond)
	require.NotContains(t, w.text(), "stopped", "SIGHUP ignored")
	_, err = io.WriteString(stdin, `{"@timestamp":"2025-12-11T23:40:01+01:00","event.action":"imap.login"}`+"\n")
	require.NoError(t, err, "still reading after SIGHUP")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	code := waitExit(t, cmd, 20*time.Second)
	<-w.done
	require.Equal(t, exitBadInput, code, w.text())
	require.Contains(t, w.text(), "rules eval stopped: terminated", "SIGTERM, not the SIGHUP, stopped it")
}
