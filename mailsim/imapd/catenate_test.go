package imapd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// RFC 4469 CATENATE: the message is the parts joined; the audit event of
// the APPEND counts them; a bad URL adds nothing (§6); CATENATE inside a
// MULTIAPPEND is refused, not half-done.
func TestCatenate(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialLogin(t, ts, "agent@interieur.test")
	r.send("st STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)")
	status := r.until("st ")[0]
	var n, next, uv uint32
	_, err := fmt.Sscanf(status, "* STATUS INBOX (MESSAGES %d UIDNEXT %d UIDVALIDITY %d)", &n, &next, &uv)
	require.NoError(t, err, status)

	body := "joined body\r\n"
	// A synchronizing TEXT literal: the shim asks for it with "+".
	r.send(fmt.Sprintf(`a1 APPEND INBOX CATENATE (URL "/INBOX;UIDVALIDITY=%d/;UID=1/;SECTION=HEADER" TEXT {%d}`, uv, len(body)))
	require.True(t, strings.HasPrefix(r.line(), "+"))
	write(t, r, body+")\r\n")
	assert.Equal(t, fmt.Sprintf("a1 OK [APPENDUID %d %d] APPEND completed", uv, next), r.until("a1 ")[0])

	r.send("s SELECT INBOX")
	r.until("s ")
	r.send(fmt.Sprintf("f UID FETCH 1,%d (BODY.PEEK[HEADER] BODY.PEEK[TEXT])", next))
	lines := r.until("f ")
	all := strings.Join(lines, "\n")
	i := strings.Index(all, fmt.Sprintf("* %d FETCH", next))
	require.Positive(t, i, "%q", lines)
	header := func(s string) string {
		return s[strings.Index(s, "BODY[HEADER]"):strings.Index(s, "BODY[TEXT]")]
	}
	assert.Equal(t, header(all[:i]), header(all[i:]), "the new message's header is message 1's")
	assert.Contains(t, all[i:], "BODY[TEXT] {13}\njoined body\n)")

	// Every part unresolvable: BADURL, nothing added.
	for i, u := range []string{
		fmt.Sprintf("/INBOX;UIDVALIDITY=%d/;UID=99999", uv),
		fmt.Sprintf("/INBOX;UIDVALIDITY=%d/;UID=1", uv+1),
		"imap://agent@elsewhere.test/INBOX/;UID=1",
		"/Users/someone/INBOX/;UID=1",
		"/INBOX/;UID=1/;SECTION=HEADER.FIELDS",
	} {
		tag := fmt.Sprintf("b%d", i)
		r.send(fmt.Sprintf(`%s APPEND INBOX CATENATE (TEXT {3+}`, tag))
		write(t, r, fmt.Sprintf("abc URL %q)\r\n", u))
		assert.Equal(t, tag+" NO [BADURL "+u+"] Invalid URL", r.until(tag + " ")[0])
	}
	// Inside a MULTIAPPEND: refused, and the connection goes on.
	write(t, r, "m1 APPEND INBOX CATENATE (TEXT {3+}\r\nabc) {2+}\r\nhi\r\n")
	assert.Equal(t, "m1 BAD CATENATE in MULTIAPPEND is not supported", r.until("m1 ")[0])
	r.send("n NOOP")
	assert.Equal(t, []string{"n OK NOOP completed"}, r.until("n "))
	r.send("st2 STATUS INBOX (MESSAGES)")
	assert.Equal(t, fmt.Sprintf("* STATUS INBOX (MESSAGES %d)", n+1), r.until("st2 ")[0])

	var ok, bad, multi int
	for _, e := range actions(ts.events(t), audit.IMAPAppend) {
		switch {
		case e.Outcome == audit.Success:
			ok++
			assert.Equal(t, 2, e.CatenateParts)
			assert.Equal(t, next, e.MessageUID)
		case e.Reason == "catenate_in_multiappend":
			multi++
		default:
			bad++
			assert.Equal(t, 2, e.CatenateParts, "%+v", e)
		}
	}
	assert.Equal(t, 1, ok)
	assert.Equal(t, 5, bad)
	assert.Equal(t, 1, multi)
}

// The parts of a CATENATE go to the server as one literal: past the
// APPEND size limit the command is refused when the literal is announced.
func TestCatenateTooBig(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialLogin(t, ts, "agent@interieur.test")
	r.send(fmt.Sprintf(`a1 APPEND INBOX CATENATE (URL "/INBOX/;UID=1" TEXT {%d}`, ts.srv.cfg.MaxAppendBytes))
	assert.True(t, strings.HasPrefix(r.line(), "a1 BAD [TOOBIG] CATENATE of "))
	assert.True(t, strings.HasPrefix(r.line(), "* BYE [TOOBIG]"))
}
