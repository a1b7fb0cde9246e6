package imapd

import (
	"fmt"
	"regexp"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// RFC 5256 §2.1: the base subject.
func TestBaseSubject(t *testing.T) {
	for in, want := range map[string]string{
		"Re: Budget":                 "Budget",
		"RE:  re: Fwd:   Budget":     "Budget",
		"[ops] Re: [ops] Budget":     "Budget",
		"Budget (fwd)":               "Budget",
		"Re[2]: Budget (fwd) (fwd) ": "Budget",
		"[fwd: Re: Budget]":          "Budget",
		"[ops]":                      "[ops]",
		"Fw: [fwd: Budget (fwd)]":    "Budget",
		"Réunion\t\tdu   lundi":      "Réunion du lundi",
		"Rebuild":                    "Rebuild",
		"":                           "",
	} {
		assert.Equal(t, want, baseSubject(in), "%q", in)
	}
}

func TestParseSortCommandErrors(t *testing.T) {
	for in, want := range map[string]string{
		"(DATE":                            "missing ')'",
		"DATE UTF-8 ALL":                   "want a parenthesised list",
		"() UTF-8 ALL":                     "empty list",
		"(REVERSE) UTF-8 ALL":              "REVERSE must precede",
		"(REVERSE REVERSE DATE) UTF-8 ALL": "REVERSE REVERSE",
		"(COLOUR) UTF-8 ALL":               `unknown sort criterion "COLOUR"`,
		"(DATE) UTF-8":                     "want a charset and search keys",
		`(DATE) "UTF-8 ALL`:                "unterminated",
		"RETURN (SAVE) (DATE) UTF-8 ALL":   "SAVE is not supported with SORT",
		"RETURN (BOGUS) (DATE) UTF-8 ALL":  `unknown SEARCH return option "BOGUS"`,
		// CONTEXT=SORT (RFC 5267 §4.4): Dovecot's refusals.
		"RETURN (PARTIAL 0:3) (DATE) UTF-8 ALL":     "PARTIAL range broken",
		"RETURN (PARTIAL 1:3 ALL) (DATE) UTF-8 ALL": "PARTIAL conflicts with ALL",
		"RETURN (UPDATE UPDATE) (DATE) UTF-8 ALL":   "duplicate UPDATE",
	} {
		_, _, err := parseSortCommand("a", false, false, []byte(in))
		if assert.Error(t, err, in) {
			assert.Contains(t, err.Error(), want, in)
		}
	}
	_, _, err := parseSortCommand("a", false, true, []byte("MESSAGES UTF-8 ALL"))
	assert.ErrorContains(t, err, `unknown thread algorithm "MESSAGES"`)
}

// SORT is audited as imap.sort with its sort and search criteria and the
// number of results; a malformed SORT is refused BAD and audited.
func TestSortAudited(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 6})
	r := rawSession(t, ts, "agent@interieur.test")
	r.do("s1", "EXAMINE INBOX")
	lines := r.do("s2", "UID SORT (REVERSE ARRIVAL) UTF-8 SUBJECT Dossier")
	require.Len(t, lines, 2)
	// fakeBase: messages 1-6, internal dates ascending, 5 is "Note
	// confidentielle".
	assert.Equal(t, "* SORT 6 4 3 2 1", lines[0])
	r.send("s3 SORT (SIZE UTF-8 ALL")
	assert.Regexp(t, `^s3 BAD `, r.line())
	evs := ts.events(t)
	sorts := actions(evs, audit.IMAPSort)
	require.Len(t, sorts, 2)
	ok, bad := sorts[0], sorts[1]
	assert.Equal(t, audit.Success, ok.Outcome)
	assert.Equal(t, "UID SORT", ok.Command)
	assert.Equal(t, "REVERSE ARRIVAL", ok.SortCriteria)
	assert.Contains(t, ok.Search, "SUBJECT")
	require.NotNil(t, ok.SearchHits)
	assert.Equal(t, 5, *ok.SearchHits)
	assert.Equal(t, "INBOX", ok.Mailbox)
	assert.Equal(t, audit.Failure, bad.Outcome)
	assert.Equal(t, "syntax_error", bad.Reason)
	assert.Empty(t, actions(evs, audit.IMAPSearch), "a SORT is not also a SEARCH")
}

