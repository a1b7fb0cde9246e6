package imapd

import (
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// Arguments go-imap cannot convert (a sequence set, a date) were answered
// "NO [SERVERBUG] Internal server error" and audited as server_error: the
// server blamed itself for the client's input. A message number the client
// was never told of was answered OK. Both are BAD now, as Dovecot answers
// them (testdata/transcripts/bad-arguments.txt plays them against both),
// and audited with what was wrong.
func TestBadArgumentsAreTheClients(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 3})
	r := dialLogin(t, ts, "agent@interieur.test")
	r.send("s SELECT INBOX")
	require.Contains(t, r.until("s ")[0:], "s OK [READ-WRITE] SELECT completed")
	cases := []struct {
		cmd, want, action, reason string
	}{
		{"FETCH 0 FLAGS", "BAD [CLIENTBUG] Syntax error: invalid sequence set", audit.IMAPFetch, "syntax_error"},
		{"FETCH 1: FLAGS", "BAD [CLIENTBUG] Syntax error: invalid sequence set", audit.IMAPFetch, "syntax_error"},
		{"UID FETCH 4294967296 FLAGS", "BAD [CLIENTBUG] Syntax error: invalid sequence set", audit.IMAPFetch, "syntax_error"},
		{"STORE 1,0 +FLAGS (\\Seen)", "BAD [CLIENTBUG] Syntax error: invalid sequence set", audit.IMAPStore, "syntax_error"},
		// Before: "NO [CANNOT] Invalid mailbox name", as if INBOX were.
		{"COPY 0 INBOX", "BAD [CLIENTBUG] Syntax error: invalid sequence set", audit.IMAPCopy, "syntax_error"},
		{"UID EXPUNGE 0", "BAD [CLIENTBUG] Syntax error: invalid sequence set", audit.IMAPExpunge, "syntax_error"},
		{"SEARCH SINCE 31-Foo-2025", "BAD [CLIENTBUG] Syntax error: invalid sequence set or date", audit.IMAPSearch, "syntax_error"},
		// go-imap's own BAD without a code: the client's syntax too (it was
		// audited as "refused").
		{"STATUS INBOX (FOO)", "BAD Unknown STATUS data item", audit.IMAPStatus, "syntax_error"},
		// go-imap took an empty header list for BODY[HEADER] and answered
		// with that section instead.
		{"FETCH 1 BODY.PEEK[HEADER.FIELDS ()]", "BAD [CLIENTBUG] Syntax error: a header list needs at least one field name", audit.IMAPFetch, "syntax_error"},
		// go-imap answered "* 1 FETCH ()", which no client grammar allows.
		{"FETCH 1 ()", "BAD [CLIENTBUG] Syntax error: FETCH needs at least one item", audit.IMAPFetch, "syntax_error"},
		{"FETCH 4 FLAGS", "BAD [CLIENTBUG] Invalid sequence set: no message 4 (3 in the mailbox)", audit.IMAPFetch, "no_such_message"},
		{"STORE 2:9 +FLAGS (\\Seen)", "BAD [CLIENTBUG] Invalid sequence set: no message 9 (3 in the mailbox)", audit.IMAPStore, "no_such_message"},
		{"COPY 7 Sent", "BAD [CLIENTBUG] Invalid sequence set: no message 7 (3 in the mailbox)", audit.IMAPCopy, "no_such_message"},
		{"MOVE 7 Sent", "BAD [CLIENTBUG] Invalid sequence set: no message 7 (3 in the mailbox)", audit.IMAPMove, "no_such_message"},
	}
	for i, c := range cases {
		tag := "b" + string(rune('a'+i))
		r.send(tag + " " + c.cmd)
		lines := r.until(tag + " ")
		assert.Equal(t, tag+" "+c.want, lines[len(lines)-1], c.cmd)
	}
	// UIDs that match nothing, and a SEARCH of a number past the end, are
	// no error.
	r.send("u1 UID FETCH 1:99 (FLAGS)")
	assert.Equal(t, "u1 OK UID FETCH completed", last(r.until("u1 ")))
	r.send("u2 SEARCH 9")
	assert.Equal(t, "u2 OK SEARCH completed", last(r.until("u2 ")))

	got := failures(t, ts)
	require.Len(t, got, len(cases))
	for i, c := range cases {
		assert.Equal(t, c.action+" "+c.reason, got[i], c.cmd)
	}
}

func last(lines []string) string { return lines[len(lines)-1] }

