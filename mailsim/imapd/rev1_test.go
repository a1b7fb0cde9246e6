package imapd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
)

// session opens a logged-in raw session for user.
func rawSession(t *testing.T, ts *testServer, user string) *rawConn {
	t.Helper()
	r := dialRaw(t, ts.addr)
	require.Contains(t, r.line(), "* OK")
	loginRaw(t, r, user)
	return r
}

// do sends a tagged command and returns its lines, the tagged one last,
// failing unless it is OK.
func (r *rawConn) do(tag, cmd string) []string {
	r.t.Helper()
	r.send(tag + " " + cmd)
	lines := r.until(tag + " ")
	require.True(r.t, strings.HasPrefix(lines[len(lines)-1], tag+" OK"), "%s: %q", cmd, lines)
	return lines
}

// appendMsg APPENDs a small message to mailbox with a synchronizing literal.
func (r *rawConn) appendMsg(tag, mailbox, flags string) []string {
	r.t.Helper()
	msg := "From: a@interieur.test\r\nSubject: nouveau\r\n\r\ncorps\r\n"
	if flags != "" {
		flags = " (" + flags + ")"
	}
	r.send(fmt.Sprintf("%s APPEND %s%s {%d}", tag, mailbox, flags, len(msg)))
	require.True(r.t, strings.HasPrefix(r.line(), "+"))
	r.send(msg)
	lines := r.until(tag + " ")
	require.Contains(r.t, lines[len(lines)-1], tag+" OK")
	return lines
}

func indexOf(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return -1
}

// RFC 3501 §7.2.6 / RFC 9051 §7.3.5: FLAGS lists the flags defined in the
// mailbox; §7.1 PERMANENTFLAGS those the client can change. A keyword used
// for the first time is announced in both to every session that has the
// mailbox selected, before any FETCH carries it.
func TestNewKeywordAnnounced(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	b := rawSession(t, ts, "agent@interieur.test")
	a.do("a1", "SELECT INBOX")
	b.do("b1", "SELECT INBOX")

	lines := b.do("b2", "STORE 1 +FLAGS ($Projet)")
	fl, fetch := indexOf(lines, "* FLAGS ("), indexOf(lines, "* 1 FETCH")
	require.GreaterOrEqual(t, fl, 0, "the storing session is told of its new keyword: %q", lines)
	assert.Contains(t, lines[fl], "$Projet")
	assert.Less(t, fl, fetch, "FLAGS before the FETCH that uses it: %q", lines)
	perm := indexOf(lines, "* OK [PERMANENTFLAGS (")
	require.GreaterOrEqual(t, perm, 0, "%q", lines)
	assert.Contains(t, lines[perm], `$Projet \*)]`)

	lines = a.do("a2", "NOOP")
	fl, fetch = indexOf(lines, "* FLAGS ("), indexOf(lines, "* 1 FETCH")
	require.GreaterOrEqual(t, fl, 0, "another session is told of the new keyword: %q", lines)
	assert.Contains(t, lines[fl], "$Projet")
	require.GreaterOrEqual(t, fetch, 0, "%q", lines)
	assert.Less(t, fl, fetch, "%q", lines)
	assert.Contains(t, lines[fetch], "$Projet")
	assert.GreaterOrEqual(t, indexOf(lines, "* OK [PERMANENTFLAGS ("), 0, "%q", lines)

	// A keyword that exists is not announced again.
	lines = b.do("b3", "STORE 2 +FLAGS ($Projet)")
	assert.Equal(t, -1, indexOf(lines, "* FLAGS"), "%q", lines)

	// A new SELECT lists it, and a read-only one says nothing is permanent.
	lines = b.do("b4", "SELECT INBOX")
	assert.Contains(t, lines[indexOf(lines, "* FLAGS")], "$Projet")
	assert.Contains(t, lines[indexOf(lines, "* OK [PERMANENTFLAGS")], `$Projet \*)`)
	lines = b.do("b5", "EXAMINE INBOX")
	assert.Contains(t, lines[indexOf(lines, "* FLAGS")], "$Projet")

	// APPEND with a new keyword announces it to a session with the
	// mailbox selected, before EXISTS makes the message known.
	b.do("b6", "SELECT INBOX")
	c := rawSession(t, ts, "agent@interieur.test")
	c.appendMsg("c1", "INBOX", `\Seen $Urgent`)
	lines = b.do("b7", "NOOP")
	assert.Contains(t, lines[indexOf(lines, "* FLAGS")], "$Urgent", "%q", lines)
	assert.Less(t, indexOf(lines, "* FLAGS"), indexOf(lines, "* 11 EXISTS"), "%q", lines)
	assert.Contains(t, b.do("b8", "FETCH 11 FLAGS")[0], "$Urgent")
}

