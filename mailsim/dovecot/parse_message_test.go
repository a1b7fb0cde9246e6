package dovecot

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ParseLine tells the lines it understood from the others.
func TestParseLineKnown(t *testing.T) {
	p := NewParser(Options{Now: now})
	for _, c := range []struct {
		line  string
		known bool
	}{
		{"Nov 27 00:54:30 mail postfix/postfix-script[105]: starting the Postfix mail system", false},
		{"Nov 27 00:54:27 master: Info: Dovecot v2.3.19.1 (9b53102964) starting up for imap, lmtp", false},
		{"no program here", false},
		{"Nov 27 00:54:33 mail sshd[1]: Accepted password for root", false},
		{"Nov 27 00:54:33 mail postfix/submission/smtpd[149]: connect from unknown[203.0.113.7]:51544", true},
		{"Nov 27 00:54:35 mail postfix/submission/smtpd[149]: 4ABCDE1234: client=unknown[203.0.113.7]:51544", true},
		{"Nov 27 00:54:35 mail postfix/cleanup[150]: 4ABCDE1234: message-id=<a@b>", true},
		{"Nov 27 00:54:35 mail postfix/qmgr[151]: 4ABCDE1234: removed", true},
		{"Nov 27 00:54:36 mail postfix/submission/smtpd[149]: lost connection after DATA from unknown[203.0.113.7]", true},
		{"Nov 27 00:40:51 auth: Info: passwd-file(x@interieur.test,203.0.113.9,<HNWlTzdhVtx/AAAB>): unknown user", true},
		{"Nov 27 01:50:24 auth: Info: passwd-file(cabinet@interieur.test,203.0.113.7): unknown user", true},
		{"Nov 27 01:50:24 auth: Info: passwd-file(cabinet@interieur.test,203.0.113.7): lookup", false},
		{`Nov 27 00:40:51 stats: Info: {"event":"imap_command_finished","fields":{"cmd_name":"NOOP","session":"s"}}`, true},
	} {
		if _, known := p.ParseLine(c.line); known != c.known {
			t.Errorf("%q: known %v, want %v", c.line, known, c.known)
		}
	}
}

// ParseMessage, given the time and tag a syslog receiver took off a
// line, gives the events Parse gives for the whole line.
func TestParseMessageLikeParse(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.log")
	whole, parts := NewParser(Options{Now: now}), NewParser(Options{Now: now})
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for l := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			ts, err := time.Parse(time.Stamp, l[:min(15, len(l))])
			if err != nil {
				continue
			}
			ts = time.Date(2026, ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), 0, time.UTC)
			rest := l[16:]
			if f, r, _ := strings.Cut(rest, " "); !strings.HasSuffix(f, ":") {
				rest = r
			}
			tag, msg, _ := strings.Cut(rest, ": ")
			if !strings.HasPrefix(tag, "postfix") { // Dovecot's syslog ident
				tag, msg = "dovecot", rest
			}
			want, wk := whole.ParseLine(l)
			got, gk := parts.ParseMessage(ts, tag, msg)
			wj, _ := json.Marshal(want)
			gj, _ := json.Marshal(got)
			if string(wj) != string(gj) || wk != gk {
				t.Fatalf("%q:\n got %s %v\nwant %s %v", l, gj, gk, wj, wk)
			}
			n += len(got)
		}
	}
	if n < 100 {
		t.Fatalf("only %d events compared", n)
	}
}
