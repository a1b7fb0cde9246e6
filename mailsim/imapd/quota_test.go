package imapd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

func TestQuotaRefusesAppendCopyMove(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true, quota: 2000})
	r := dialLogin(t, ts, "agent@interieur.test")
	msg := "Subject: q\r\n\r\n" + strings.Repeat("x", 1200) + "\r\n"
	appendMsg := func(tag string) string {
		r.send(fmt.Sprintf("%s APPEND INBOX {%d}", tag, len(msg)))
		require.True(t, strings.HasPrefix(r.line(), "+"))
		write(t, r, msg+"\r\n")
		lines := r.until(tag + " ")
		return lines[len(lines)-1]
	}
	assert.True(t, strings.HasPrefix(appendMsg("a1"), "a1 OK"))
	assert.Equal(t, "a2 NO [OVERQUOTA] Quota exceeded", appendMsg("a2"))

	// INBOX 3 carries a ~5 KB attachment: COPY and MOVE are refused whole.
	r.send("s SELECT INBOX")
	r.until("s ")
	r.send("c UID COPY 1:3 Sent")
	assert.Equal(t, "c NO [OVERQUOTA] Quota exceeded", r.until("c ")[0])
	r.send("m UID MOVE 3 Sent")
	assert.Equal(t, "m NO [OVERQUOTA] Quota exceeded", r.until("m ")[0])
	r.send("st STATUS Sent (MESSAGES)")
	assert.Contains(t, r.until("st ")[0], "MESSAGES 5", "nothing was copied")

	// Expunging the appended message frees its bytes.
	r.send("d UID STORE 31 +FLAGS.SILENT (\\Deleted)")
	r.until("d ")
	r.send("e EXPUNGE")
	r.until("e ")
	assert.True(t, strings.HasPrefix(appendMsg("a3"), "a3 OK"))

	var got []string
	for _, e := range ts.events(t) {
		if e.Reason == "limit_quota" {
			got = append(got, e.Action)
		}
	}
	assert.Equal(t, []string{audit.IMAPAppend, audit.IMAPCopy, audit.IMAPMove}, got)
}

// A message nested thousands of levels deep: BODYSTRUCTURE is described to
// the store's bound, a section path deeper than it is empty, SEARCH BODY
// still works, and the session goes on.
func TestDeeplyNestedMessage(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialLogin(t, ts, "agent@interieur.test")
	var b strings.Builder
	b.WriteString("Subject: deep\r\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
	for i := 2999; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	msg := b.String()
	r.send(fmt.Sprintf("a APPEND INBOX {%d}", len(msg)))
	require.True(t, strings.HasPrefix(r.line(), "+"))
	write(t, r, msg+"\r\n")
	require.True(t, strings.HasPrefix(r.until("a ")[0], "a OK"))
	r.send("s SELECT INBOX")
	r.until("s ")
	r.send("f UID FETCH 31 BODYSTRUCTURE")
	lines := r.until("f ")
	require.Len(t, lines, 2, "%.200q", lines)
	assert.Equal(t, "f OK UID FETCH completed", lines[1])
	assert.LessOrEqual(t, strings.Count(lines[0], "(("), 51)
	assert.Contains(t, lines[0], `"application" "octet-stream"`)
	deep := strings.TrimSuffix(strings.Repeat("1.", 60), ".")
	r.send("g UID FETCH 31 BODY.PEEK[" + deep + "]")
	lines = r.until("g ")
	assert.Contains(t, lines[0], "{0}")
	r.send("h UID SEARCH BODY bottom")
	lines = r.until("h ")
	assert.Equal(t, "h OK UID SEARCH completed", lines[len(lines)-1])
}
