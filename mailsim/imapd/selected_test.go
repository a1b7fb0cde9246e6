package imapd

import (
	"strings"
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
	r.send("x MOVE 1 INBOX")
	assert.True(t, strings.HasPrefix(r.until("x ")[0], "x NO [CANNOT]"))

	evs := ts.events(t)
	cp := actions(evs, audit.IMAPCopy)
	require.Len(t, cp, 1)
	assert.Equal(t, "no_messages", cp[0].Reason)
	assert.Equal(t, "Sent", cp[0].DestMailbox)
	mv := actions(evs, audit.IMAPMove)
	require.Len(t, mv, 2)
	assert.Equal(t, "no_messages", mv[0].Reason)
	assert.Equal(t, audit.Failure, mv[1].Outcome)
	assert.Equal(t, "same_mailbox", mv[1].Reason)
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
