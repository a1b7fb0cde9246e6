package imapd

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// esearchLines returns the ESEARCH responses among lines.
func esearchLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "* ESEARCH") {
			out = append(out, l)
		}
	}
	return out
}

// RFC 5267 §4.3: a live search (RETURN (UPDATE)) is told of what joins and
// leaves its result: in the STORE that changed flags, before the EXPUNGE
// of an expunged message (by the sequence number the client still knows
// it by), at the next command or in IDLE for another session's new mail;
// never through an EXPUNGE the client has not been sent (no EXPUNGE during
// FETCH); CANCELUPDATE ends it (§4.2).
func TestContextSearchUpdates(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 10}) // even UIDs \Seen
	a := dialLogin(t, ts, "agent@interieur.test")
	b := dialLogin(t, ts, "agent@interieur.test")
	a.do("s", "SELECT INBOX")
	b.do("s", "SELECT INBOX")

	// §4.2: UPDATE alone returns the ESEARCH naming the tag, no result.
	assert.Equal(t, []string{`* ESEARCH (TAG "u") UID`}, esearchLines(a.do("u", "UID SEARCH RETURN (UPDATE) UNSEEN")))
	assert.Equal(t, []string{`* ESEARCH (TAG "q") COUNT 5`}, esearchLines(a.do("q", "SEARCH RETURN (UPDATE COUNT) UNSEEN")))

	// A STORE that makes message 1 match no longer: REMOVEFROM in its
	// response, after its FETCH.
	lines := a.do("st", `STORE 1 +FLAGS (\Seen)`)
	assert.Equal(t, []string{`* ESEARCH (TAG "u") UID REMOVEFROM (0 1)`, `* ESEARCH (TAG "q") REMOVEFROM (0 1)`}, esearchLines(lines), "%q", lines)
	assert.Less(t, indexOf(lines, "* 1 FETCH"), indexOf(lines, "* ESEARCH"))

	// Expunging message 2 (seen, in no result): nothing. Then UIDs 3 and
	// 5 are messages 2 and 4: REMOVEFROM names them so, before EXPUNGE.
	a.do("d1", `STORE 2 +FLAGS.SILENT (\Deleted)`)
	assert.Empty(t, esearchLines(a.do("x1", "EXPUNGE")))
	a.do("d2", `STORE 2,4 +FLAGS.SILENT (\Deleted)`)
	lines = a.do("x2", "EXPUNGE")
	assert.Equal(t, []string{`* ESEARCH (TAG "u") UID REMOVEFROM (0 3,5)`, `* ESEARCH (TAG "q") REMOVEFROM (0 2,4)`}, esearchLines(lines), "%q", lines)
	first := indexOf(lines, "* ESEARCH")
	for i, l := range lines {
		if strings.HasSuffix(l, " EXPUNGE") {
			assert.Less(t, first, i, "REMOVEFROM before EXPUNGE: %q", lines)
		}
	}
	assert.Equal(t, 2, strings.Count(strings.Join(lines, "\n"), " EXPUNGE\n"), "%q", lines)

	// Another session expunges UID 7 (now message 4) while this one
	// FETCHes: no EXPUNGE, so no REMOVEFROM, until the NOOP after.
	b.do("n", "NOOP")
	b.do("d", `UID STORE 7 +FLAGS.SILENT (\Deleted)`)
	b.do("x", "UID EXPUNGE 7")
	lines = a.do("f", "FETCH 1 (FLAGS)")
	assert.Empty(t, esearchLines(lines), "%q", lines)
	assert.Equal(t, -1, indexOf(lines, "* 4 EXPUNGE"))
	lines = a.do("n", "NOOP")
	assert.Equal(t, []string{`* ESEARCH (TAG "u") UID REMOVEFROM (0 7)`, `* ESEARCH (TAG "q") REMOVEFROM (0 4)`}, esearchLines(lines), "%q", lines)
	assert.Less(t, indexOf(lines, "* ESEARCH"), indexOf(lines, "* 4 EXPUNGE"), "%q", lines)

	// New mail from another session: ADDTO at the next command, after
	// EXISTS, by UID or by its sequence number.
	b.appendMsg("ap", "INBOX", "")
	lines = a.do("n2", "NOOP")
	assert.Equal(t, []string{`* ESEARCH (TAG "u") UID ADDTO (0 11)`, `* ESEARCH (TAG "q") ADDTO (0 7)`}, esearchLines(lines), "%q", lines)
	assert.Less(t, indexOf(lines, "* 7 EXISTS"), indexOf(lines, "* ESEARCH"), "%q", lines)

	// One search cancelled (§4.2); flags changed by another session reach
	// the other in IDLE.
	assert.Equal(t, []string{"c OK Updates cancelled"}, a.do("c", `CANCELUPDATE "q"`))
	a.send("i IDLE")
	require.True(t, strings.HasPrefix(a.line(), "+"))
	b.do("un", `UID STORE 4 -FLAGS.SILENT (\Seen)`) // message 3 for a
	var idle []string
	for {
		l := a.line()
		idle = append(idle, l)
		if strings.HasPrefix(l, "* ESEARCH") {
			break
		}
	}
	a.send("DONE")
	idle = append(idle, a.until("i ")...)
	assert.Equal(t, []string{`* ESEARCH (TAG "u") UID ADDTO (0 4)`}, esearchLines(idle), "%q", idle)
	assert.Less(t, indexOf(idle, "* 3 FETCH"), indexOf(idle, "* ESEARCH"), "%q", idle)

	// A live search ends with the selection: its tag is unknown after.
	a.do("s2", "SELECT INBOX")
	a.send(`c2 CANCELUPDATE "u"`)
	assert.Equal(t, "c2 NO Unknown tag \"u\"", a.until("c2 ")[0])

	var cancels []*audit.Event
	for _, e := range actions(ts.events(t), audit.IMAPSearch) {
		if e.Command == "CANCELUPDATE" {
			cancels = append(cancels, e)
		}
	}
	require.Len(t, cancels, 2)
	assert.Equal(t, audit.Success, cancels[0].Outcome)
	assert.Equal(t, `"q"`, cancels[0].Search)
	assert.Equal(t, "unknown_search_update", cancels[1].Reason)
}