// failures lists the failure events so far as "action reason".
func failures(t *testing.T, ts *testServer) []string {
	t.Helper()
	var got []string
	for _, e := range ts.events(t) {
		if e.Outcome == audit.Failure {
			got = append(got, e.Action+" "+e.Reason)
		}
	}
	return got
}

// An APPEND whose message cannot be parsed was audited with a reason made
// of the response text, which quotes the client's header line: reasons are
// a fixed vocabulary that rules can match, and carry nothing of the client's.
func TestRefusalReasonsHoldNoClientText(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialLogin(t, ts, "agent@interieur.test")
	r.send("a1 APPEND INBOX {17+}\r\nEVIL INJECTED 1\r\n")
	assert.Contains(t, last(r.until("a1 ")), "a1 NO [PARSE]")
	r.send("a2 DELETE INBOX")
	assert.Equal(t, "a2 NO [CANNOT] INBOX cannot be deleted", last(r.until("a2 ")))
	assert.Equal(t, []string{"imap.append cannot_parse_message", "imap.delete refused"}, failures(t, ts))

	assert.Equal(t, "refused", reason(&imap.Error{Type: imap.StatusResponseTypeNo, Text: "anything the client wrote"}))
	assert.Equal(t, "refused", reason(&imap.Error{Type: imap.StatusResponseTypeNo, Code: "X-ANY", Text: "x"}))
}

// A PLAIN response that is not authzid NUL authcid NUL password (an empty
// initial response, a blob without NULs) was answered NO [SERVERBUG] and
// audited as server_error.
func TestMalformedPlainResponse(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialRaw(t, ts.addr)
	r.line()                                   // greeting
	for i, ir := range []string{"=", "YWJj"} { // "", "abc"
		tag := fmt.Sprintf("p%d", i)
		r.send(tag + " AUTHENTICATE PLAIN " + ir)
		assert.Equal(t, tag+" NO [AUTHENTICATIONFAILED] Malformed SASL PLAIN response", last(r.until(tag+" ")))
	}
	var got []string
	for _, e := range ts.events(t) {
		if e.Action == audit.IMAPLogin {
			got = append(got, e.Outcome+" "+e.Reason+" "+e.AuthMechanism)
		}
	}
	assert.Equal(t, []string{"failure malformed_response PLAIN", "failure malformed_response PLAIN"}, got)
}

// A flag a client may not set (\Recent, or a backslash flag no standard
// defines) was stored; it is refused with BAD, as Dovecot refuses it
// (testdata/transcripts/system-flags.txt), before an APPEND's literal, and
// a literal sent without waiting (LITERAL+) is read and dropped.
func TestInvalidSystemFlagsRefused(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 2})
	r := dialLogin(t, ts, "agent@interieur.test")
	r.send("a1 APPEND INBOX (\\Seen \\Foo) {16+}\r\nSubject: x\r\n\r\nhi")
	assert.Equal(t, "a1 BAD [CLIENTBUG] Invalid system flag \\Foo", last(r.until("a1 ")))
	r.send("a2 SELECT INBOX")
	assert.Equal(t, "a2 OK [READ-WRITE] SELECT completed", last(r.until("a2 ")), "the literal was not taken for a command")
	r.send("a3 STORE 1 +FLAGS (\\Recent)")
	assert.Equal(t, "a3 BAD [CLIENTBUG] Invalid system flag \\Recent", last(r.until("a3 ")))
	r.send("a4 UID STORE 1:* FLAGS.SILENT \\*")
	assert.Equal(t, "a4 BAD [CLIENTBUG] Invalid system flag \\*", last(r.until("a4 ")))
	r.send("a5 STORE 1 +FLAGS (\\Flagged $Label1)")
	assert.Equal(t, "a5 OK STORE completed", last(r.until("a5 ")))
	r.send("a6 APPEND INBOX (\\Seen $Planted) {16+}\r\nSubject: x\r\n\r\nhi")
	assert.Contains(t, last(r.until("a6 ")), "a6 OK [APPENDUID")

	assert.Equal(t, []string{"imap.append invalid_flag", "imap.store invalid_flag", "imap.store invalid_flag"}, failures(t, ts))
	appends := actions(ts.events(t), audit.IMAPAppend)
	require.Len(t, appends, 2, "only a6 appended")
	assert.Equal(t, audit.Failure, appends[0].Outcome)
	assert.Equal(t, `(\Seen $Planted)`, appends[1].Flags, "the flags a message is planted with are in its event")
}
