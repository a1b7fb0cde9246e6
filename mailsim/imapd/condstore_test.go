package imapd

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// The shim takes CONDSTORE's syntax (RFC 7162 §3.1) out of the commands
// go-imap parses, and leaves the rest as the client sent it.
func TestCondCommand(t *testing.T) {
	cases := []struct {
		name, line, want string
		check            func(*testing.T, *condRequest)
	}{
		{"SELECT", `a SELECT INBOX (CONDSTORE)`, `a SELECT INBOX`, func(t *testing.T, r *condRequest) { assert.True(t, r.selectCond) }},
		{"EXAMINE", `a EXAMINE "a b" (condstore)`, `a EXAMINE "a b"`, func(t *testing.T, r *condRequest) { assert.True(t, r.selectCond) }},
		{"SELECT", `a SELECT INBOX`, "", nil},
		{"STATUS", `a STATUS INBOX (MESSAGES HIGHESTMODSEQ)`, `a STATUS INBOX (MESSAGES)`, func(t *testing.T, r *condRequest) {
			assert.True(t, r.status)
			assert.False(t, r.statusStandIn)
		}},
		{"STATUS", `a STATUS INBOX (HIGHESTMODSEQ)`, `a STATUS INBOX (UIDNEXT)`, func(t *testing.T, r *condRequest) { assert.True(t, r.statusStandIn) }},
		{"FETCH", `a FETCH 1:* (FLAGS MODSEQ)`, `a FETCH 1:* (FLAGS)`, func(t *testing.T, r *condRequest) {
			assert.True(t, r.fetchModSeq)
			assert.Nil(t, r.changedSince)
		}},
		{"UID FETCH", `a UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM MODSEQ)] MODSEQ) (CHANGEDSINCE 12)`, `a UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM MODSEQ)])`, func(t *testing.T, r *condRequest) {
			require.NotNil(t, r.changedSince)
			assert.Equal(t, uint64(12), *r.changedSince)
		}},
		{"FETCH", `a FETCH 1 MODSEQ`, `a FETCH 1 (UID)`, func(t *testing.T, r *condRequest) { assert.True(t, r.fetchModSeq) }},
		{"FETCH", `a FETCH 1 FLAGS (CHANGEDSINCE 3)`, `a FETCH 1 FLAGS`, func(t *testing.T, r *condRequest) { assert.Equal(t, uint64(3), *r.changedSince) }},
		{"FETCH", `a FETCH 1:* ALL (CHANGEDSINCE 3)`, `a FETCH 1:* ALL`, nil},
		{"FETCH", `a FETCH 1 (FLAGS) (CHANGEDSINCE 3 VANISHED)`, "", nil},
		{"FETCH", `a FETCH 1 (FLAGS) (CHANGEDSINCE 0)`, "", nil},
		{"FETCH", `a FETCH 1 (FLAGS)`, "", nil},
		{"STORE", `a STORE 1:3 (UNCHANGEDSINCE 7) +FLAGS.SILENT (\Seen)`, `a STORE 1:3 +FLAGS.SILENT (\Seen)`, func(t *testing.T, r *condRequest) { assert.Equal(t, uint64(7), *r.unchangedSince) }},
		{"UID STORE", `a UID STORE 5 (UNCHANGEDSINCE 0) FLAGS ()`, `a UID STORE 5 FLAGS ()`, func(t *testing.T, r *condRequest) { assert.Equal(t, uint64(0), *r.unchangedSince) }},
		{"STORE", `a STORE 1 (UNCHANGEDSINCE 1 X 2) FLAGS ()`, "", nil},
		{"SEARCH", `a SEARCH MODSEQ 5`, `a SEARCH HEADER ":modseq" "5"`, func(t *testing.T, r *condRequest) { assert.True(t, r.searchModSeq) }},
		{"UID SEARCH", `a UID SEARCH RETURN (ALL) OR MODSEQ "/flags/\\seen" priv 4 NOT (MODSEQ 9)`, `a UID SEARCH RETURN (ALL) OR HEADER ":modseq" "4" NOT (HEADER ":modseq" "9")`, nil},
		// MODSEQ as a key's argument is that argument, not a key.
		{"SEARCH", `a SEARCH SUBJECT MODSEQ HEADER MODSEQ "x" MODSEQ 2`, `a SEARCH SUBJECT MODSEQ HEADER MODSEQ "x" HEADER ":modseq" "2"`, nil},
		{"SEARCH", `a SEARCH SUBJECT "MODSEQ 3"`, "", nil},
		{"SEARCH", `a SEARCH MODSEQ "/flags/x" bogus 3`, "", nil},
		{"LIST", `a LIST "" "*" RETURN (CHILDREN STATUS (MESSAGES HIGHESTMODSEQ))`, `a LIST "" "*" RETURN (CHILDREN STATUS (MESSAGES))`, func(t *testing.T, r *condRequest) {
			assert.True(t, r.listStatus)
			assert.False(t, r.statusStandIn)
		}},
		{"LIST", `a LIST "" "*" RETURN (STATUS (highestmodseq))`, `a LIST "" "*" RETURN (STATUS (UIDNEXT))`, func(t *testing.T, r *condRequest) { assert.True(t, r.statusStandIn) }},
		{"LIST", `a LIST "" "*" RETURN (STATUS (MESSAGES))`, "", nil},
		{"LIST", `a LIST "" "HIGHESTMODSEQ"`, "", nil},
		{"ENABLE", `a ENABLE IMAP4rev2 condstore`, `a ENABLE IMAP4rev2 condstore`, func(t *testing.T, r *condRequest) { assert.True(t, r.enable) }},
		{"ENABLE", `a ENABLE IMAP4rev2`, "", nil},
	}
	for _, c := range cases {
		tag, name, _, _ := splitCommand([]byte(c.line + "\r\n"))
		require.Equal(t, c.name, name)
		got, req := condCommand(tag, name, []byte(c.line+"\r\n"), false)
		if c.want == "" {
			assert.Nil(t, req, c.line)
			assert.Equal(t, c.line+"\r\n", string(got), c.line)
			continue
		}
		require.NotNil(t, req, c.line)
		assert.Equal(t, c.want+"\r\n", string(got), c.line)
		if c.check != nil {
			c.check(t, req)
		}
	}
}