// THREAD is audited as imap.thread with its algorithm; the response has
// the RFC 5256 §5 syntax (no space between sibling lists).
func TestThreadAudited(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 1})
	r := rawSession(t, ts, "agent@interieur.test")
	r.appendRaw("t1", "INBOX", "Subject: Plan\r\nMessage-ID: <p1@x>\r\nDate: Mon, 01 Dec 2025 09:00:00 +0000\r\n\r\n1\r\n")
	r.appendRaw("t2", "INBOX", "Subject: Re: Plan\r\nMessage-ID: <p2@x>\r\nIn-Reply-To: <p1@x>\r\nDate: Mon, 01 Dec 2025 10:00:00 +0000\r\n\r\n2\r\n")
	r.appendRaw("t3", "INBOX", "Subject: Re: Plan\r\nMessage-ID: <p3@x>\r\nReferences: <p1@x>\r\nDate: Mon, 01 Dec 2025 11:00:00 +0000\r\n\r\n3\r\n")
	r.do("t4", "SELECT INBOX")
	lines := r.do("t5", "THREAD REFERENCES UTF-8 SUBJECT Plan")
	assert.Equal(t, "* THREAD (2 (3)(4))", lines[0])
	lines = r.do("t6", "UID THREAD ORDEREDSUBJECT UTF-8 ALL")
	assert.Regexp(t, `^\* THREAD \(1\)\(\d+ \(\d+\)\(\d+\)\)$`, lines[0])
	evs := actions(ts.events(t), audit.IMAPThread)
	require.Len(t, evs, 2)
	assert.Equal(t, "REFERENCES", evs[0].ThreadAlgorithm)
	assert.Equal(t, "THREAD", evs[0].Command)
	require.NotNil(t, evs[0].SearchHits)
	assert.Equal(t, 3, *evs[0].SearchHits)
	assert.Equal(t, "ORDEREDSUBJECT", evs[1].ThreadAlgorithm)
	assert.Equal(t, "UID THREAD", evs[1].Command)
}

// Hostile References (loops, self-references, duplicate Message-IDs, no
// Message-ID) give every message exactly once, and no hang or panic.
func TestThreadHostileReferences(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 1})
	r := rawSession(t, ts, "agent@interieur.test")
	for i, h := range []string{
		"Message-ID: <a@x>\r\nReferences: <b@x>\r\n",
		"Message-ID: <b@x>\r\nReferences: <a@x>\r\n",
		"Message-ID: <c@x>\r\nReferences: <c@x>\r\n",
		"Message-ID: <c@x>\r\nIn-Reply-To: <a@x>\r\n",
		"References: <d@x> <e@x> <d@x>\r\n",
		"Message-ID: <e@x>\r\nReferences: <d@x> <e@x>\r\n",
		"Message-ID: <d@x>\r\nReferences: <e@x>\r\n",
	} {
		r.appendRaw(fmt.Sprintf("h%d", i), "INBOX", h+"Subject: Re: loop\r\n\r\nx\r\n")
	}
	r.do("h9", "SELECT INBOX")
	for _, alg := range []string{"REFERENCES", "ORDEREDSUBJECT"} {
		lines := r.do("h10", "THREAD "+alg+" UTF-8 ALL")
		require.Len(t, lines, 2)
		nums := regexp.MustCompile(`\d+`).FindAllString(lines[0], -1)
		sort.Slice(nums, func(i, j int) bool {
			return len(nums[i]) < len(nums[j]) || len(nums[i]) == len(nums[j]) && nums[i] < nums[j]
		})
		assert.Equal(t, []string{"1", "2", "3", "4", "5", "6", "7", "8"}, nums, "%s: %s", alg, lines[0])
	}
}

// A SORT the shim cannot parse before a literal goes to go-imap, which
// refuses it; the literal does not become a command of its own.
func TestSortLiteralCharsetRefused(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 3})
	r := rawSession(t, ts, "agent@interieur.test")
	r.do("s1", "SELECT INBOX")
	r.send("s2 SORT (DATE) {5+}")
	r.send("UTF-8 ALL")
	l := r.line()
	assert.Regexp(t, `^s2 (BAD|NO) `, l)
	r.send("s3 NOOP")
	assert.Regexp(t, `^s3 OK`, r.line(), "the literal was answered as a command of its own")
	evs := ts.events(t)
	for _, e := range evs {
		assert.NotEqual(t, "ALL", e.Command, "the literal was taken for a command: %+v", e)
	}
	sorts := actions(evs, audit.IMAPSort)
	require.Len(t, sorts, 1, "the refused SORT is audited")
	assert.Equal(t, audit.Failure, sorts[0].Outcome)
}
