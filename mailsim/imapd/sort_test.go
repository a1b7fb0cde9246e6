package imapd

import (
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
		"RETURN (SAVE) (DATE) UTF-8 ALL":   `unknown RETURN option "SAVE"`,
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