// RFC 5267 §4.4 PARTIAL: a window of the result, by position from 1, NIL
// past its end; the options' syntax refused with BAD (Dovecot's refusals:
// PARTIAL from 0 or negative, with ALL, twice; UPDATE twice); the audit
// says what was asked.
func TestContextSearchPartial(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 10})
	a := dialLogin(t, ts, "agent@interieur.test")
	a.do("s", "SELECT INBOX")
	for _, c := range []struct{ cmd, want string }{
		{"SEARCH RETURN (PARTIAL 2:4) UNSEEN", `* ESEARCH (TAG "p") PARTIAL (2:4 3,5,7)`},
		{"UID SEARCH RETURN (PARTIAL 4:2) UNSEEN", `* ESEARCH (TAG "p") UID PARTIAL (2:4 3,5,7)`},
		{"SEARCH RETURN (MIN PARTIAL 1:3 COUNT MAX) SEEN", `* ESEARCH (TAG "p") MIN 2 MAX 10 PARTIAL (1:3 2,4,6) COUNT 5`},
		{"SEARCH RETURN (PARTIAL 5:9) SEEN", `* ESEARCH (TAG "p") PARTIAL (5:9 10)`},
		{"SEARCH RETURN (PARTIAL 6:9) SEEN", `* ESEARCH (TAG "p") PARTIAL (6:9 NIL)`},
		{"SEARCH RETURN (CONTEXT) 1:3", `* ESEARCH (TAG "p") ALL 1:3`},
		{"SEARCH RETURN (CONTEXT COUNT) 1:3", `* ESEARCH (TAG "p") COUNT 3`},
	} {
		assert.Equal(t, []string{c.want}, esearchLines(a.do("p", c.cmd)), c.cmd)
	}
	// SAVE with CONTEXT alone returns nothing (RFC 5182 §2.4); $ is saved.
	assert.Empty(t, esearchLines(a.do("sv", "SEARCH RETURN (SAVE CONTEXT) 2:3")))
	assert.Equal(t, []string{"sm OK SEARCH completed"}, a.do("sm", "SEARCH RETURN (SAVE CONTEXT) 2:3 MODSEQ 1"))
	assert.Equal(t, []string{`* ESEARCH (TAG "p") ALL 2:3`}, esearchLines(a.do("p", "SEARCH RETURN () $")))

	for _, bad := range []string{
		"SEARCH RETURN (PARTIAL 0:5) ALL",
		"SEARCH RETURN (PARTIAL -1:5) ALL",
		"SEARCH RETURN (PARTIAL 1:5 ALL) ALL",
		"SEARCH RETURN (PARTIAL 1:5 PARTIAL 1:2) ALL",
		"SEARCH RETURN (PARTIAL) ALL",
		"SEARCH RETURN (PARTIAL 1) ALL",
		"SEARCH RETURN (UPDATE UPDATE) ALL",
		"SEARCH RETURN (UPDATE BOGUS) ALL",
		"SEARCH RETURN (UPDATE)",
	} {
		a.send("b " + bad)
		l := a.until("b ")
		assert.True(t, strings.HasPrefix(l[len(l)-1], "b BAD "), "%s: %q", bad, l)
	}
	a.do("n", "NOOP") // the connection goes on

	var partial, refused int
	for _, e := range actions(ts.events(t), audit.IMAPSearch) {
		switch {
		case e.Outcome == audit.Failure:
			refused++
			assert.Equal(t, "syntax_error", e.Reason)
		case e.SearchPartial != "":
			partial++
			assert.Nil(t, e.SearchUpdate)
		}
	}
	assert.Equal(t, 5, partial)
	assert.Equal(t, 9, refused)
}

