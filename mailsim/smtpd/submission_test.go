package smtpd_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/smtpd"
)

// testMessage is a multipart message with two attachments, one with an
// RFC 2231 encoded name.
func testMessage(from, to, subject string) string {
	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 fake"))
	return strings.ReplaceAll(`From: <`+from+`>
To: <`+to+`>
Subject: `+subject+`
Message-ID: <note-42@interieur.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

Voir pièces jointes.
--b1
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
Content-Disposition: attachment; filename="budget 2026.xlsx"
Content-Transfer-Encoding: base64

`+pdf+`
--b1
Content-Type: application/pdf
Content-Disposition: attachment; filename*=utf-8''Proc%C3%A8s-verbal.pdf
Content-Transfer-Encoding: base64

`+pdf+`
--b1--
`, "\n", "\r\n")
}

func send(t *testing.T, c *smtp.Client, from string, to []string, msg string) error {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rc := range to {
		if err := c.Rcpt(rc, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	return w.Close()
}

func smtpCode(err error) int {
	if e, ok := err.(*smtp.SMTPError); ok {
		return e.Code
	}
	return 0
}

func TestSubmissionPlainDeliversInternalAndOutbound(t *testing.T) {
	h := newHarness(t)
	c := h.dialTLS()
	require.NoError(t, c.Auth(sasl.NewPlainClient("", jean, jeanPass)))
	msg := testMessage(jean, outsider, "Budget confidentiel")
	require.NoError(t, send(t, c, jean, []string{marie, outsider}, msg))
	quit(t, c)

	evs := h.events(1)
	checkCommon(t, evs, smtpd.ServiceSubmission)
	assert.Equal(t, []string{
		"smtp.connect outcome=success",
		"smtp.starttls outcome=success tls=true",
		"smtp.auth outcome=success user=" + jean + " mech=PLAIN cleartext=false tls=true",
		"smtp.mail_from outcome=success user=" + jean + " from=" + jean + " tls=true",
		"smtp.rcpt outcome=success user=" + jean + " from=" + jean + " rcpt=" + marie + " domain=interieur.test tls=true",
		"smtp.rcpt outcome=success user=" + jean + " from=" + jean + " rcpt=" + outsider + " domain=exfil.example tls=true",
		"smtp.data outcome=success user=" + jean + " from=" + jean + " tls=true",
		"smtp.deliver outcome=success user=" + jean + " from=" + jean + " rcpt=" + marie + " domain=interieur.test dir=internal tls=true",
		"smtp.deliver outcome=success user=" + jean + " from=" + jean + " rcpt=" + outsider + " domain=exfil.example dir=outbound tls=true",
		"smtp.disconnect reason=client_quit user=" + jean + " tls=true",
	}, summaries(evs))
	for _, e := range evs {
		assert.Equal(t, evs[0].SessionID, e.SessionID)
	}

	data := evs[6]
	assert.Equal(t, int64(len(msg)), data.MessageSize)
	assert.Equal(t, "note-42@interieur.test", data.MessageID)
	assert.Equal(t, "Budget confidentiel", data.MessageSubj)
	assert.Equal(t, 2, data.AttachmentCount)
	assert.Equal(t, []string{"budget 2026.xlsx", "Procès-verbal.pdf"}, data.AttachmentNames)

	// Local delivery reached the backend, with a trace header prepended.
	got := h.be.messages(marie)
	require.Len(t, got, 1)
	assert.True(t, bytes.HasPrefix(got[0], []byte("Received: from ws-042.interieur.test ([127.0.0.1])\r\n\tby smtp.interieur.test with ESMTPSA id "+evs[0].SessionID+".1;")), "%q", got[0][:120])
	assert.True(t, bytes.HasSuffix(got[0], []byte(msg)))

	// The outside recipient's copy is in the Outbox.
	ob := h.srv.Outbox()
	require.Equal(t, 1, ob.Len())
	m := ob.List()[0]
	assert.Equal(t, uint64(1), m.ID)
	assert.Equal(t, scenarioStart, m.Time)
	assert.Equal(t, evs[0].SessionID, m.SessionID)
	assert.Equal(t, smtpd.ServiceSubmission, m.Service)
	assert.Equal(t, jean, m.User)
	assert.Equal(t, jean, m.MailFrom)
	assert.Equal(t, []string{outsider}, m.RcptTo)
	assert.Equal(t, int64(len(msg)), m.Size)
	assert.Equal(t, "Budget confidentiel", m.Subject)
	assert.Equal(t, "note-42@interieur.test", m.MessageID)
	assert.Equal(t, 2, m.AttachmentCount)
	assert.Equal(t, []string{"budget 2026.xlsx", "Procès-verbal.pdf"}, m.Attachments)
	assert.Equal(t, got[0], m.Raw)
	assert.False(t, m.RawDropped)

	js, err := json.Marshal(m)
	require.NoError(t, err)
	var back smtpd.OutboxMessage
	require.NoError(t, json.Unmarshal(js, &back))
	assert.Equal(t, m, back)
}

func TestSubmissionAuth(t *testing.T) {
	tests := []struct {
		name     string
		client   sasl.Client
		wantCode int // 0: success
		want     string
	}{
		{"plain ok by alias", sasl.NewPlainClient("", "jdupont", jeanPass), 0,
			"smtp.auth outcome=success user=jdupont mech=PLAIN cleartext=false tls=true"},
		{"plain bad password", sasl.NewPlainClient("", jean, "nope"), 535,
			"smtp.auth outcome=failure reason=invalid_credentials user=" + jean + " mech=PLAIN cleartext=false tls=true"},
		{"plain unknown user", sasl.NewPlainClient("", "root@interieur.test", "toor"), 535,
			"smtp.auth outcome=failure reason=unknown_user user=root@interieur.test mech=PLAIN cleartext=false tls=true"},
		{"plain authzid of another user", sasl.NewPlainClient(marie, jean, jeanPass), 535,
			"smtp.auth outcome=failure reason=authzid_mismatch user=" + jean + " mech=PLAIN cleartext=false tls=true"},
		{"login with initial response ok", smtpd.NewLoginClient(marie, mariePass, true), 0,
			"smtp.auth outcome=success user=" + marie + " mech=LOGIN cleartext=false tls=true"},
		{"login with challenges ok", smtpd.NewLoginClient(marie, mariePass, false), 0,
			"smtp.auth outcome=success user=" + marie + " mech=LOGIN cleartext=false tls=true"},
		{"go-sasl login client ok", sasl.NewLoginClient(jean, jeanPass), 0,
			"smtp.auth outcome=success user=" + jean + " mech=LOGIN cleartext=false tls=true"},
		{"login bad password", smtpd.NewLoginClient(marie, "curie", false), 535,
			"smtp.auth outcome=failure reason=invalid_credentials user=" + marie + " mech=LOGIN cleartext=false tls=true"},
		{"login unknown user", smtpd.NewLoginClient("mallory", "x", true), 535,
			"smtp.auth outcome=failure reason=unknown_user user=mallory mech=LOGIN cleartext=false tls=true"},
		{"unknown mechanism", mechClient("CRAM-MD5"), 504,
			"smtp.auth outcome=failure reason=unknown_mechanism mech=CRAM-MD5 cleartext=false tls=true"},
		{"malformed plain", rawClient{"PLAIN", []byte("no-nuls-here")}, 501,
			"smtp.auth outcome=failure reason=malformed mech=PLAIN cleartext=false tls=true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.dialTLS()
			err := c.Auth(tc.client)
			if tc.wantCode == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Equal(t, tc.wantCode, smtpCode(err), "%v", err)
			}
			quit(t, c)
			evs := h.events(1)
			checkCommon(t, evs, smtpd.ServiceSubmission)
			auths := filter(evs, audit.SMTPAuth)
			require.Len(t, auths, 1, "%s", strings.Join(summaries(evs), "\n"))
			assert.Equal(t, tc.want, summary(auths[0]))
			// connect, starttls, auth, disconnect; and, after a refusal,
			// the "*" go-smtp's client sends as a command.
			n := 4
			if tc.wantCode != 0 {
				n++
				assert.Len(t, filter(evs, audit.SMTPCommand), 1)
			}
			assert.Len(t, evs, n, "%s", strings.Join(summaries(evs), "\n"))
		})
	}
}

