package audit

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Lines follow the shapes stock Dovecot and Postfix parsers expect.
func TestSyslogLines(t *testing.T) {
	ts := time.Date(2025, 12, 11, 23, 40, 21, 0, time.FixedZone("CET", 3600))
	base := Event{Timestamp: ts, ServiceType: "imap", ServiceName: "imaps", SessionID: "imap-7", SourceIP: "203.0.113.7", TLS: true, UserName: "a.b@interieur.test"}
	login := base
	login.Action, login.Outcome, login.AuthMechanism = IMAPLogin, Success, "PLAIN"
	lines := SyslogLines(&login, SyslogOptions{})
	require.Len(t, lines, 1)
	assert.Equal(t, "Dec 11 23:40:21 mail dovecot: imap-login: Login: user=<a.b@interieur.test>, method=PLAIN, rip=203.0.113.7, lip=10.20.0.25, mpid=", lines[0][:len("Dec 11 23:40:21 mail dovecot: imap-login: Login: user=<a.b@interieur.test>, method=PLAIN, rip=203.0.113.7, lip=10.20.0.25, mpid=")])
	assert.Regexp(t, `, TLS, session=<imap-7>$`, lines[0])

	fail := login
	fail.Outcome, fail.Reason = Failure, "invalid_credentials"
	lines = SyslogLines(&fail, SyslogOptions{Location: time.UTC})
	require.Len(t, lines, 2)
	assert.Regexp(t, `^Dec 11 22:40:21 mail dovecot: auth: passwd-file\(a\.b@interieur\.test,203\.0\.113\.7,<imap-7>\): Password mismatch$`, lines[0])
	assert.Contains(t, lines[1], "Disconnected (auth failed, 1 attempts)")

	ex := base
	ex.Action, ex.Mailbox, ex.MessageUID, ex.MessageID, ex.MessageSize = IMAPExpunge, "INBOX", 12, "x@y", 900
	assert.Regexp(t, regexp.MustCompile(`dovecot: imap\(a\.b@interieur\.test\)<\d+><imap-7>: expunge: box=INBOX, uid=12, msgid=<x@y>, size=900$`), SyslogLines(&ex, SyslogOptions{})[0])

	smtp := Event{Timestamp: ts, ServiceType: "smtp", ServiceName: "submission", SessionID: "smtp-3", SourceIP: "203.0.113.7", UserName: "a.b@interieur.test", SMTPMailFrom: "a.b@interieur.test", MessageID: "m@1", MessageSize: 4242}
	data := smtp
	data.Action = SMTPData
	dl := SyslogLines(&data, SyslogOptions{})
	require.Len(t, dl, 3)
	assert.Regexp(t, `postfix/submission/smtpd\[\d+\]: [0-9A-F]{11}: client=unknown\[203\.0\.113\.7\], sasl_method=LOGIN, sasl_username=a\.b@interieur\.test$`, dl[0])
	assert.Regexp(t, `postfix/qmgr\[1234\]: [0-9A-F]{11}: from=<a\.b@interieur\.test>, size=4242, nrcpt=1 \(queue active\)$`, dl[2])
	out := smtp
	out.Action, out.EmailDirection, out.SMTPRcptTo, out.DestDomain = SMTPDeliver, "outbound", "drop@proton.example", "proton.example"
	ol := SyslogLines(&out, SyslogOptions{})
	require.Len(t, ol, 1)
	assert.Regexp(t, `postfix/smtp\[\d+\]: [0-9A-F]{11}: to=<drop@proton\.example>, relay=mx\.proton\.example\[192\.0\.2\.25\]:25, .*status=sent`, ol[0])
	// The same message keeps the same queue id across its lines.
	assert.Equal(t, regexp.MustCompile(`[0-9A-F]{11}`).FindString(dl[0]), regexp.MustCompile(`[0-9A-F]{11}`).FindString(ol[0]))

	noop := base
	noop.Action = IMAPNamespace
	assert.Empty(t, SyslogLines(&noop, SyslogOptions{}))
}

