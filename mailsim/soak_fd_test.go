package mailsim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/certs"
)

// fdChildInfo is what the low-descriptor child tells its parent.
type fdChildInfo struct {
	IMAP, IMAPS, Submission, MX, Admin string
	User, Pass, Rcpt                   string
	FDs, Limit                         int
}

// TestSoakLowFD runs the mail system in a child process whose descriptor
// limit is a few dozen above what it uses at rest, exhausts it with idle
// connections (the listeners hit EMFILE), releases them and checks that
// every listener serves again.
func TestSoakLowFD(t *testing.T) {
	soakEnabled(t)
	rep := &soakReport{}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakFDChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAILDRILL_SOAK_FD_CHILD=1", "MAILDRILL_SOAK_FD_CERTS="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := bufio.NewScanner(stdout)
	var info fdChildInfo
	var childLog []string
	for out.Scan() {
		l := out.Text()
		if strings.HasPrefix(l, "CHILD ") {
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "CHILD ")), &info); err != nil {
				t.Fatal(err)
			}
			break
		}
		childLog = append(childLog, l)
	}
	if info.IMAP == "" {
		t.Fatalf("child did not start: %v\n%s", childLog, stderr.String())
	}
	bundle, err := certs.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := &mailsim.Server{IMAPAddr: info.IMAP, IMAPSAddr: info.IMAPS, SubmissionAddr: info.Submission, MXAddr: info.MX, AdminAddr: info.Admin, Certs: bundle}
	rep.add("child: %d descriptors open at rest, limit lowered to %d", info.FDs, info.Limit)
	if errs := endToEnd(srv, info.User, info.Pass, info.Rcpt); len(errs) > 0 {
		t.Fatalf("child does not serve before the flood: %v", errs)
	}

	// Exhaust: hold idle connections to every listener, twice the limit.
	addrs := []string{info.IMAP, info.IMAPS, info.Submission, info.MX, info.Admin}
	var held []net.Conn
	phase := time.Now()
	for k := 0; k < 2*info.Limit; k++ {
		c, err := net.DialTimeout("tcp", addrs[k%len(addrs)], 300*time.Millisecond)
		if err != nil {
			continue
		}
		held = append(held, c)
	}
	time.Sleep(time.Second)
	during := endToEnd(srv, info.User, info.Pass, info.Rcpt)
	rep.add("flood: %d idle connections held (%v); listeners failing during the flood (expected): %d", len(held), time.Since(phase).Round(time.Millisecond), len(during))
	for _, c := range held {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}

	// Recover: every listener must serve again within 10 s.
	recovered := map[string]time.Duration{}
	var lastErr map[string]error
	begin := time.Now()
	for time.Since(begin) < 10*time.Second && len(recovered) < 5 {
		errs := endToEnd(srv, info.User, info.Pass, info.Rcpt)
		for _, name := range []string{"imap", "imaps", "submission", "mx", "admin"} {
			if _, ok := recovered[name]; !ok && errs[name] == nil {
				recovered[name] = time.Since(begin)
			}
		}
		lastErr = errs
		time.Sleep(200 * time.Millisecond)
	}
	ok := true
	for _, name := range []string{"imap", "imaps", "submission", "mx", "admin"} {
		if d, done := recovered[name]; done {
			rep.add("  %-10s serves again after %v", name, d.Round(10*time.Millisecond))
		} else {
			ok = false
			rep.add("  %-10s DOES NOT serve again: %v", name, lastErr[name])
		}
	}
	stdin.Close()
	phase = time.Now()
	defer func() { t.Logf("child shutdown took %v", time.Since(phase).Round(time.Millisecond)) }()
	var rest []string
	for out.Scan() {
		rest = append(rest, out.Text())
	}
	cmd.Wait()
	for _, l := range rest {
		if strings.HasPrefix(l, "STATS ") {
			rep.add("child: %s", strings.TrimPrefix(l, "STATS "))
		}
	}
	var errLines []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, "level=ERROR") && len(errLines) < 10 {
			errLines = append(errLines, l)
		}
	}
	rep.add("child error log (first lines): %d", len(errLines))
	for _, l := range errLines {
		rep.add("  %s", l)
	}
	rep.flush(t, "maildrill low-descriptor run")
	if !ok {
		t.Error("a listener did not recover after descriptor exhaustion")
	}
}

// TestSoakFDChild is the server side of TestSoakLowFD, run in a child
// process.
func TestSoakFDChild(t *testing.T) {
	if os.Getenv("MAILDRILL_SOAK_FD_CHILD") != "1" {
		t.Skip("the child process of TestSoakLowFD")
	}
	srv, err := mailsim.Start(context.Background(), mailsim.Config{
		Seed: 1, Users: 5, MessagesPerUser: 10, AllowInsecureAuth: true,
		CertDir: os.Getenv("MAILDRILL_SOAK_FD_CERTS"),
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	tracker := newAuditTracker(srv.Bus)
	ctx, cancel := context.WithCancel(context.Background())
	followDone := tracker.startFollow(ctx)
	var people []account.Account
	for _, a := range srv.Accounts() {
		if a.Kind == "person" {
			people = append(people, a)
		}
	}
	info := fdChildInfo{IMAP: srv.IMAPAddr, IMAPS: srv.IMAPSAddr, Submission: srv.SubmissionAddr, MX: srv.MXAddr, Admin: srv.AdminAddr,
		User: people[0].Address, Pass: people[0].Password, Rcpt: people[1].Address, FDs: openFDs()}
	info.Limit = info.FDs + 40
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	rl.Cur = uint64(info.Limit)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(info)
	fmt.Println("CHILD " + string(b))
	io.Copy(io.Discard, os.Stdin) // until the parent is done
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	closeStart := time.Now()
	srv.Close()
	cancel()
	<-followDone
	tracker.drain()
	unpaired, _ := tracker.check()
	fmt.Printf("STATS close took %v; %d audit events; imap.connect %d, imap.logout %d, smtp.connect %d, smtp.disconnect %d; %d sessions without an end event\n",
		time.Since(closeStart).Round(time.Millisecond), tracker.total,
		tracker.counts[audit.IMAPConnect+"/success"]+tracker.counts[audit.IMAPConnect+"/failure"], tracker.counts[audit.IMAPLogout+"/success"],
		tracker.counts[audit.SMTPConnect+"/success"]+tracker.counts[audit.SMTPConnect+"/failure"], tracker.counts[audit.SMTPDisconnect+"/"],
		len(unpaired))
	for _, l := range groupUnpaired(unpaired) {
		fmt.Println("STATS   " + l)
	}
}
