package imapd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// A message whose malformed header line ends like a literal ("{2}") is
// refused with a response text that quotes it: the text is one line, the
// shim does not take its end for a literal, and clients are not led to
// (many take any line ending in "{N}" for one). The client's next
// commands are answered in order and audited as what they were; before,
// the shim swallowed the next response's first bytes, answered NOOP
// twice, recorded it as a desync and ended the session.
func TestRefusalQuotingALiteralKeepsTheSession(t *testing.T) {
	ts := startConnServer(t, connServerOpts{})
	a := rawSession(t, ts, "agent@interieur.test")
	a.do("s", "SELECT INBOX")
	for i, head := range []string{"Subject {2}", "X-Note {12+}", "Junk {0}\r"} {
		msg := head + "\r\n\r\nbody\r\n"
		tag := fmt.Sprintf("a%d", i)
		a.send(fmt.Sprintf("%s APPEND INBOX {%d+}", tag, len(msg)))
		a.send(msg)
		lines := a.until(tag + " ")
		require.Len(t, lines, 1, "%q", lines)
		no := lines[0]
		assert.True(t, strings.HasPrefix(no, tag+" NO [PARSE] Cannot parse message: "), no)
		assert.True(t, strings.HasSuffix(no, "}."), "the text ends with a full stop, not a literal: %q", no)
		assert.NotContains(t, no, "\r")
		// The next commands: answered once each, in order.
		a.send("n" + tag + " NOOP")
		assert.Equal(t, []string{"n" + tag + " OK NOOP completed"}, a.until("n"+tag+" "))
		lines = a.do("f"+tag, "FETCH 1 (FLAGS)")
		assert.Len(t, lines, 2)
	}
	a.do("z", "LOGOUT")

	evs := ts.events(t)
	assert.Len(t, actions(evs, audit.IMAPAppend), 3)
	for _, e := range actions(evs, audit.IMAPAppend) {
		assert.Equal(t, audit.Failure, e.Outcome)
		assert.NotContains(t, e.Reason, "\r")
		assert.NotContains(t, e.Reason, "\n")
	}
	assert.Len(t, actions(evs, audit.IMAPFetch), 3, "every FETCH audited")
	for _, e := range evs {
		assert.NotEqual(t, "protocol_desync", e.Reason, "%s %s", e.Action, e.Command)
	}
}

func TestStatusResponse(t *testing.T) {
	for line, want := range map[string]bool{
		"a NO [PARSE] x {2}\r\n":          true,
		"a OK done\r\n":                   true,
		"a bad x\r\n":                     true,
		"* OK [ALERT] {5}\r\n":            true,
		"* BYE x\r\n":                     true,
		"* PREAUTH x\r\n":                 true,
		"+ Ready for literal data\r\n":    true,
		"* 1 FETCH (BODY[] {5}\r\n":       false,
		"* LIST () \"/\" {3}\r\n":         false,
		"* SEARCH 1 2\r\n":                false,
		"a NOOP {2}\r\n":                  false,
		" BODY[1] {4}\r\n":                false,
		"\r\n":                            false,
		"* OKAY {3}\r\n":                  false,
		"a NO\r\n":                        true,
		"* 3 EXISTS\r\n":                  false,
		"a PREAUTH {2}\r\n":               false, // tagged: OK, NO or BAD only
		"* STATUS INBOX (MESSAGES 1)\r\n": false,
	} {
		assert.Equal(t, want, statusResponse([]byte(line)), "%q", line)
	}
	assert.Equal(t, "a NO x {2}.\r\n", string(notLiteral([]byte("a NO x {2}\r\n"))))
	assert.Equal(t, "a NO x {2+}.\n", string(notLiteral([]byte("a NO x {2+}\n"))))
	assert.Equal(t, "a NO x {y}\r\n", string(notLiteral([]byte("a NO x {y}\r\n"))))
	assert.Equal(t, "a OK done\r\n", string(notLiteral([]byte("a OK done\r\n"))))
	assert.Equal(t, "no such mailbox a  b", respText("no such mailbox a\r\nb\x00"))
	assert.Equal(t, "é ok", respText("é ok\n"))
}
