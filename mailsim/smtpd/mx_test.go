package smtpd_test

import (
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/smtpd"
)

const phisher = "rh@gouv-interieur.example"

func TestMXInbound(t *testing.T) {
	h := newHarness(t)
	c := h.dial(h.mxAddr)
	ok, _ := c.Extension("AUTH")
	assert.False(t, ok, "MX must not advertise AUTH")
	msg := "From: <" + phisher + ">\r\nSubject: Mise a jour de votre mot de passe\r\n\r\nCliquez ici.\r\n"
	require.NoError(t, send(t, c, phisher, []string{marie, cabinet}, msg))
	quit(t, c)

	evs := h.events(1)
	checkCommon(t, evs, smtpd.ServiceMX)
	assert.Equal(t, []string{
		"smtp.connect outcome=success",
		"smtp.mail_from outcome=success from=" + phisher,
		"smtp.rcpt outcome=success from=" + phisher + " rcpt=" + marie + " domain=interieur.test",
		"smtp.rcpt outcome=success from=" + phisher + " rcpt=" + cabinet + " domain=interieur.test",
		"smtp.data outcome=success from=" + phisher,
		"smtp.deliver outcome=success from=" + phisher + " rcpt=" + marie + " domain=interieur.test dir=inbound",
		"smtp.deliver outcome=success from=" + phisher + " rcpt=" + cabinet + " domain=interieur.test dir=inbound",
		"smtp.disconnect reason=client_quit",
	}, summaries(evs))
	assert.Equal(t, "Mise a jour de votre mot de passe", filter(evs, audit.SMTPData)[0].MessageSubj)
	assert.Len(t, h.be.messages(marie), 1)
	assert.Len(t, h.be.messages(cabinet), 1)
	assert.Contains(t, string(h.be.messages(marie)[0]), "with ESMTP id ")
	assert.Equal(t, 0, h.srv.Outbox().Len())
}

func TestMXRefusals(t *testing.T) {
	h := newHarness(t)
	c := h.dial(h.mxAddr)
	require.NoError(t, c.Mail(phisher, nil))
	err := c.Rcpt(outsider, nil)
	assert.Equal(t, 550, smtpCode(err), "%v", err)
	assert.Contains(t, err.Error(), "Relay access denied")
	err = c.Rcpt("ghost@interieur.test", nil)
	assert.Equal(t, 550, smtpCode(err), "%v", err)
	err = c.Rcpt("not-an-address", nil) // refused by go-smtp's parser, audited from its reply
	assert.Equal(t, 501, smtpCode(err), "%v", err)
	require.NoError(t, c.Rcpt("Postmaster@Interieur.test", nil))
	quit(t, c)

	evs := h.events(1)
	checkCommon(t, evs, smtpd.ServiceMX)
	rc := filter(evs, audit.SMTPRcpt)
	require.Len(t, rc, 4)
	assert.Equal(t, "smtp.rcpt outcome=failure reason=syntax_error from="+phisher, summary(rc[2]))
	rc = append(rc[:2], rc[3])
	assert.Equal(t, "smtp.rcpt outcome=failure reason=relay_denied from="+phisher+" rcpt="+outsider+" domain=exfil.example", summary(rc[0]))
	assert.Equal(t, "smtp.rcpt outcome=failure reason=unknown_recipient from="+phisher+" rcpt=ghost@interieur.test domain=interieur.test", summary(rc[1]))
	assert.Equal(t, "smtp.rcpt outcome=success from="+phisher+" rcpt=postmaster@interieur.test domain=interieur.test", summary(rc[2]))
}

func TestMXAuthRefused(t *testing.T) {
	h := newHarness(t)
	c := h.dial(h.mxAddr)
	err := c.Auth(sasl.NewPlainClient("", jean, jeanPass))
	assert.Equal(t, 502, smtpCode(err), "%v", err)
	quit(t, c)
	evs := h.events(1)
	assert.Equal(t, []string{
		"smtp.connect outcome=success",
		"smtp.auth outcome=failure reason=unknown_mechanism mech=PLAIN cleartext=true",
		// go-smtp's client answers the refusal with "*", a bad command.
		"smtp.command outcome=failure reason=syntax_error",
		"smtp.disconnect reason=client_quit",
	}, summaries(evs))
}

func TestMXStartTLS(t *testing.T) {
	h := newHarness(t)
	c := h.dialTLSAfter(h.mxAddr, nil)
	require.NoError(t, send(t, c, phisher, []string{marie}, "Subject: tls\r\n\r\nx\r\n"))
	quit(t, c)
	evs := h.events(1)
	checkCommon(t, evs, smtpd.ServiceMX)
	assert.Equal(t, "smtp.starttls outcome=success tls=true", summary(evs[1]))
	for _, e := range evs[1:] {
		assert.True(t, e.TLS, summary(e))
	}
	assert.True(t, strings.Contains(string(h.be.messages(marie)[0]), "with ESMTPS id "))
}

func TestHeloChangeIsRecorded(t *testing.T) {
	h := newHarness(t)
	r := h.raw(h.mxAddr)
	r.cmd(250, "EHLO first.example")
	r.cmd(250, "EHLO second.example")
	r.cmd(250, "MAIL FROM:<%s>", phisher)
	r.cmd(221, "QUIT")
	evs := h.events(1)
	m := filter(evs, audit.SMTPMailFrom)
	require.Len(t, m, 1)
	assert.Equal(t, "second.example", m[0].SMTPHelo)
}