// mechClient starts an exchange with an arbitrary mechanism name.
type mechClient string

func (m mechClient) Start() (string, []byte, error) { return string(m), nil, nil }
func (m mechClient) Next(_ []byte) ([]byte, error)  { return nil, sasl.ErrUnexpectedServerChallenge }
func (r rawClient) Start() (string, []byte, error)  { return r.mech, r.ir, nil }
func (r rawClient) Next(_ []byte) ([]byte, error)   { return nil, sasl.ErrUnexpectedServerChallenge }

type rawClient struct {
	mech string
	ir   []byte
}

func filter(evs []*audit.Event, action string) []*audit.Event {
	var out []*audit.Event
	for _, e := range evs {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func TestCleartextPolicy(t *testing.T) {
	t.Run("disallowed", func(t *testing.T) {
		h := newHarness(t)
		c := h.dial(h.subAddr)
		ok, _ := c.Extension("AUTH")
		assert.False(t, ok, "AUTH must not be advertised before STARTTLS")
		ok, _ = c.Extension("STARTTLS")
		assert.True(t, ok)
		err := c.Auth(sasl.NewPlainClient("", jean, jeanPass))
		require.Error(t, err)
		assert.Equal(t, 538, smtpCode(err), "%v", err)
		// Without an initial response, no credentials are solicited.
		err = c.Auth(smtpd.NewLoginClient(jean, jeanPass, false))
		assert.Equal(t, 538, smtpCode(err), "%v", err)
		// Without authentication, MAIL FROM is refused.
		err = c.Mail(jean, nil)
		assert.Equal(t, 530, smtpCode(err), "%v", err)
		quit(t, c)
		evs := h.events(1)
		checkCommon(t, evs, smtpd.ServiceSubmission)
		assert.Equal(t, []string{
			"smtp.connect outcome=success",
			"smtp.auth outcome=failure reason=cleartext_disallowed user=" + jean + " mech=PLAIN cleartext=true",
			"smtp.command outcome=failure reason=syntax_error", // go-smtp's client sends "*"
			"smtp.auth outcome=failure reason=cleartext_disallowed mech=LOGIN cleartext=true",
			"smtp.command outcome=failure reason=syntax_error",
			"smtp.mail_from outcome=failure reason=auth_required from=" + jean,
			"smtp.disconnect reason=client_quit",
		}, summaries(evs))
	})
	t.Run("allowed", func(t *testing.T) {
		h := newHarness(t, func(c *smtpd.Config) { c.AllowInsecureAuth = true })
		c := h.dial(h.subAddr)
		assert.True(t, c.SupportsAuth("PLAIN"))
		assert.True(t, c.SupportsAuth("LOGIN"))
		require.NoError(t, c.Auth(smtpd.NewLoginClient(jean, jeanPass, false)))
		quit(t, c)
		evs := h.events(1)
		assert.Equal(t, []string{
			"smtp.connect outcome=success",
			"smtp.auth outcome=success user=" + jean + " mech=LOGIN cleartext=true",
			"smtp.disconnect reason=client_quit user=" + jean,
		}, summaries(evs))
	})
}

func TestStartTLSResetsLogin(t *testing.T) {
	h := newHarness(t, func(c *smtpd.Config) { c.AllowInsecureAuth = true })
	c := h.dialTLSAfter(h.subAddr, func(tp *textproto.Conn) {
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + jean + "\x00" + jeanPass))
		require.NoError(t, tp.PrintfLine("AUTH PLAIN %s", ir))
		_, _, err := tp.ReadResponse(235)
		require.NoError(t, err)
	})
	// RFC 3207: the server forgets the login after STARTTLS.
	err := c.Mail(jean, nil)
	assert.Equal(t, 530, smtpCode(err), "%v", err)
	quit(t, c)
	evs := h.events(1)
	checkCommon(t, evs, smtpd.ServiceSubmission)
	assert.Equal(t, []string{
		"smtp.connect outcome=success",
		"smtp.auth outcome=success user=" + jean + " mech=PLAIN cleartext=true",
		"smtp.starttls outcome=success user=" + jean + " tls=true",
		"smtp.mail_from outcome=failure reason=auth_required from=" + jean + " tls=true",
		"smtp.disconnect reason=client_quit tls=true",
	}, summaries(evs))
}

