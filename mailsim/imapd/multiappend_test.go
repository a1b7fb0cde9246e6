package imapd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// RFC 3502 §6.3.11: the messages of a MULTIAPPEND are added all at once or
// not at all; APPENDUID names them all (RFC 4315 §3). One imap.append event
// per message.
func TestMultiAppend(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, quota: 3000})
	r := dialLogin(t, ts, "agent@interieur.test")
	msg := func(subj string, n int) string {
		return "Subject: " + subj + "\r\n\r\n" + strings.Repeat("x", n) + "\r\n"
	}
	m1, m2, m3 := msg("un", 100), msg("deux", 200), msg("trois", 300)

	// Non-synchronizing literals (RFC 7888): the whole command at once.
	write(t, r, fmt.Sprintf("a1 APPEND INBOX (\\Seen) {%d+}\r\n%s {%d+}\r\n%s (\\Flagged $Urgent) {%d+}\r\n%s\r\n", len(m1), m1, len(m2), m2, len(m3), m3))
	lines := r.until("a1 ")
	assert.Equal(t, []string{"a1 OK [APPENDUID 1 31:33] APPEND completed"}, lines)

	r.send("s SELECT INBOX")
	r.until("s ")
	r.send("f UID FETCH 31:* (FLAGS)")
	lines = r.until("f ")
	assert.Equal(t, []string{
		`* 31 FETCH (UID 31 FLAGS (\Seen \Recent))`,
		`* 32 FETCH (UID 32 FLAGS (\Recent))`,
		`* 33 FETCH (UID 33 FLAGS ($Urgent \Flagged \Recent))`,
		"f OK UID FETCH completed"}, lines)

	// Over quota as a whole (the third message does not fit): none is
	// added, every message has its event.
	big := msg("gros", 2500)
	write(t, r, fmt.Sprintf("a2 APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s\r\n", len(m1), m1, len(big), big))
	assert.Equal(t, []string{"a2 NO [OVERQUOTA] Quota exceeded"}, r.until("a2 "))

	// A message that cannot be parsed spoils the set: the one before it
	// is not added either. Synchronizing literals: one "+" per message.
	r.send(fmt.Sprintf("a3 APPEND INBOX {%d}", len(m1)))
	require.True(t, strings.HasPrefix(r.line(), "+"))
	bad := "\x00bad\r\n\r\n"
	write(t, r, m1+fmt.Sprintf(" {%d}\r\n", len(bad)))
	require.True(t, strings.HasPrefix(r.line(), "+"), "a continuation request for the second message")
	write(t, r, bad+"\r\n")
	lines = r.until("a3 ")
	assert.True(t, strings.HasPrefix(lines[len(lines)-1], "a3 NO [PARSE]"), "%q", lines)

	r.send("n NOOP")
	r.until("n ")
	r.send("st STATUS INBOX (MESSAGES UIDNEXT)")
	assert.Equal(t, "* STATUS INBOX (MESSAGES 33 UIDNEXT 34)", r.until("st ")[0], "nothing added by the refused MULTIAPPENDs")

	// A single APPEND still works after them.
	r.send(fmt.Sprintf("a4 APPEND INBOX {%d}", len(m1)))
	require.True(t, strings.HasPrefix(r.line(), "+"))
	write(t, r, m1+"\r\n")
	lines = r.until("a4 ")
	assert.Equal(t, "a4 OK [APPENDUID 1 34] APPEND completed", lines[len(lines)-1])

	var ok, quota, aborted, parse int
	for _, e := range actions(ts.events(t), audit.IMAPAppend) {
		switch {
		case e.Outcome == audit.Success:
			ok++
		case e.Reason == "limit_quota":
			quota++
		case e.Reason == "aborted":
			aborted++
		case strings.HasPrefix(e.Reason, "cannot_parse_message"):
			parse++
		default:
			t.Errorf("unexpected imap.append event: %+v", e)
		}
	}
	assert.Equal(t, 4, ok, "three messages of a1, one of a4")
	assert.Equal(t, 2, quota, "every message of a2 is refused for the quota")
	assert.Equal(t, 1, aborted, "the good message of a3")
	assert.Equal(t, 1, parse, "the bad message of a3")
}

// A MULTIAPPEND is held in memory until its last message: past
// maxMultiAppendMessages it is refused, and the session goes on.
func TestMultiAppendLimit(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialLogin(t, ts, "agent@interieur.test")
	m := "Subject: x\r\n\r\nx\r\n"
	var b strings.Builder
	b.WriteString("a1 APPEND INBOX")
	for i := 0; i <= maxMultiAppendMessages; i++ {
		fmt.Fprintf(&b, " {%d+}\r\n%s", len(m), m)
	}
	b.WriteString("\r\n")
	write(t, r, b.String())
	lines := r.until("a1 ")
	assert.Equal(t, fmt.Sprintf("a1 NO [LIMIT] MULTIAPPEND over %d messages or %d bytes", maxMultiAppendMessages, maxMultiAppendBytes), lines[len(lines)-1])
	r.send("st STATUS INBOX (MESSAGES)")
	assert.Equal(t, "* STATUS INBOX (MESSAGES 30)", r.until("st ")[0])

	reasons := map[string]int{}
	for _, e := range actions(ts.events(t), audit.IMAPAppend) {
		reasons[e.Reason]++
	}
	assert.Equal(t, map[string]int{"limit_multiappend": 1, "aborted": maxMultiAppendMessages}, reasons)
}
