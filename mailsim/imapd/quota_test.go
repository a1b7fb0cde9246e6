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
	r := loginRaw(t, ts, "agent@interieur.test")
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
