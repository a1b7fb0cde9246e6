package target_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/container"
	"github.com/maildrill/maildrill/mailsim/dovecot"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/run"
)

// TestTargetsTwoActors replays testdata/targets/two-actors.yaml — an
// outsider and an office user, each logging in, fetching attachments and
// sending mail from their own address — on the mailsim container and on
// Dovecot + Postfix (both logging profiles), and checks the audit trail:
// who did what from where, as each target's logging allows. No container
// is left afterwards.
func TestTargetsTwoActors(t *testing.T) {
	needDocker(t)
	sc, err := scenarios.Load("testdata/two-actors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	count := func() container.Counts {
		a, err := container.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := dovecot.CountContainers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		a.Containers += b
		return a
	}
	before := count()
	cases := []struct {
		target, profile string
		// actions every actor must show, with its user and address
		want []string
	}{
		{"docker", "", []string{audit.IMAPLogin, audit.IMAPFetch, audit.SMTPAuth, audit.SMTPData, audit.SMTPDeliver}},
		{"dovecot", "enhanced", []string{audit.IMAPLogin, audit.IMAPFetch, audit.SMTPAuth, audit.SMTPData, audit.SMTPDeliver}},
		// Stock Dovecot logs no command: a fetch leaves no line.
		{"dovecot", "stock", []string{audit.IMAPLogin, audit.IMAPLogout, audit.SMTPAuth, audit.SMTPData, audit.SMTPDeliver}},
	}
	for _, tc := range cases {
		t.Run(tc.target+"-"+tc.profile, func(t *testing.T) {
			var evbuf bytes.Buffer
			res, err := run.Run(ctx, sc, run.Options{Target: tc.target, DovecotProfile: tc.profile, Events: &evbuf})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d actions, %d events in %s", tc.target, res.Actions, res.Events, res.Wall)
			// Each actor's user and address, from the ground truth.
			users := map[string]string{} // source ip → user
			for _, tr := range res.Truth {
				if tr.Action == "imap.login" && tr.Outcome == "success" {
					users[tr.SourceIP] = tr.User
				}
			}
			if len(users) != 2 {
				t.Fatalf("ground truth shows %d logged-in actors, want 2: %v", len(users), users)
			}
			seen := map[string]int{} // ip|action|user
			sc := bufio.NewScanner(&evbuf)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var e audit.Event
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					t.Fatalf("event: %v: %s", err, sc.Bytes())
				}
				if e.Outcome == audit.Failure {
					continue
				}
				seen[e.SourceIP+"|"+e.Action+"|"+e.UserName]++
				if _, ok := users[e.SourceIP]; !ok && e.SourceIP != "" {
					t.Errorf("event %s from %s: not an actor's address (%v)", e.Action, e.SourceIP, users)
				}
			}
			for ip, user := range users {
				for _, a := range tc.want {
					if seen[ip+"|"+a+"|"+user] == 0 {
						t.Errorf("no %s by %s from %s", a, user, ip)
					}
				}
			}
		})
	}
	if after := count(); after != before {
		t.Errorf("before: %+v, after: %+v", before, after)
	}
}