// RFC 3501 §2.3.2: \Recent is set on a message for the one session that is
// first notified of it; §7.3.2 RECENT follows SELECT and EXISTS; §6.3.10
// STATUS (RECENT); §6.4.4 SEARCH RECENT/NEW/OLD; §6.3.2 EXAMINE does not
// take \Recent. IMAP4rev2 (RFC 9051 §2.3.2) has none of it.
func TestRecentForIMAP4rev1(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	lines := a.do("a1", "SELECT INBOX")
	assert.Contains(t, lines, "* 0 RECENT", "the generated mail is not recent")

	c := rawSession(t, ts, "agent@interieur.test")
	c.appendMsg("c1", "INBOX", "")
	lines = a.do("a2", "NOOP")
	i := indexOf(lines, "* 11 EXISTS")
	require.GreaterOrEqual(t, i, 0, "%q", lines)
	require.Greater(t, len(lines), i+1)
	assert.Equal(t, "* 1 RECENT", lines[i+1], "RECENT follows EXISTS: %q", lines)
	lines = a.do("a3", "FETCH 10:11 FLAGS")
	assert.Contains(t, lines[indexOf(lines, "* 11 FETCH")], `\Recent`)
	assert.NotContains(t, lines[indexOf(lines, "* 10 FETCH")], `\Recent`)
	assert.Contains(t, a.do("a4", "SEARCH RECENT"), "* SEARCH 11")
	assert.Contains(t, a.do("a5", "SEARCH NEW"), "* SEARCH 11")
	assert.Contains(t, a.do("a6", "SEARCH OLD"), "* SEARCH 1 2 3 4 5 6 7 8 9 10")
	// A client cannot set or clear \Recent: refused with BAD, as Dovecot
	// refuses it (testdata/transcripts/system-flags.txt).
	a.send(`a7 STORE 11 -FLAGS (\Recent)`)
	lines = a.until("a7 ")
	assert.Equal(t, `a7 BAD [CLIENTBUG] Invalid system flag \Recent`, lines[len(lines)-1])
	lines = a.do("a8", "FETCH 11 FLAGS")
	assert.Contains(t, lines[indexOf(lines, "* 11 FETCH")], `\Recent`)

	// Another session selecting later does not see it as recent.
	b := rawSession(t, ts, "agent@interieur.test")
	assert.Contains(t, b.do("b1", "SELECT INBOX"), "* 0 RECENT")
	assert.NotContains(t, b.do("b2", "FETCH 11 FLAGS")[0], `\Recent`)

	// COPY from another session into the selected mailbox.
	c.do("c2", "SELECT Sent")
	c.do("c3", "COPY 1 INBOX")
	lines = a.do("a8", "NOOP")
	assert.Contains(t, lines, "* 12 EXISTS")
	assert.Contains(t, lines, "* 2 RECENT", "%q", lines)
	// Expunging a recent message changes the RECENT count (as Dovecot
	// says, after the EXPUNGE).
	a.do("a9", `STORE 11 +FLAGS.SILENT (\Deleted)`)
	lines = a.do("a10", "EXPUNGE")
	i = indexOf(lines, "* 11 EXPUNGE")
	require.GreaterOrEqual(t, i, 0, "%q", lines)
	assert.Equal(t, "* 1 RECENT", lines[i+1], "%q", lines)

	// STATUS counts the messages no session has seen; EXAMINE reports them
	// without taking them, SELECT takes them.
	c.appendMsg("c4", "Archive/2024", "")
	assert.Contains(t, c.do("c5", "STATUS Archive/2024 (RECENT MESSAGES)"), "* STATUS \"Archive/2024\" (MESSAGES 4 RECENT 1)")
	assert.Contains(t, b.do("b3", "EXAMINE Archive/2024"), "* 1 RECENT")
	assert.NotContains(t, b.do("b4", "FETCH 4 FLAGS")[0], `\Recent`, "EXAMINE does not take \\Recent")
	assert.Contains(t, c.do("c6", "STATUS Archive/2024 (RECENT)"), "* STATUS \"Archive/2024\" (RECENT 1)")
	assert.Contains(t, b.do("b5", "SELECT Archive/2024"), "* 1 RECENT")
	assert.Contains(t, b.do("b6", "FETCH 4 FLAGS")[0], `\Recent`)
	assert.Contains(t, c.do("c7", "STATUS Archive/2024 (RECENT)"), "* STATUS \"Archive/2024\" (RECENT 0)")

	// An IMAP4rev2 client is told nothing of \Recent.
	d := rawSession(t, ts, "agent@interieur.test")
	d.do("d1", "ENABLE IMAP4rev2")
	c.appendMsg("c8", "Sent", "")
	lines = d.do("d2", "SELECT Sent")
	assert.Equal(t, -1, indexOf(lines, "* 1 RECENT"), "%q", lines)
	for _, l := range d.do("d3", "FETCH 1:* FLAGS") {
		assert.NotContains(t, l, `\Recent`)
	}
}

