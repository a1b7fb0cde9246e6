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

// RFC 3516 §4.3 (RFC 9051 §7.5.2): a partial BINARY fetch is answered with
// its origin, BINARY[part]<origin>, like BODY[part]<origin>.
func TestFetchBinaryPartialOrigin(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	a.appendRaw("a1", "INBOX", "From: chef@interieur.test\r\nSubject: binaire\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nMDEyMzQ1Njc4OQ==\r\n--B\r\nContent-Type: text/plain\r\n\r\nabcdefgh\r\n--B--\r\n")
	a.do("a2", "SELECT INBOX")
	a.send("a3 FETCH 11 (BINARY.PEEK[1]<2.5> BINARY.PEEK[2] BINARY.PEEK[1]<7.100>)")
	var got strings.Builder
	for {
		l := a.line()
		got.WriteString(l + "\n")
		if strings.HasPrefix(l, "a3 ") {
			break
		}
	}
	s := got.String()
	assert.Contains(t, s, "BINARY[1]<2> ~{5}\n23456 BINARY[2] ~{", "%q", s)
	assert.Contains(t, s, "abcdefgh", "%q", s)
	assert.Contains(t, s, " BINARY[1]<7> ~{3}\n789)", "%q", s)
	// The next FETCH is not affected by the last one's origins.
	lines := a.do("a4", "FETCH 11 (BINARY.SIZE[1])")
	assert.Contains(t, lines[0], "BINARY.SIZE[1] 10")
}

// RFC 3501 §6.4.4 SEARCH FROM matches the From field; RFC 5322 §3.4.1
// allows comments inside the address, which are not part of it.
func TestSearchFromWithComments(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	a.appendRaw("a1", "INBOX", "From: <user (comment)@ (comment) domain.org>\r\nTo: Team (x) <team (y)@ example.org>\r\nSubject: commentaires\r\n\r\ncorps\r\n")
	a.do("a2", "SELECT INBOX")
	assert.Contains(t, a.do("a3", `SEARCH FROM "user@domain.org"`), "* SEARCH 11")
	assert.Contains(t, a.do("a4", `SEARCH TO "team@example.org"`), "* SEARCH 11")
	assert.Contains(t, a.do("a5", `SEARCH FROM "comment"`), "* SEARCH 11", "the raw field still matches")
	assert.Contains(t, a.do("a6", `SEARCH FROM "nobody@domain.org"`), "* SEARCH")
	lines := a.do("a7", "FETCH 11 ENVELOPE")
	assert.Contains(t, lines[0], `((NIL NIL "user" "domain.org"))`, "%q", lines)
}

// Subscriptions are the user's, not the mailboxes' (RFC 3501 §6.3.6,
// §6.3.9): CREATE does not subscribe, DELETE does not unsubscribe, and
// LIST (SUBSCRIBED) shows such a name \NonExistent (RFC 5258 §3.1). Plain
// LIST lists the levels above a mailbox \Noselect (RFC 3501 §6.3.8); with
// "%", LSUB lists an unsubscribed level with a subscribed child \Noselect
// (§6.3.9) and RECURSIVEMATCH gives it CHILDINFO (RFC 5258 §3.5). The
// responses are those of Dovecot 2.3.19 to the same commands (but for
// attribute order and the quoting of names).
func TestListSubscriptions(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	a.do("a1", "CREATE Projets")
	assert.NotContains(t, strings.Join(a.do("a2", `LSUB "" "*"`), "\n"), "Projets")
	assert.Equal(t, `* LIST (\HasNoChildren) "/" "Projets"`, a.do("a3", `LIST "" Projets`)[0])
	a.do("a4", "SUBSCRIBE Projets")
	assert.Equal(t, `* LIST (\HasNoChildren \Subscribed) "/" "Projets"`, a.do("a5", `LIST "" Projets`)[0])
	a.do("a6", "DELETE Projets")
	assert.Contains(t, a.do("a7", `LSUB "" "*"`), `* LSUB () "/" "Projets"`)
	assert.Contains(t, a.do("a8", `LIST (SUBSCRIBED) "" "*"`), `* LIST (\NonExistent \Subscribed) "/" "Projets"`)
	assert.NotContains(t, strings.Join(a.do("a9", `LIST "" "*"`), "\n"), "Projets")
	a.do("a10", "UNSUBSCRIBE Projets")
	assert.NotContains(t, strings.Join(a.do("a11", `LSUB "" "*"`), "\n"), "Projets")

	a.do("b1", "CREATE Dossiers/2025")
	lines := a.do("b2", `LIST "" "%"`)
	assert.Contains(t, lines, `* LIST (\HasChildren \Noselect) "/" "Dossiers"`, "%q", lines)
	assert.Contains(t, a.do("b3", `LIST "" "*"`), `* LIST (\HasChildren \Noselect) "/" "Dossiers"`, "an implied level is listed for * too, as Dovecot does")
	a.do("b4", "SUBSCRIBE Dossiers/2025")
	lines = a.do("b5", `LSUB "" "%"`)
	assert.Contains(t, lines, `* LSUB (\Noselect) "/" "Dossiers"`, "%q", lines)
	assert.NotContains(t, strings.Join(lines, "\n"), "Dossiers/2025")
	lines = a.do("b6", `LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`)
	assert.Contains(t, lines, `* LIST (\NonExistent) "/" "Dossiers" (CHILDINFO ("SUBSCRIBED"))`, "%q", lines)
	assert.Contains(t, lines, `* LIST (\HasNoChildren \Subscribed) "/" INBOX`, "%q", lines)
	lines = a.do("b7", `LIST (SUBSCRIBED) "" "*"`)
	assert.Contains(t, lines, `* LIST (\HasNoChildren \Subscribed) "/" "Dossiers/2025"`, "%q", lines)
}

// RFC 3501 §4.3: a literal cannot carry NUL. A message APPENDed through a
// literal8 (RFC 3516 §4.2) with a part holding NUL bytes is kept with that
// part in base64, so BODY[1] returns base64 and BINARY[1] the bytes — the
// answers of Dovecot 2.3.19 to the same commands.
func TestAppendBinaryWithNUL(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	msg := "From: a@interieur.test\r\nSubject: nul\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\nab\x00cd\x00\r\n--B--\r\n"
	a.send(fmt.Sprintf("a1 APPEND INBOX ~{%d+}\r\n%s", len(msg), msg))
	require.Contains(t, a.until("a1 ")[0], "a1 OK")
	a.do("a2", "SELECT INBOX")
	lines := a.do("a3", "FETCH 11 (BODY.PEEK[1] BINARY.PEEK[1])")
	assert.Equal(t, []string{"* 11 FETCH (UID 11 BODY[1] {8}", "YWIAY2QA BINARY[1] ~{6}", "ab\x00cd\x00)", "a3 OK FETCH completed"}, lines)
	for _, l := range a.do("a4", "FETCH 11 BODY.PEEK[]") {
		assert.NotContains(t, l, "\x00")
	}
}