// RFC 5267 §4.2: a server may keep fewer live searches than asked; past
// MaxLiveSearches (Dovecot's 10) the search is answered with
// "* NO [NOUPDATE tag]" and not kept, which the audit says; an UPDATE may
// not reuse a live search's tag; CANCELUPDATE makes room.
func TestContextSearchLimit(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 10})
	a := dialLogin(t, ts, "agent@interieur.test")
	a.do("s", "SELECT INBOX")
	for i := range MaxLiveSearches {
		a.do(fmt.Sprintf("u%d", i), "SEARCH RETURN (UPDATE) ALL")
	}
	a.send("u0 SEARCH RETURN (UPDATE) ALL")
	assert.True(t, strings.HasPrefix(a.until("u0 ")[0], "u0 BAD "))
	lines := a.do("over", "SEARCH RETURN (UPDATE COUNT) UNSEEN")
	require.Len(t, lines, 3, "%q", lines)
	assert.True(t, strings.HasPrefix(lines[0], `* NO [NOUPDATE "over"] `), "%q", lines)
	assert.Equal(t, `* ESEARCH (TAG "over") COUNT 5`, lines[1])

	// The refused one is not live; a cancelled one makes room.
	a.send(`c CANCELUPDATE "u3" "over" "u4"`)
	assert.Equal(t, `c NO Unknown tag "over"`, a.until("c ")[0])
	lines = a.do("again", "SEARCH RETURN (UPDATE) ALL")
	assert.Equal(t, -1, indexOf(lines, "* NO"), "%q", lines)
	a.send(`c2 CANCELUPDATE "u4"`)
	assert.Equal(t, "c2 OK Updates cancelled", a.until("c2 ")[0])
	for _, bad := range []string{"CANCELUPDATE", "CANCELUPDATE u1", `CANCELUPDATE "u1`, `CANCELUPDATE "u1""u2"`} {
		a.send("cb " + bad)
		assert.True(t, strings.HasPrefix(a.until("cb ")[0], "cb BAD "), bad)
	}

	evs := actions(ts.events(t), audit.IMAPSearch)
	var kept, notKept, syntax int
	for _, e := range evs {
		switch {
		case e.SearchUpdate != nil && *e.SearchUpdate:
			kept++
		case e.SearchUpdate != nil:
			notKept++
			assert.Equal(t, "limit_search_updates", e.Reason)
			assert.Equal(t, audit.Success, e.Outcome)
		case e.Reason == "syntax_error", e.Reason == "unterminated_quote":
			syntax++
		}
	}
	assert.Equal(t, MaxLiveSearches+1, kept)
	assert.Equal(t, 1, notKept)
	assert.Equal(t, 5, syntax) // the reused tag and the four CANCELUPDATE (one caught by the shim's framing)
}