// RFC 3501 §6.4.2: CLOSE after EXAMINE closes the mailbox and answers OK,
// expunging nothing.
func TestCloseAfterExamine(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	a.do("a1", "SELECT INBOX")
	a.do("a2", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	a.do("a3", "EXAMINE INBOX")
	lines := a.do("a4", "CLOSE")
	assert.Equal(t, "a4 OK CLOSE completed", lines[len(lines)-1])
	assert.Contains(t, a.do("a5", "SELECT INBOX"), "* 10 EXISTS", "nothing expunged")
	// CLOSE after SELECT does expunge.
	a.do("a6", "CLOSE")
	assert.Contains(t, a.do("a7", "SELECT INBOX"), "* 9 EXISTS")
}

// Keywords are kept for the life of a mailbox and sent to every session in
// FLAGS: their number is bounded, and a STORE past the bound is refused
// with NO [LIMIT] (RFC 5530) and audited.
func TestKeywordLimit(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	a.do("a1", "SELECT INBOX")
	var kw []string
	for i := 0; i <= store.MaxKeywords; i++ {
		kw = append(kw, fmt.Sprintf("$k%d", i))
	}
	a.send("a2 STORE 1 +FLAGS (" + strings.Join(kw, " ") + ")")
	lines := a.until("a2 ")
	assert.True(t, strings.HasPrefix(lines[len(lines)-1], "a2 NO [LIMIT]"), "%q", lines)
	ts.eventWith(t, audit.IMAPStore, "limit_keywords")
	lines = a.do("a3", "STORE 1 +FLAGS ("+strings.Join(kw[:store.MaxKeywords], " ")+")")
	assert.Contains(t, lines[indexOf(lines, "* FLAGS")], fmt.Sprintf("$k%d)", store.MaxKeywords-1))
}

// A selected session that reads nothing while its mailbox changes does not
// make memory grow without bound: past store.MaxViewChanges unread
// changes its view is dropped, and at its next command it is told BYE
// [LIMIT] and audited (limit_mailbox_changes).
func TestViewChangesBounded(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	a.do("a1", "SELECT INBOX")
	mb, err := ts.store.Mailbox("agent@interieur.test", "INBOX")
	require.NoError(t, err)
	for i := 0; i <= store.MaxViewChanges; i++ {
		_, err := mb.StoreFlags([]uint32{1}, store.FlagsSet, []imap.Flag{imap.Flag([]string{`\Seen`, `\Flagged`}[i%2])}, nil)
		require.NoError(t, err)
	}
	a.send("a2 NOOP")
	lines := readToEOF(t, a)
	require.NotEmpty(t, lines)
	assert.True(t, strings.HasPrefix(lines[0], "* BYE [LIMIT]"), "%q", lines[:min(3, len(lines))])
	ts.eventWith(t, audit.IMAPLogout, "limit_mailbox_changes")
	// Another session is unaffected.
	b := rawSession(t, ts, "agent@interieur.test")
	assert.Contains(t, b.do("b1", "SELECT INBOX"), "* 10 EXISTS")
}
