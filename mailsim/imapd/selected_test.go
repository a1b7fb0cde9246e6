package imapd

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// COPY/MOVE of a set that matches nothing answers a clean OK (no COPYUID
// with empty sets, which go-imap cannot encode) and is audited.
func TestCopyMoveEmptySet(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialLogin(t, ts, "agent@interieur.test")
	r.send("s SELECT INBOX")
	r.until("s ")
	r.send("c UID COPY 9999 Sent")
	lines := r.until("c ")
	assert.Equal(t, []string{"c OK COPY completed"}, lines)
	r.send("m UID MOVE 9999 Sent")
	lines = r.until("m ")
	assert.Equal(t, []string{"m OK UID MOVE completed"}, lines)
	// MOVE into the same mailbox moves the message: a new UID, COPYUID,
	// and the old one expunged (RFC 6851 §3.3, RFC 4315 §3; Dovecot does
	// the same).
	r.send("x MOVE 1 INBOX")
	lines = r.until("x ")
	assert.Equal(t, []string{"* OK [COPYUID 1 1 31] COPY completed", "* 31 EXISTS", "* 1 RECENT", "* 1 EXPUNGE", "x OK MOVE completed"}, lines)
	r.send("f FETCH 30 (UID)")
	assert.Equal(t, "* 30 FETCH (UID 31)", r.until("f ")[0])

	evs := ts.events(t)
	cp := actions(evs, audit.IMAPCopy)
	require.Len(t, cp, 1)
	assert.Equal(t, "no_messages", cp[0].Reason)
	assert.Equal(t, "Sent", cp[0].DestMailbox)
	mv := actions(evs, audit.IMAPMove)
	require.Len(t, mv, 2)
	assert.Equal(t, "no_messages", mv[0].Reason)
	assert.Equal(t, audit.Success, mv[1].Outcome)
	assert.Equal(t, uint32(1), mv[1].MessageUID)
	assert.Equal(t, "INBOX", mv[1].DestMailbox)
}

// "$" before any SEARCH SAVE is the empty set (RFC 5182), not an error.
func TestSearchResBeforeSave(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialLogin(t, ts, "agent@interieur.test")
	r.send("s SELECT INBOX")
	r.until("s ")
	r.send("f FETCH $ FLAGS")
	assert.Equal(t, []string{"f OK FETCH completed"}, r.until("f "))
	r.send("a SEARCH RETURN (SAVE) UID 3")
	r.until("a ")
	r.send("g UID FETCH $ (FLAGS)")
	lines := r.until("g ")
	require.Len(t, lines, 2, "%q", lines)
	assert.Contains(t, lines[0], "UID 3")
}
