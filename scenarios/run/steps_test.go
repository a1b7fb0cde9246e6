package run

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/scenarios"
)

// allSteps exercises every step kind against the embedded target.
var allSteps = func() string {
	b, err := os.ReadFile("../testdata/all-steps.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func runYAML(t *testing.T, src string) (*scenarios.Result, []*audit.Event) {
	t.Helper()
	sc, err := scenarios.Parse("test.yaml", []byte(src))
	require.NoError(t, err)
	var evBuf, trBuf, slBuf bytes.Buffer
	res, err := Run(context.Background(), sc, Options{Events: &evBuf, Truth: &trBuf, Syslog: &slBuf})
	require.NoError(t, err)
	var evs []*audit.Event
	for _, line := range bytes.Split(bytes.TrimSpace(evBuf.Bytes()), []byte("\n")) {
		var e audit.Event
		require.NoError(t, json.Unmarshal(line, &e))
		evs = append(evs, &e)
	}
	require.Equal(t, res.Events, len(evs))
	trLines := bytes.Split(bytes.TrimSpace(trBuf.Bytes()), []byte("\n"))
	require.Equal(t, len(res.Truth)+2, len(trLines), "the header, one line per action, the trailer")
	tr, ok, err := scenarios.ParseRecordingTrailer(trLines[len(trLines)-1])
	require.NoError(t, err)
	require.True(t, ok, "the last truth line is the trailer")
	require.Equal(t, scenarios.RecordingTrailer{Format: scenarios.RecordingFormat, RunID: res.RunID, Events: len(evs)}, tr, "the virtual clock: the event count, no pace")
	h, ok, err := scenarios.ParseRecordingHeader(trLines[0])
	require.NoError(t, err)
	require.True(t, ok, "the first truth line is the recording header")
	require.Equal(t, scenarios.RecordingHeader{Format: scenarios.RecordingFormat, RunID: res.RunID, ScenarioID: sc.ID, ScenarioSHA256: sc.SHA256,
		ScenarioFile: "test.yaml", Seed: sc.Env.Seed, Target: "embedded", RulesSHA256: h.RulesSHA256, Rules: h.Rules, Trailer: true}, h)
	require.NotEmpty(t, h.RulesSHA256)
	require.Positive(t, h.Rules)
	lastSyslog = slBuf.String()
	return res, evs
}

// lastSyslog is the mail log of the last runYAML.
var lastSyslog string

func count(evs []*audit.Event, f func(*audit.Event) bool) int {
	n := 0
	for _, e := range evs {
		if f(e) {
			n++
		}
	}
	return n
}

func TestEveryStepKind(t *testing.T) {
	res, evs := runYAML(t, allSteps)
	const ip = "203.0.113.50"
	from := func(action string, more ...func(*audit.Event) bool) int {
		return count(evs, func(e *audit.Event) bool {
			if e.Action != action || e.SourceIP != ip {
				return false
			}
			for _, m := range more {
				if !m(e) {
					return false
				}
			}
			return true
		})
	}
	failed := func(e *audit.Event) bool { return e.Outcome == audit.Failure }
	ok := func(e *audit.Event) bool { return e.Outcome == audit.Success }

	// spray: 4 users × 2 passwords, all wrong; brute force: 4 wrong then the right one.
	assert.Equal(t, 8+4, from(audit.IMAPLogin, failed), "failed logins")
	assert.GreaterOrEqual(t, from(audit.IMAPLogin, ok), 1+1+2, "brute force success, login, repeat logins")
	assert.GreaterOrEqual(t, from(audit.IMAPList), 1+2)
	assert.GreaterOrEqual(t, from(audit.IMAPExamine), 1)
	assert.Equal(t, 1, from(audit.IMAPSearch, func(e *audit.Event) bool { return strings.Contains(e.Search, "TEXT") }))
	assert.Equal(t, 3, from(audit.IMAPFetch, func(e *audit.Event) bool {
		return e.FileName != "" && regexp.MustCompile(`BODY\.PEEK\[\d`).MatchString(e.FetchItems) && e.Mailbox == "INBOX"
	}), "attachments")
	assert.GreaterOrEqual(t, from(audit.IMAPExamine, func(e *audit.Event) bool { return e.MailboxShared != nil && *e.MailboxShared }), 1, "other mailboxes opened")
	assert.GreaterOrEqual(t, from(audit.IMAPStore), 2, "mark and delete")
	assert.Equal(t, 1, from(audit.IMAPMove))
	assert.Equal(t, 1, from(audit.IMAPAppend, ok))
	assert.Equal(t, 1, from(audit.IMAPIdle))
	assert.Equal(t, 2, from(audit.IMAPExpunge))
	assert.GreaterOrEqual(t, from(audit.SMTPDeliver, func(e *audit.Event) bool { return e.EmailDirection == "outbound" && e.DestDomain == "exfil.example" }), 3, "send (2 batches) and forward")
	assert.Equal(t, 1, from(audit.SMTPData, func(e *audit.Event) bool { return e.AttachmentCount == 1 && e.AttachmentNames[0] == "message.eml" }), "forward")
	assert.GreaterOrEqual(t, from(audit.IMAPID), 1)
	for _, e := range evs {
		if e.SourceIP == ip && e.Action == audit.IMAPID {
			assert.Equal(t, "TestClient", e.ClientName)
			assert.Contains(t, e.ClientIDRaw, "maildrill-run="+res.RunID, "the run id is the attacker's correlation marker")
		}
		if e.SourceIP == ip && e.Action == audit.SMTPMailFrom {
			assert.Equal(t, "EVIL-PC", e.SMTPHelo)
		}
	}
	// The mail log export carries the same story in Dovecot/Postfix form.
	assert.Regexp(t, `dovecot: imap-login: Login: user=<[^>]+>, method=PLAIN, rip=203\.0\.113\.50, `, lastSyslog)
	assert.Regexp(t, `dovecot: auth: passwd-file\([^)]*203\.0\.113\.50[^)]*\): Password mismatch`, lastSyslog)
	assert.Regexp(t, `postfix/smtp\[\d+\]: [0-9A-F]{11}: to=<drop@exfil\.example>, .*status=sent`, lastSyslog)
	assert.Regexp(t, `: expunge: box=INBOX, uid=\d+`, lastSyslog)
	// Time moved: the wait step spans 30 minutes of scenario time.
	sp := res.Spans["wait"]
	assert.Equal(t, "30m0s", sp.End.Sub(sp.Start).String())
	for _, id := range []string{"spray", "brute", "login", "send", "forward", "repeat", "foreach"} {
		assert.Contains(t, res.Spans, id)
	}
	// Ground truth and audit trail agree on the outside deliveries.
	var sends int
	for _, tr := range res.Truth {
		if tr.Action == "smtp.send" || tr.Action == "smtp.forward" {
			sends++
		}
	}
	assert.Equal(t, from(audit.SMTPDeliver, func(e *audit.Event) bool { return e.EmailDirection == "outbound" }), sends)
}

// The same scenario in virtual mode yields the same ground truth and the
// same audit event sequence.
func TestDeterminism(t *testing.T) {
	src := strings.Replace(allSteps, "id: all-steps", "id: determinism", 1)
	src = strings.Replace(src, "actors:", "actors:\n  - id: staff\n    kind: staff\n    staff: {count: 4, phones: 1, late: 1}", 1)
	src = strings.Replace(src, "start: 2025-12-11T22:00:00+01:00, duration: 6h", "start: 2025-12-11T07:00:00+01:00, duration: 20h", 1)
	src = strings.Replace(src, "      - id: spray\n", "      - id: spray\n        at: \"22:00\"\n", 1)
	var runs [2][2]string
	for i := range runs {
		sc, err := scenarios.Parse("d.yaml", []byte(src))
		require.NoError(t, err)
		var ev, tr bytes.Buffer
		_, err = Run(context.Background(), sc, Options{Events: &ev, Truth: &tr})
		require.NoError(t, err)
		runs[i] = [2]string{ev.String(), tr.String()}
	}
	require.Greater(t, len(runs[0][0]), 1000)
	if os.Getenv("MD_DEBUG") != "" {
		os.WriteFile("/tmp/det0.jsonl", []byte(runs[0][0]), 0o644)
		os.WriteFile("/tmp/det1.jsonl", []byte(runs[1][0]), 0o644)
		os.WriteFile("/tmp/tr0.jsonl", []byte(runs[0][1]), 0o644)
		os.WriteFile("/tmp/tr1.jsonl", []byte(runs[1][1]), 0o644)
	}
	assert.True(t, runs[0][0] == runs[1][0], "audit event sequences differ")
	assert.True(t, runs[0][1] == runs[1][1], "ground truth differs")
}

func TestScenarioOfRunID(t *testing.T) {
	for _, c := range []struct {
		in, id string
		ok     bool
	}{
		{"md-ministry-overnight-8db0faa3", "ministry-overnight", true},
		{"md-a-0000000f", "a", true},
		{"md-ministry-overnight-8db0faaZ", "", false},
		{"md--8db0faa3", "", false},
		{"my-run", "", false},
		{"md-x-8db0faa", "", false},
	} {
		id, ok := scenarios.ScenarioOfRunID(c.in)
		assert.Equal(t, c.ok, ok, c.in)
		assert.Equal(t, c.id, id, c.in)
	}
}

// connectSelect runs the two kinds the all-steps scenario leaves out.
const connectSelect = `
id: connect-select
title: reconnaissance, then a read-write select
environment: {users: 5, messages: 5, seed: 3, start: 2025-12-11T22:00:00+01:00, duration: 1h}
actors:
  - id: intruder
    kind: attacker
    source: 203.0.113.51
    credentials: {user: secretariat}
    steps:
      - {id: recon, connect: {}}
      - {id: in, login: {}}
      - {id: select, select: INBOX}
      - logout
`

func TestConnectSelect(t *testing.T) {
	res, evs := runYAML(t, connectSelect)
	const ip = "203.0.113.51"
	logins, selects := 0, 0
	for _, e := range evs {
		if e.SourceIP != ip {
			continue
		}
		switch e.Action {
		case audit.IMAPLogin:
			logins++
		case audit.IMAPSelect:
			selects++
			assert.Equal(t, "INBOX", e.Mailbox)
		}
	}
	assert.Equal(t, 1, logins, "connect does not log in; login does")
	assert.Equal(t, 1, selects)
	recon := 0
	for _, tr := range res.Truth {
		if tr.Step == "recon" && tr.Action == "imap.connect" {
			recon++
		}
	}
	assert.Equal(t, 1, recon, "connect: one reconnaissance session in the ground truth")
}

// TestEveryKindImplemented: the scenario language's registry of step kinds
// and the implementations here name the same kinds, and the all-steps
// scenario with connectSelect exercises each of them (TestEveryStepKind and
// TestConnectSelect run them).
func TestEveryKindImplemented(t *testing.T) {
	used := map[string]bool{}
	var walk func([]*scenarios.Step)
	walk = func(steps []*scenarios.Step) {
		for _, st := range steps {
			used[st.Kind] = true
			walk(st.Params().Steps)
		}
	}
	for _, src := range []string{allSteps, connectSelect} {
		sc, err := scenarios.Parse("steps.yaml", []byte(src))
		require.NoError(t, err)
		for _, a := range sc.Actors {
			walk(a.Steps)
		}
	}
	kinds := map[string]bool{}
	for _, k := range scenarios.StepKinds() {
		kinds[k.Name] = true
		assert.Contains(t, impls, k.Name, "step kind %q has no implementation in scenarios/run", k.Name)
		assert.True(t, used[k.Name], "step kind %q is run by no test: add it to testdata/all-steps.yaml", k.Name)
	}
	for name := range impls {
		assert.True(t, kinds[name], "implementation %q is of no registered step kind (scenarios/kinds.go)", name)
	}
}
