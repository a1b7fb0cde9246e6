package imapd

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/store"
)

// The differential transcript suite: IMAP sessions kept as text in
// testdata/transcripts/*.txt, played against mailsim always and against
// Debian's Dovecot (started on loopback by the test) when MAILDRILL_DOVECOT=1.
// The format is described in testdata/transcripts/README.md.

// --- servers -------------------------------------------------------------------

// transcriptBase gives every user an empty INBOX: transcripts seed their
// own messages with APPEND, on both servers alike.
type transcriptBase struct{}

func (transcriptBase) Folders(owner string) []store.BaseFolder {
	return []store.BaseFolder{{Name: "INBOX", UIDValidity: 1}}
}

func (transcriptBase) Message(owner, folder string, uid uint32) (store.BaseMessage, error) {
	return store.BaseMessage{}, fmt.Errorf("no base messages")
}

type transcriptDir struct{}

func (transcriptDir) Authenticate(u, p string) (string, error) {
	if !strings.HasPrefix(u, "t-") || p != "pw" {
		return "", ErrInvalidCredentials
	}
	return strings.ToLower(u), nil
}

func (transcriptDir) Account(addr string) (account.Account, bool) {
	if !strings.HasPrefix(addr, "t-") {
		return account.Account{}, false
	}
	return account.Account{Address: addr, Kind: "person"}, true
}

func (transcriptDir) AccessibleBy(string) []account.Account { return nil }

func startTranscriptMailsim(t *testing.T) string {
	t.Helper()
	clk := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	bus := audit.NewBus(clk, audit.BusOptions{RunID: "transcripts"})
	st := store.New(transcriptBase{}, clk, store.Options{})
	srv, err := New(Config{Store: st, Directory: transcriptDir{}, Bus: bus, AllowInsecureAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		bus.Close()
	})
	return ln.Addr().String()
}

func loadTranscripts(t *testing.T) []*transcript {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "transcripts", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no transcripts in testdata/transcripts")
	}
	var out []*transcript
	for _, f := range files {
		tr, err := parseTranscript(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tr)
	}
	return out
}

// TestTranscripts plays every transcript against mailsim, each on a fresh
// server; with MAILDRILL_DOVECOT=1, against Debian's Dovecot too.
func TestTranscripts(t *testing.T) {
	trs := loadTranscripts(t)
	servers := []string{"mailsim"}
	var dovecotAddr string
	if os.Getenv("MAILDRILL_DOVECOT") == "1" {
		var users []string
		for _, tr := range trs {
			users = append(users, "t-"+tr.name)
		}
		dovecotAddr = startTranscriptDovecot(t, users)
		servers = append(servers, "dovecot")
	}
	for _, srv := range servers {
		t.Run(srv, func(t *testing.T) {
			for _, tr := range trs {
				t.Run(tr.name, func(t *testing.T) {
					if why, ok := tr.skip[srv]; ok {
						t.Skipf("%s: not played on %s: %s", tr.path, srv, why)
					}
					tg := target{name: srv, user: "t-" + tr.name, pass: "pw"}
					if srv == "mailsim" {
						tg.addr = startTranscriptMailsim(t)
					} else {
						tg.addr = dovecotAddr
					}
					for _, f := range tr.run(tg) {
						t.Error(f)
					}
				})
			}
		})
	}
}

