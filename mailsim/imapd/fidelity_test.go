package imapd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendRaw APPENDs msg as it is and returns nothing but failures.
func (r *rawConn) appendRaw(tag, mailbox, msg string) {
	r.t.Helper()
	r.send(fmt.Sprintf("%s APPEND %s {%d}", tag, mailbox, len(msg)))
	require.True(r.t, strings.HasPrefix(r.line(), "+"))
	r.send(msg)
	lines := r.until(tag + " ")
	require.Contains(r.t, lines[len(lines)-1], tag+" OK")
}

// RFC 3501 §7.4.2 / RFC 9051 §7.5.2: ENVELOPE keeps group syntax — a start
// marker, the members, an end marker; an empty group is not NIL.
func TestFetchEnvelopeGroups(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	a.appendRaw("a1", "INBOX", "From: chef@interieur.test\r\nTo: undisclosed-recipients:;\r\nCc: Cabinet: a@interieur.test, b@interieur.test;, c@interieur.test\r\nSubject: groupes\r\n\r\ncorps\r\n")
	a.do("a2", "SELECT INBOX")
	lines := a.do("a3", "FETCH 11 ENVELOPE")
	assert.Contains(t, lines[0], ` ((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL)) `, "To: %q", lines)
	assert.Contains(t, lines[0], ` ((NIL NIL "Cabinet" NIL) (NIL NIL "a" "interieur.test") (NIL NIL "b" "interieur.test") (NIL NIL NIL NIL) (NIL NIL "c" "interieur.test")) `, "Cc: %q", lines)
}
