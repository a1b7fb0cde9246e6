package mailsim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
)

// Mail whose header section holds a line that is no header field ("abc",
// "Bad Key: x") could not be stored: the MX answered "451 try again
// later", so the sender retried for ever, and the delivery was audited as
// delivery_failed. It is taken now, as real MTAs take it: the stray line
// starts the body.
func TestMXTakesMailWithAStrayHeaderLine(t *testing.T) {
	srv, err := mailsim.Start(context.Background(), mailsim.Config{Seed: 2, Users: 4, MessagesPerUser: 5,
		AllowInsecureAuth: true, CertDir: t.TempDir(),
		IMAPSAddr: mailsim.Disabled, SubmissionAddr: mailsim.Disabled, AdminAddr: mailsim.Disabled})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	sub := srv.Bus.Subscribe()
	acc := srv.Accounts()[0]
	for _, a := range srv.Accounts() {
		if a.Kind == "person" {
			acc = a
			break
		}
	}
	messages := []string{
		"abc\r\n",
		"Subject: stray\r\nBad Key: x\r\nmore\r\n",
		" folded first\r\nSubject: y\r\n\r\nbody\r\n",
	}
	for _, m := range messages {
		sc, err := smtp.Dial(srv.MXAddr)
		require.NoError(t, err)
		require.NoError(t, sc.SendMail("a@outside.example", []string{acc.Address}, strings.NewReader(m)), "%q", m)
		require.NoError(t, sc.Quit())
	}

	c, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Login(acc.Address, acc.Password).Wait())
	sel, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	require.GreaterOrEqual(t, sel.NumMessages, uint32(len(messages)))
	bodies, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: sel.NumMessages - uint32(len(messages)) + 1, Stop: sel.NumMessages}},
		&imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText, Peek: true}}}).Collect()
	require.NoError(t, err)
	require.Len(t, bodies, len(messages))
	assert.Equal(t, "abc\r\n", string(bodies[0].BodySection[0].Bytes))
	assert.Equal(t, "Bad Key: x\r\nmore\r\n", string(bodies[1].BodySection[0].Bytes))
	assert.Equal(t, " folded first\r\nSubject: y\r\n\r\nbody\r\n", string(bodies[2].BodySection[0].Bytes))

	delivered := 0
	for delivered < len(messages) {
		evs, err := sub.NextBatch(context.Background(), 0)
		require.NoError(t, err)
		for _, e := range evs {
			if e.Action == audit.SMTPDeliver {
				assert.Equal(t, audit.Success, e.Outcome, e.Reason)
				delivered++
			}
		}
	}
}