// Records split each line into the program (APP-NAME, PROCID) and the
// message, and put it back together unchanged.
func TestSyslogRecords(t *testing.T) {
	ts := time.Date(2025, 12, 11, 23, 40, 21, 0, time.UTC)
	login := Event{Timestamp: ts, ServiceType: "imap", SessionID: "imap-7", SourceIP: "203.0.113.7", UserName: "a.b@interieur.test", Action: IMAPLogin, Outcome: Success, AuthMechanism: "PLAIN"}
	recs := SyslogRecords(&login, SyslogOptions{Host: "mx1"})
	require.Len(t, recs, 1)
	assert.Equal(t, "dovecot", recs[0].App)
	assert.Equal(t, "", recs[0].ProcID)
	assert.Equal(t, "mx1", recs[0].Host)
	assert.True(t, strings.HasPrefix(recs[0].Msg, "imap-login: Login: user=<a.b@interieur.test>"), recs[0].Msg)
	assert.Equal(t, SyslogLines(&login, SyslogOptions{Host: "mx1"})[0], recs[0].Line())

	data := Event{Timestamp: ts, ServiceType: "smtp", ServiceName: "submission", SessionID: "smtp-3", SourceIP: "203.0.113.7", MessageID: "m@1", Action: SMTPData}
	recs = SyslogRecords(&data, SyslogOptions{})
	require.Len(t, recs, 3)
	assert.Equal(t, "postfix/submission/smtpd", recs[0].App)
	assert.Regexp(t, `^\d+$`, recs[0].ProcID)
	assert.Equal(t, "postfix/qmgr", recs[2].App)
	assert.Equal(t, "1234", recs[2].ProcID)
	for i, l := range SyslogLines(&data, SyslogOptions{}) {
		assert.Equal(t, l, recs[i].Line())
	}
}

// TestSyslogLinesCannotBeForged: a user name is the client's choice (an
// IMAP literal, a SASL PLAIN blob) and may hold line breaks. Written as
// is, one forged a complete "Login:" line of another account in the mail
// log a SIEM reads; control characters, C1 controls and bytes that are
// not UTF-8 are now '?', as Dovecot's str_sanitize writes them.
func TestSyslogLinesCannotBeForged(t *testing.T) {
	ts := time.Date(2025, 12, 11, 23, 40, 21, 0, time.UTC)
	forged := "x\nDec 11 23:59:00 mail dovecot: imap-login: Login: user=<admin@interieur.test>, method=PLAIN\r\x1b[2J\xff\u0085é"
	for _, e := range []Event{
		{Timestamp: ts, ServiceType: "imap", SessionID: "imap-1", SourceIP: "203.0.113.7", UserName: forged, Action: IMAPLogin, Outcome: Failure, Reason: "unknown_user"},
		{Timestamp: ts, ServiceType: "imap", SessionID: "imap-1", SourceIP: "203.0.113.7", UserName: forged, Action: IMAPLogin, Outcome: Success},
		{Timestamp: ts, ServiceType: "smtp", ServiceName: "submission", SessionID: "smtp-1", SourceIP: "203.0.113.7", UserName: forged, Action: SMTPAuth, Outcome: Failure},
	} {
		lines := SyslogLines(&e, SyslogOptions{})
		require.NotEmpty(t, lines, e.Action)
		for _, l := range lines {
			assert.NotContains(t, l, "\n")
			assert.NotContains(t, l, "\r")
			assert.NotContains(t, l, "\x1b")
			assert.NotContains(t, l, "\u0085")
			assert.True(t, utf8.ValidString(l), l)
			assert.Contains(t, l, "x?Dec 11 23:59:00 mail dovecot: imap-login: Login: user=<admin@interieur.test>, method=PLAIN??[2J??é", "the name is still readable")
		}
	}
}
