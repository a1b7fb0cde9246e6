package mailsim_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoakMemory measures the resident memory of a `maildrill serve`
// process (no --events, its default retention) at start, after a million
// audited IMAP actions from concurrent sessions (FETCH of every message,
// APPEND with new keywords, STORE, EXPUNGE on the same mailboxes), and
// after idling. It fails if memory keeps growing with the actions: the
// second half of the load may not add more than a small margin over the
// first. MAILDRILL_SOAK=1; MAILDRILL_SOAK_ACTIONS overrides the million,
// MAILDRILL_SOAK_BIN names a maildrill binary to measure instead of this tree's.
func TestSoakMemory(t *testing.T) {
	soakEnabled(t)
	target := int64(1_000_000)
	if v := os.Getenv("MAILDRILL_SOAK_ACTIONS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("MAILDRILL_SOAK_ACTIONS: %v", err)
		}
		target = n
	}
	dir := t.TempDir()
	bin := os.Getenv("MAILDRILL_SOAK_BIN") // another build to compare with
	if bin == "" {
		bin = filepath.Join(dir, "maildrill")
		build := exec.Command("go", "build", "-o", bin, "../cmd/maildrill")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}
	accountsFile := filepath.Join(dir, "accounts.json")
	cmd := exec.Command(bin, "serve", "--users", "20", "--messages", "200", "--allow-plaintext-auth",
		"--cert-dir", filepath.Join(dir, "certs"), "--accounts", accountsFile,
		"--imap", "127.0.0.1:0", "--imaps", "off", "--submission", "off", "--mx", "off", "--admin", "off")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	addrRe := regexp.MustCompile(`^\s+IMAP\s+(127\.0\.0\.1:\d+)`)
	var imapAddr string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := addrRe.FindStringSubmatch(sc.Text()); m != nil {
			imapAddr = m[1]
		}
		if strings.Contains(sc.Text(), "Ctrl-C to stop") {
			break
		}
	}
	go io.Copy(io.Discard, out)
	if imapAddr == "" {
		t.Fatal("no IMAP address in the banner")
	}
	var accounts []struct{ Address, Password, Kind string }
	b, err := os.ReadFile(accountsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &accounts); err != nil {
		t.Fatal(err)
	}
	var people [][2]string
	for _, a := range accounts {
		if a.Kind == "person" {
			people = append(people, [2]string{a.Address, a.Password})
		}
	}
	rss := func() int64 {
		return childKB(cmd.Process.Pid, "VmRSS")
	}
	time.Sleep(2 * time.Second)
	rep := &soakReport{}
	rep.add("machine: %d cores, load %s, %s", runtime.NumCPU(), loadavg(), time.Now().UTC().Format("2006-01-02"))
	rssStart := rss()
	rep.add("serve RSS at start: %d MB", rssStart/1024)

	var actions atomic.Int64
	var half atomic.Int64
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	t0 := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := people[w%len(people)]
			if err := memLoad(imapAddr, p[0], p[1], w, target, &actions, func() {
				if half.Load() == 0 && actions.Load() >= target/2 {
					half.CompareAndSwap(0, rss())
				}
			}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	took := time.Since(t0)
	rssLoaded := rss()
	rep.add("audited actions driven: %d in %s (%.0f/s)", actions.Load(), took.Round(time.Second), float64(actions.Load())/took.Seconds())
	rep.add("serve RSS after half of them: %d MB, after all: %d MB, peak: %d MB", half.Load()/1024, rssLoaded/1024, childKB(cmd.Process.Pid, "VmHWM")/1024)
	idle := 30 * time.Second
	time.Sleep(idle)
	rssIdle := rss()
	rep.add("serve RSS after %s idle: %d MB", idle, rssIdle/1024)
	rep.flush(t, "memory soak")
	// Flat: the second half of the actions may not grow memory by more
	// than a small margin (bounded retention and caches have filled by then).
	if h := half.Load(); h > 0 && rssLoaded > h+h/4+32*1024 {
		t.Errorf("memory kept growing: %d MB after half the actions, %d MB after all", h/1024, rssLoaded/1024)
	}
}

// childKB reads a field of /proc/PID/status, in kB.
func childKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			n, _ := strconv.ParseInt(strings.Fields(strings.TrimPrefix(l, field+":"))[0], 10, 64)
			return n
		}
	}
	return -1
}

// memLoad runs one session until actions reaches target: each round
// fetches the flags of every message of INBOX (one imap.fetch event each),
// appends a message with a new keyword, flags one message \Deleted and
// expunges it, so the mailbox stays the same size while it churns.
func memLoad(addr, user, pass string, w int, target int64, actions *atomic.Int64, probe func()) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	seq := 0
	cmd := func(line, literal string) (int, error) {
		seq++
		tag := fmt.Sprintf("m%d", seq)
		if literal != "" {
			line += fmt.Sprintf(" {%d}", len(literal))
		}
		if _, err := io.WriteString(c, tag+" "+line+"\r\n"); err != nil {
			return 0, err
		}
		if literal != "" {
			l, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(l, "+") {
				return 0, fmt.Errorf("%s: %q %v", line, l, err)
			}
			io.WriteString(c, literal+"\r\n")
		}
		fetched := 0
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return 0, fmt.Errorf("%s: %w", line, err)
			}
			if strings.HasPrefix(l, "* ") && strings.Contains(l, " FETCH ") {
				fetched++
			}
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					return 0, fmt.Errorf("%s: %q", line, l)
				}
				return fetched, nil
			}
		}
	}
	if _, err := br.ReadString('\n'); err != nil {
		return err
	}
	if _, err := cmd("LOGIN "+user+" "+strconv.Quote(pass), ""); err != nil {
		return err
	}
	if _, err := cmd("SELECT INBOX", ""); err != nil {
		return err
	}
	for round := 0; actions.Load() < target; round++ {
		n, err := cmd("FETCH 1:* (FLAGS)", "")
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("From: soak%d@interieur.test\r\nSubject: soak %d\r\n\r\n%s\r\n", w, round, strings.Repeat("x", 2000))
		if _, err := cmd(fmt.Sprintf("APPEND INBOX ($soak%d)", round%500), msg); err != nil {
			return err
		}
		if _, err := cmd(`STORE 1 +FLAGS.SILENT (\Deleted)`, ""); err != nil {
			return err
		}
		if _, err := cmd("EXPUNGE", ""); err != nil {
			return err
		}
		actions.Add(int64(n) + 4) // the fetches, APPEND, STORE, EXPUNGE (one message), SELECT-free round
		probe()
	}
	_, err = cmd("LOGOUT", "")
	return err
}