// sortModel is a client's copy of a live SORT result: it applies the
// ESEARCH updates of its tag (RFC 5267 §4.3: each (position number) pair
// in order; REMOVEFROM's position is the message's before it goes,
// ADDTO's its position once inserted) and, for sequence numbers, EXPUNGE.
type sortModel struct {
	t    *testing.T
	tag  string
	seq  bool // sequence numbers: EXPUNGE renumbers
	nums []uint32
}

func (m *sortModel) apply(lines []string) {
	for _, l := range lines {
		var n uint32
		if _, err := fmt.Sscanf(l, "* %d EXPUNGE", &n); err == nil && m.seq {
			for i, x := range m.nums {
				if x > n {
					m.nums[i] = x - 1
				}
			}
			continue
		}
		if !strings.HasPrefix(l, `* ESEARCH (TAG "`+m.tag+`")`) {
			continue
		}
		for _, kind := range []string{"REMOVEFROM", "ADDTO"} {
			i := strings.Index(l, kind+" (")
			if i < 0 {
				continue
			}
			f := strings.Fields(l[i+len(kind)+2 : i+strings.Index(l[i:], ")")])
			require.Zero(m.t, len(f)%2, l)
			for j := 0; j < len(f); j += 2 {
				var pos, num uint32
				fmt.Sscan(f[j], &pos)
				fmt.Sscan(f[j+1], &num)
				if kind == "REMOVEFROM" {
					require.Equal(m.t, num, m.nums[pos-1], "%s: %v", l, m.nums)
					m.nums = append(m.nums[:pos-1], m.nums[pos:]...)
				} else {
					require.LessOrEqual(m.t, int(pos), len(m.nums)+1, l)
					m.nums = append(m.nums[:pos-1], append([]uint32{num}, m.nums[pos-1:]...)...)
				}
			}
		}
	}
}

// sortNums returns the numbers of a plain SORT response.
func sortNums(t *testing.T, lines []string) []uint32 {
	var out []uint32
	for _, l := range lines {
		if strings.HasPrefix(l, "* SORT") {
			for _, f := range strings.Fields(l)[2:] {
				var n uint32
				fmt.Sscan(f, &n)
				out = append(out, n)
			}
		}
	}
	return out
}