func TestSenderOwnership(t *testing.T) {
	h := newHarness(t)
	c := h.dialTLS()
	require.NoError(t, c.Auth(sasl.NewPlainClient("", jean, jeanPass)))
	err := c.Mail(marie, nil)
	assert.Equal(t, 553, smtpCode(err), "%v", err)
	require.NoError(t, c.Reset())
	// Delegation on the shared mailbox lets jean send as cabinet.
	require.NoError(t, send(t, c, cabinet, []string{outsider}, "Subject: delegated\r\n\r\nhi\r\n"))
	quit(t, c)
	evs := h.events(1)
	checkCommon(t, evs, smtpd.ServiceSubmission)
	assert.Equal(t, []string{
		"smtp.connect outcome=success",
		"smtp.starttls outcome=success tls=true",
		"smtp.auth outcome=success user=" + jean + " mech=PLAIN cleartext=false tls=true",
		"smtp.mail_from outcome=failure reason=sender_not_allowed user=" + jean + " from=" + marie + " tls=true",
		"smtp.mail_from outcome=success user=" + jean + " from=" + cabinet + " tls=true",
		"smtp.rcpt outcome=success user=" + jean + " from=" + cabinet + " rcpt=" + outsider + " domain=exfil.example tls=true",
		"smtp.data outcome=success user=" + jean + " from=" + cabinet + " tls=true",
		"smtp.deliver outcome=success user=" + jean + " from=" + cabinet + " rcpt=" + outsider + " domain=exfil.example dir=outbound tls=true",
		"smtp.disconnect reason=client_quit user=" + jean + " tls=true",
	}, summaries(evs))
	// A Message-ID was added to a message that had none.
	data := filter(evs, audit.SMTPData)[0]
	assert.Contains(t, data.MessageID, "@smtp.interieur.test")
	m := h.srv.Outbox().List()[0]
	assert.Equal(t, data.MessageID, m.MessageID)
	assert.Contains(t, string(m.Raw), "Message-ID: <"+data.MessageID+">\r\n")
}