// TestTranscriptHarness holds the harness itself to account: bad files are
// refused with file:line:col, normalisation is what the README says, and a
// response that differs from the transcript fails.
func TestTranscriptHarness(t *testing.T) {
	dir := t.TempDir()
	bad := map[string]string{
		"S: a1 OK\n": ":1:1: server line before any command",
		"C: a1 NOOP\nS[dovecot]: a1 OK\nS: a1 OK\n":     ":2:1: a line for one server must follow a '# why:'",
		"C: a1 APPEND INBOX {m}\nS: a1 OK\n":            ":1:20: message \"m\" is not defined above",
		"C: a1 NOOP\nS: * OK\n":                         ":1:1: the last expected line of command \"a1\"",
		"message m\nFrom: a@b\n":                        ":1:1: message \"m\" has no terminating '.' line",
		"skip exchange: no\nC: a1 NOOP\nS: a1 OK\n":     ":1:6: unknown server \"exchange\"",
		"C: a1 NOOP\nX: a1 OK\n":                        ":2:1: want 'C:'",
		"C: a1 NOOP\n# why: test\nS[qmail]: a1 OK\n":    ":3:3: unknown server \"qmail\"",
		"C: a1 NOOP\nS: a1 OK\nC2: b1 NOOP\nS: b1 OK\n": ":4:2: server line for session 1 after a command of session 2",
		"message m escaped\nSubject: \\q\n.\n":          ":1:1: message \"m\": a backslash must start",
		"message m escaped\nSubject: \\xZZ\n.\n":        ":1:1: message \"m\": bad escape",
	}
	i := 0
	for src, want := range bad {
		i++
		p := filepath.Join(dir, fmt.Sprintf("bad%d.txt", i))
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := parseTranscript(p)
		if err == nil || !strings.Contains(err.Error(), p+want) {
			t.Errorf("%q: error %v, want %s%s", src, err, p, want)
		}
	}
	for in, want := range map[string]string{
		`a3 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).`: `a3 OK [READ-WRITE]`,
		`* OK [UIDVALIDITY 1764870000] UIDs valid`:                  `* OK [UIDVALIDITY $UV]`,
		`a1 OK [APPENDUID 17 4] Append completed.`:                  `a1 OK [APPENDUID $UV 4]`,
		`L0 OK [CAPABILITY IMAP4rev1 IDLE] Logged in`:               `L0 OK [CAPABILITY]`,
		`* 2 FETCH (UID 7 FLAGS (\Seen \Answered) RFC822.SIZE 12)`:  `* 2 FETCH (FLAGS (\Answered \Seen) RFC822.SIZE 12)`,
		`* 1 FETCH (INTERNALDATE " 1-Dec-2025 10:00:00 +0000")`:     `* 1 FETCH (INTERNALDATE "01-Dec-2025 10:00:00 +0000")`,
		`* STATUS "a b" (UIDVALIDITY 9 MESSAGES 2)`:                 `* STATUS "a b" (MESSAGES 2 UIDVALIDITY $UV)`,
		`* LIST (\HasNoChildren \Marked) "/" "INBOX"`:               `* LIST (\HasNoChildren \Marked) / INBOX`,
	} {
		if got := normalise(in, false); got != want {
			t.Errorf("normalise(%q) = %q, want %q", in, got, want)
		}
	}
	if got := normalise(`* 2 FETCH (UID 7 FLAGS ())`, true); got != `* 2 FETCH (FLAGS () UID 7)` {
		t.Errorf("UID kept: %q", got)
	}
	p := filepath.Join(dir, "ok.txt")
	os.WriteFile(p, []byte("C: a1 NOOP\nS: * {n} EXISTS\nS?: * {n} RECENT\nS: a1 OK\n"), 0o644)
	tr, err := parseTranscript(p)
	if err != nil {
		t.Fatal(err)
	}
	st := tr.steps[0]
	if msg := matchStep(st, "mailsim", []string{"* 3 EXISTS", "a1 OK"}); msg != "" {
		t.Errorf("a matching response failed: %s", msg)
	}
	for _, got := range [][]string{
		{"a1 OK"},                              // a line missing
		{"* 3 EXISTS", "* 1 EXPUNGE", "a1 OK"}, // a line not expected
		{"* 3 EXISTS", "a1 NO"},                // another verdict
		{"a1 OK", "* 3 EXISTS"},                // tagged line not last
	} {
		if matchStep(st, "mailsim", got) == "" {
			t.Errorf("%q matched %s", got, p)
		}
	}
}

// capabilitiesAfterLogin asks a server its CAPABILITY list after login.
func capabilitiesAfterLogin(t *testing.T, tg target) []string {
	t.Helper()
	s, err := dialTranscript(tg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.c.Close()
	if err := s.send("c1 CAPABILITY\r\n"); err != nil {
		t.Fatal(err)
	}
	var caps []string
	for {
		l, err := s.read()
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := strings.CutPrefix(l, "* CAPABILITY "); ok {
			caps = strings.Fields(strings.ToUpper(f))
		}
		if strings.HasPrefix(l, "c1 ") {
			break
		}
	}
	sort.Strings(caps)
	return caps
}

// readmeCapabilities reads the README's table of IMAP capabilities: the
// capabilities marked in the column of server (1: mailsim, 2: Dovecot).
func readmeCapabilities(t *testing.T, col int) []string {
	t.Helper()
	const path = "../../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for n, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "#"):
			in = strings.Contains(l, "IMAP capabilities")
			continue
		case !in || !strings.HasPrefix(l, "| `"):
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		if len(cells) < 3 {
			t.Fatalf("%s:%d: a row of the capability table has %d cells, want 4", path, n+1, len(cells))
		}
		mark := strings.TrimSpace(cells[col])
		if mark != "yes" && mark != "—" {
			t.Fatalf("%s:%d:%d: want yes or — in the %s column, got %q", path, n+1, strings.Index(l, cells[col])+1, []string{"", "mailsim", "Dovecot"}[col], mark)
		}
		if mark == "yes" {
			out = append(out, strings.ToUpper(strings.Trim(strings.TrimSpace(cells[0]), "`")))
		}
	}
	sort.Strings(out)
	return out
}

// TestCapabilityTable holds the README's capability table to what the
// running servers advertise after login: mailsim always, Dovecot 2.3 under
// MAILDRILL_DOVECOT=1.
func TestCapabilityTable(t *testing.T) {
	got := capabilitiesAfterLogin(t, target{name: "mailsim", addr: startTranscriptMailsim(t), user: "t-caps", pass: "pw"})
	if want := readmeCapabilities(t, 1); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("mailsim advertises\n  %s\nREADME says\n  %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	if os.Getenv("MAILDRILL_DOVECOT") != "1" {
		return
	}
	addr := startTranscriptDovecot(t, []string{"t-caps"})
	got = capabilitiesAfterLogin(t, target{name: "dovecot", addr: addr, user: "t-caps", pass: "pw"})
	if want := readmeCapabilities(t, 2); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Dovecot advertises\n  %s\nREADME says\n  %s", strings.Join(got, " "), strings.Join(want, " "))
	}
}
