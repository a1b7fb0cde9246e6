package imapd

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// The QRESYNC parameter of SELECT/EXAMINE (RFC 7162 §3.2.5): what the shim
// takes off the line, and what it leaves to go-imap to refuse.
func TestResyncSelectSyntax(t *testing.T) {
	for _, c := range []struct {
		line  string
		ok    bool
		known string
	}{
		{"a SELECT INBOX (QRESYNC (67890007 20050715194045000))", true, ""},
		{"a EXAMINE INBOX (qresync (7 3 1:5,9))", true, "1:5,9"},
		{"a SELECT INBOX (QRESYNC (7 3 1:* (1:3,5 2,4:5,9)))", true, "1:*"},
		{"a SELECT INBOX (QRESYNC (7 3 9,*:5,1:2))", true, "1:2,5:*"}, // sorted: Contains searches it
		{"a SELECT INBOX (QRESYNC (7 3 1:* (1:3 2:5)))", false, ""},   // 3 and 4 elements
		{"a SELECT INBOX (QRESYNC (0 3))", false, ""},                 // UIDVALIDITY is non-zero
		{"a SELECT INBOX (QRESYNC (7 0))", false, ""},                 // mod-sequences are 1 or more
		{"a SELECT INBOX (QRESYNC (7))", false, ""},
		{"a SELECT INBOX (QRESYNC (7 3 x))", false, ""},
		{"a SELECT INBOX (QRESYNC (7 3 (1 1)))", false, ""}, // seq-match without known UIDs
		{"a SELECT INBOX", false, ""},
	} {
		out, r, ok := resyncSelect([]byte(c.line))
		assert.Equal(t, c.ok, ok, c.line)
		if !ok {
			continue
		}
		assert.Equal(t, c.line[:strings.Index(strings.ToUpper(c.line), " (QRESYNC")], out, c.line)
		if c.known == "" {
			assert.Nil(t, r.known, c.line)
		} else {
			assert.Equal(t, c.known, r.known.String(), c.line)
		}
	}
	// UID FETCH's VANISHED modifier: only with QRESYNC enabled.
	_, req := condCommand("a", "UID FETCH", []byte("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4 VANISHED)\r\n"), true)
	require.NotNil(t, req)
	assert.True(t, req.vanished)
	_, req = condCommand("a", "UID FETCH", []byte("a UID FETCH 1:* (FLAGS) (VANISHED CHANGEDSINCE 4)\r\n"), true)
	require.NotNil(t, req)
	assert.True(t, req.vanished)
	_, req = condCommand("a", "UID FETCH", []byte("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4 VANISHED)\r\n"), false)
	assert.Nil(t, req, "before ENABLE QRESYNC: left for go-imap to refuse")
	_, req = condCommand("a", "FETCH", []byte("a FETCH 1:* (FLAGS) (CHANGEDSINCE 4 VANISHED)\r\n"), true)
	assert.Nil(t, req, "VANISHED is for UID FETCH only (§3.2.6)")
}

var uidValidityLine = regexp.MustCompile(`\[UIDVALIDITY ([0-9]+)\]`)

// RFC 7162 §3.2 on the generated corpus, with the audit trail: a QRESYNC
// session is sent VANISHED for another session's EXPUNGE, resynchronises
// with SELECT (QRESYNC ...) and UID FETCH (CHANGEDSINCE n VANISHED); the
// events carry imap.modseq and imap.vanished; the parameter before ENABLE
// QRESYNC is refused and audited.
func TestQresyncAudit(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	b := rawSession(t, ts, "agent@interieur.test")
	c := rawSession(t, ts, "agent@interieur.test")
	lines := a.do("a1", "ENABLE QRESYNC")
	assert.Contains(t, lines, "* ENABLED QRESYNC")
	lines = a.do("a2", "SELECT INBOX")
	var uv string
	for _, l := range lines {
		if m := uidValidityLine.FindStringSubmatch(l); m != nil {
			uv = m[1]
		}
	}
	require.NotEmpty(t, uv)
	b.do("b1", "SELECT INBOX")
	b.do("b2", "STORE 1 +FLAGS.SILENT (\\Deleted)") // mod-sequence 2
	b.do("b3", "EXPUNGE")                           // 3
	b.do("b4", "STORE 2 +FLAGS.SILENT (\\Flagged)") // 4: UID 3, now message 2

	lines = a.do("a3", "NOOP")
	assert.Contains(t, lines, "* VANISHED 1", "§3.2.10: VANISHED, not EXPUNGE")
	for _, l := range lines {
		assert.NotContains(t, l, "EXPUNGE")
	}
	assert.Equal(t, "a3 OK [HIGHESTMODSEQ 4] NOOP completed", lines[len(lines)-1])

	lines = a.do("a4", "SELECT INBOX (QRESYNC ("+uv+" 1))")
	assert.Contains(t, lines, "* OK [CLOSED] Previous mailbox is now closed")
	assert.Contains(t, lines, "* VANISHED (EARLIER) 1")
	var changed []string
	for _, l := range lines {
		if strings.Contains(l, " FETCH ") {
			changed = append(changed, l)
		}
	}
	assert.Equal(t, []string{"* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (4))"}, changed, "only the messages changed since 1")

	lines = a.do("a5", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3 VANISHED)")
	require.NotEmpty(t, lines)
	assert.Equal(t, "a5 OK UID FETCH completed", lines[len(lines)-1])
	assert.NotContains(t, lines, "* VANISHED (EARLIER) 1", "expunged at 3, not after")
	lines = a.do("a6", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 2 VANISHED)")
	assert.Equal(t, "* VANISHED (EARLIER) 1", lines[0], "before the FETCH responses")

	c.send("c1 SELECT INBOX (QRESYNC (" + uv + " 1))")
	lines = c.until("c1 ")
	assert.Equal(t, []string{"c1 BAD [CLIENTBUG] QRESYNC not enabled"}, lines)

	evs := ts.events(t)
	var sel, fetched, refused bool
	for _, e := range actions(evs, audit.IMAPSelect) {
		if e.Outcome == audit.Success && e.ModSeq == 1 {
			sel = true
			assert.Equal(t, 1, e.Vanished)
			require.NotNil(t, e.SearchHits)
		}
		if e.Reason == "qresync_not_enabled" {
			refused = true
		}
	}
	for _, e := range actions(evs, audit.IMAPFetch) {
		if e.FetchItems == "VANISHED (CHANGEDSINCE 2)" {
			fetched = true
			assert.Equal(t, 1, e.Vanished)
		}
	}
	assert.True(t, sel, "the QRESYNC SELECT is audited with imap.modseq and imap.vanished")
	assert.True(t, fetched, "UID FETCH VANISHED is audited with imap.vanished")
	assert.True(t, refused, "the parameter before ENABLE QRESYNC is audited")
}