// RFC 7162 on the generated corpus: every base message has mod-sequence 1,
// changes take new ones; the audit trail carries imap.modseq on store and
// fetch events of a CONDSTORE session, and a conditional STORE's refusals.
func TestCondstoreAudit(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	b := rawSession(t, ts, "agent@interieur.test")
	lines := a.do("a1", "SELECT INBOX (CONDSTORE)")
	assert.Contains(t, lines, "* OK [HIGHESTMODSEQ 1] Highest")
	b.do("b1", "SELECT INBOX")

	lines = a.do("a2", "FETCH 1:3 (MODSEQ)")
	assert.Equal(t, []string{"* 1 FETCH (MODSEQ (1) UID 1)", "* 2 FETCH (MODSEQ (1) UID 2)", "* 3 FETCH (MODSEQ (1) UID 3)"}, lines[:3])

	// Another session changes message 2: a's UNCHANGEDSINCE 1 STORE
	// leaves it alone and says so.
	b.do("b2", "STORE 2 +FLAGS (\\Flagged)")
	lines = a.do("a3", "STORE 1:3 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)")
	assert.Equal(t, "a3 OK [MODIFIED 2] Conditional STORE failed", lines[len(lines)-1])
	assert.Contains(t, lines, "* 2 FETCH (MODSEQ (2) UID 2 FLAGS (\\Flagged \\Seen))", "the other session's change, unsolicited, with its MODSEQ")
	assert.Contains(t, lines, "* 1 FETCH (MODSEQ (3) UID 1 FLAGS (\\Answered))")
	assert.Contains(t, lines, "* 3 FETCH (MODSEQ (3) UID 3 FLAGS (\\Answered))")

	lines = a.do("a4", "UID SEARCH MODSEQ 3")
	assert.Equal(t, "* SEARCH 1 3 (MODSEQ 3)", lines[0])
	lines = a.do("a5", "FETCH 1:* (FLAGS) (CHANGEDSINCE 1)")
	assert.Len(t, lines, 4, "only the three changed messages: %q", lines)

	var modified, stored *audit.Event
	evs := ts.events(t)
	for _, e := range actions(evs, audit.IMAPStore) {
		if e.Reason == "modified" {
			modified = e
		} else if e.Command == "STORE" && e.MessageUID == 3 && e.Outcome == audit.Success && e.ModSeq == 3 {
			stored = e
		}
	}
	require.NotNil(t, modified, "a refused conditional store is audited")
	assert.Equal(t, audit.Failure, modified.Outcome)
	assert.Equal(t, uint32(2), modified.MessageUID)
	assert.Equal(t, uint64(2), modified.ModSeq)
	require.NotNil(t, stored, "a stored message's event carries its new mod-sequence")
	for _, e := range actions(evs, audit.IMAPStore) {
		if e.Command == "STORE" && e.Flags == `+FLAGS (\Flagged)` {
			assert.Zero(t, e.ModSeq, "no imap.modseq for a session without CONDSTORE")
		}
	}
	var fetched bool
	for _, e := range actions(evs, audit.IMAPFetch) {
		if strings.HasSuffix(e.FetchItems, "(CHANGEDSINCE 1)") && e.MessageUID == 2 {
			fetched = true
			assert.Equal(t, uint64(2), e.ModSeq)
		}
	}
	assert.True(t, fetched, "FETCH CHANGEDSINCE is audited with its modifier")
	var searched bool
	for _, e := range actions(evs, audit.IMAPSearch) {
		if e.Search == "MODSEQ 3" {
			searched = true
		}
	}
	assert.True(t, searched, "SEARCH MODSEQ is audited in IMAP syntax")
}