// CONTEXT=SORT (RFC 5267 §4): a live SORT's updates, applied as the RFC
// says, keep the client's copy equal to the result of the same SORT run
// afresh, by UID and by sequence number, through flag changes, new mail
// and expunges; PARTIAL takes a window in sort order.
func TestContextSort(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, inbox: 12})
	a := dialLogin(t, ts, "agent@interieur.test")
	b := dialLogin(t, ts, "agent@interieur.test")
	a.do("s", "SELECT INBOX")
	b.do("s", "SELECT INBOX")

	assert.Equal(t, []string{`* ESEARCH (TAG "p") PARTIAL (2:4 11,10,9)`}, esearchLines(a.do("p", "SORT RETURN (PARTIAL 2:4) (REVERSE ARRIVAL) UTF-8 ALL")))

	const byUID, bySeq = "(REVERSE ARRIVAL) UTF-8 UNSEEN", "(SUBJECT REVERSE SIZE) UTF-8 UNSEEN"
	lines := a.do("u", "UID SORT RETURN (UPDATE ALL) "+byUID)
	assert.Equal(t, []string{`* ESEARCH (TAG "u") UID ALL 11,9,7,5,3,1`}, esearchLines(lines))
	uidModel := &sortModel{t: t, tag: "u", nums: []uint32{11, 9, 7, 5, 3, 1}}
	seqModel := &sortModel{t: t, tag: "q", seq: true, nums: sortNums(t, a.do("q0", "SORT "+bySeq))}
	require.Len(t, seqModel.nums, 6)
	assert.Equal(t, []string{`* ESEARCH (TAG "q")`}, esearchLines(a.do("q", "SORT RETURN (UPDATE) "+bySeq)))

	check := func(step string, lines []string) {
		t.Helper()
		uidModel.apply(lines)
		seqModel.apply(lines)
		assert.Equal(t, sortNums(t, a.do("cu", "UID SORT "+byUID)), uidModel.nums, step)
		assert.Equal(t, sortNums(t, a.do("cq", "SORT "+bySeq)), seqModel.nums, step)
	}
	check("store", a.do("st", `STORE 5,9 +FLAGS (\Seen)`))
	b.do("un", `UID STORE 4,10 -FLAGS.SILENT (\Seen)`)
	b.appendMsg("ap1", "INBOX", "")
	b.appendMsg("ap2", "INBOX", "")
	check("other session", a.do("n", "NOOP"))
	a.do("d", `UID STORE 1,4,11,13 +FLAGS.SILENT (\Deleted)`)
	lines = a.do("x", "EXPUNGE")
	assert.Less(t, indexOf(lines, "* ESEARCH"), indexOf(lines, "* 1 EXPUNGE"), "%q", lines)
	check("expunge", lines)
	assert.NotEmpty(t, uidModel.nums)

	var sorts []*audit.Event
	for _, e := range actions(ts.events(t), audit.IMAPSort) {
		if e.SearchUpdate != nil || e.SearchPartial != "" {
			sorts = append(sorts, e)
		}
	}
	require.Len(t, sorts, 3)
	assert.Equal(t, "2:4", sorts[0].SearchPartial)
	assert.True(t, *sorts[1].SearchUpdate)
	assert.Equal(t, "REVERSE ARRIVAL", sorts[1].SortCriteria)
}