func TestSubmissionUnknownLocalRecipient(t *testing.T) {
	h := newHarness(t)
	c := h.dialTLS()
	require.NoError(t, c.Auth(sasl.NewPlainClient("", jean, jeanPass)))
	require.NoError(t, c.Mail(jean, nil))
	err := c.Rcpt("nobody@interieur.test", nil)
	assert.Equal(t, 550, smtpCode(err), "%v", err)
	quit(t, c)
	evs := h.events(1)
	rc := filter(evs, audit.SMTPRcpt)
	require.Len(t, rc, 1)
	assert.Equal(t, "smtp.rcpt outcome=failure reason=unknown_recipient user="+jean+" from="+jean+" rcpt=nobody@interieur.test domain=interieur.test tls=true", summary(rc[0]))
}

func TestSizeLimit(t *testing.T) {
	const limit = 4096
	h := newHarness(t, func(c *smtpd.Config) { c.MaxMessageBytes = limit })
	c := h.dialTLS()
	size, ok := c.MaxMessageSize()
	require.True(t, ok)
	assert.Equal(t, limit, size)
	require.NoError(t, c.Auth(sasl.NewPlainClient("", jean, jeanPass)))
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 100)
	err := send(t, c, jean, []string{outsider}, big)
	assert.Equal(t, 552, smtpCode(err), "%v", err)
	// The session survives and a small message still goes through.
	require.NoError(t, send(t, c, jean, []string{outsider}, "Subject: small\r\n\r\nok\r\n"))
	quit(t, c)

	evs := h.events(1)
	checkCommon(t, evs, smtpd.ServiceSubmission)
	datas := filter(evs, audit.SMTPData)
	require.Len(t, datas, 2)
	assert.Equal(t, "smtp.data outcome=failure reason=message_too_large user="+jean+" from="+jean+" tls=true", summary(datas[0]))
	assert.Equal(t, int64(limit), datas[0].MessageSize)
	assert.Equal(t, audit.Success, datas[1].Outcome)
	assert.Equal(t, 1, countActions(evs)[audit.SMTPDeliver])
	require.Equal(t, 1, h.srv.Outbox().Len())
	assert.Equal(t, "small", h.srv.Outbox().List()[0].Subject)
}

func TestDeliveryFailure(t *testing.T) {
	h := newHarness(t)
	h.be.failFor[marie] = true
	c := h.dialTLS()
	require.NoError(t, c.Auth(sasl.NewPlainClient("", jean, jeanPass)))
	err := send(t, c, jean, []string{marie}, "Subject: x\r\n\r\nx\r\n")
	assert.Equal(t, 451, smtpCode(err), "%v", err)
	quit(t, c)
	evs := h.events(1)
	d := filter(evs, audit.SMTPDeliver)
	require.Len(t, d, 1)
	assert.Equal(t, "smtp.deliver outcome=failure reason=delivery_failed user="+jean+" from="+jean+" rcpt="+marie+" domain=interieur.test dir=internal tls=true", summary(d[0]))
}

func TestOutboxWait(t *testing.T) {
	h := newHarness(t)
	ob := h.srv.Outbox()
	changed := ob.Changed()
	go func() {
		c, err := smtp.DialStartTLS(h.subAddr, h.clientTLS())
		if err != nil {
			return
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", jean, jeanPass)); err != nil {
			return
		}
		_ = c.SendMail(jean, []string{outsider}, strings.NewReader("Subject: wait\r\n\r\nx\r\n"))
		_ = c.Quit()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := ob.Wait(ctx, 1)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	select {
	case <-changed:
	default:
		t.Fatal("Changed channel not closed")
	}
	assert.Equal(t, "wait", msgs[0].Subject)
	assert.Empty(t, ob.Since(1))
	got, ok := ob.Get(1)
	assert.True(t, ok)
	assert.Equal(t, msgs[0], got)
	h.events(1)
}