// The order of CONTEXT=SEARCH updates among other responses, which the
// transcripts do not compare, on mailsim and (MAILDRILL_DOVECOT=1) on
// Dovecot 2.3 alike: REMOVEFROM inside the STORE that made a message leave
// the result, after its FETCH; REMOVEFROM of an expunged message before
// its EXPUNGE, which is not sent during a FETCH; ADDTO after the EXISTS
// that announced the message.
func TestContextSearchOrderBothServers(t *testing.T) {
	targets := []target{{name: "mailsim", addr: startTranscriptMailsim(t), user: "t-order", pass: "pw"}}
	if os.Getenv("MAILDRILL_DOVECOT") == "1" {
		targets = append(targets, target{name: "dovecot", addr: startTranscriptDovecot(t, []string{"t-order"}), user: "t-order", pass: "pw"})
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			s, err := dialTranscript(tg)
			require.NoError(t, err)
			defer s.c.Close()
			do := func(tag, cmd string) []string {
				t.Helper()
				require.NoError(t, s.send(tag+" "+cmd+"\r\n"))
				var lines []string
				for {
					l, err := s.read()
					require.NoError(t, err)
					lines = append(lines, l)
					if strings.HasPrefix(l, tag+" ") {
						require.True(t, strings.HasPrefix(l, tag+" OK"), "%s: %q", cmd, lines)
						return lines
					}
				}
			}
			msg := "Subject: x\r\n\r\nx\r\n"
			for i := range 3 {
				do(fmt.Sprintf("a%d", i), fmt.Sprintf("APPEND INBOX () {%d+}\r\n%s", len(msg), msg))
			}
			do("s", "SELECT INBOX")
			do("u", "UID SEARCH RETURN (UPDATE) UNSEEN")
			do("q", "SEARCH RETURN (UPDATE) ALL")

			lines := do("st", `STORE 1 +FLAGS (\Seen)`)
			assert.Equal(t, []string{`* ESEARCH (TAG "u") UID REMOVEFROM (0 1)`}, esearchLines(lines), "%q", lines)
			assert.Less(t, indexOf(lines, "* 1 FETCH"), indexOf(lines, "* ESEARCH"), "%q", lines)

			do("d", `STORE 2 +FLAGS.SILENT (\Deleted)`)
			lines = do("x", "EXPUNGE")
			assert.ElementsMatch(t, []string{`* ESEARCH (TAG "u") UID REMOVEFROM (0 2)`, `* ESEARCH (TAG "q") REMOVEFROM (0 2)`}, esearchLines(lines), "%q", lines)
			for _, l := range esearchLines(lines) {
				assert.Less(t, indexOf(lines, l), indexOf(lines, "* 2 EXPUNGE"), "%q", lines)
			}

			b, err := dialTranscript(tg)
			require.NoError(t, err)
			defer b.c.Close()
			require.NoError(t, b.send(fmt.Sprintf("b1 APPEND INBOX () {%d+}\r\n%s\r\n", len(msg), msg)))
			for {
				l, err := b.read()
				require.NoError(t, err)
				if strings.HasPrefix(l, "b1 ") {
					break
				}
			}
			lines = do("n", "NOOP")
			assert.ElementsMatch(t, []string{`* ESEARCH (TAG "u") UID ADDTO (0 4)`, `* ESEARCH (TAG "q") ADDTO (0 3)`}, esearchLines(lines), "%q", lines)
			for _, l := range esearchLines(lines) {
				assert.Less(t, indexOf(lines, "* 3 EXISTS"), indexOf(lines, l), "%q", lines)
			}

			// Another session expunges UID 3 (message 2) during a FETCH:
			// no EXPUNGE then, so no REMOVEFROM; both at the NOOP after.
			do2 := func(tag, cmd string) {
				t.Helper()
				require.NoError(t, b.send(tag+" "+cmd+"\r\n"))
				for {
					l, err := b.read()
					require.NoError(t, err)
					if strings.HasPrefix(l, tag+" ") {
						require.True(t, strings.HasPrefix(l, tag+" OK"), "%s: %q", cmd, l)
						return
					}
				}
			}
			do2("b2", "SELECT INBOX")
			do2("b3", `UID STORE 3 +FLAGS.SILENT (\Deleted)`)
			do2("b4", "UID EXPUNGE 3")
			lines = do("f", "FETCH 1 (FLAGS)")
			assert.Empty(t, esearchLines(lines), "%q", lines)
			assert.Equal(t, -1, indexOf(lines, "* 2 EXPUNGE"), "%q", lines)
			lines = do("n2", "NOOP")
			assert.ElementsMatch(t, []string{`* ESEARCH (TAG "u") UID REMOVEFROM (0 3)`, `* ESEARCH (TAG "q") REMOVEFROM (0 2)`}, esearchLines(lines), "%q", lines)
			for _, l := range esearchLines(lines) {
				assert.Less(t, indexOf(lines, l), indexOf(lines, "* 2 EXPUNGE"), "%q", lines)
			}
		})
	}
}
