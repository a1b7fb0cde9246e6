package mailsim_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/mailsimtest"
)

// The advertised extensions work end to end, and mail delivered over SMTP
// is visible at once to an IDLE session.
func TestIMAPExtensionsAndLiveDelivery(t *testing.T) {
	ms := mailsimtest.New(t)
	acc := ms.Person("")
	updates := make(chan uint32, 8)
	c, err := imapclient.DialTLS(ms.IMAPSAddr, &imapclient.Options{
		TLSConfig: ms.Certs.ClientConfig("localhost"),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					updates <- *d.NumMessages
				}
			},
		},
	})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Authenticate(sasl.NewPlainClient("", acc.Address, acc.Password)), "SASL-IR / AUTHENTICATE PLAIN")
	caps, err := c.Capability().Wait()
	require.NoError(t, err)
	for _, cp := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapMove, imap.CapNamespace, imap.CapUIDPlus, imap.CapIdle, imap.CapESearch, imap.CapListStatus, imap.CapBinary, "ID"} {
		assert.True(t, caps.Has(cp), "capability %s", cp)
	}

	// LIST-STATUS.
	list, err := c.List("", "INBOX", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true, UIDNext: true}}).Collect()
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NotNil(t, list[0].Status)
	n0 := *list[0].Status.NumMessages
	require.Greater(t, n0, uint32(0))

	sd, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	require.Equal(t, n0, sd.NumMessages)

	// ESEARCH: RETURN (MIN MAX COUNT).
	es, err := c.UIDSearch(&imap.SearchCriteria{}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
	require.NoError(t, err)
	assert.Equal(t, n0, es.Count)
	assert.Equal(t, uint32(1), es.Min)

	// BINARY: the decoded attachment of some message.
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, UID: true}).Collect()
	require.NoError(t, err)
	var uid imap.UID
	var part []int
	for _, m := range msgs {
		m.BodyStructure.Walk(func(p []int, bs imap.BodyStructure) bool {
			if sp, ok := bs.(*imap.BodyStructureSinglePart); ok && sp.Filename() != "" && part == nil {
				uid, part = m.UID, append([]int(nil), p...)
			}
			return true
		})
	}
	if part != nil {
		bm, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{BinarySection: []*imap.FetchItemBinarySection{{Part: part, Peek: true}}}).Collect()
		require.NoError(t, err)
		require.Len(t, bm, 1)
		var data []byte
		for _, b := range bm[0].BinarySection {
			data = b.Bytes
		}
		require.NotEmpty(t, data)
		assert.False(t, bytes.HasPrefix(data, []byte("JVBER")), "BINARY returns decoded bytes, not base64")
	}

	// IDLE, then deliver a message over SMTP: the session sees it at once.
	idle, err := c.Idle()
	require.NoError(t, err)
	sender := ms.Person("director")
	sc, err := smtp.DialStartTLS(ms.SubmissionAddr, ms.Certs.ClientConfig("localhost"))
	require.NoError(t, err)
	require.NoError(t, sc.Auth(sasl.NewPlainClient("", sender.Address, sender.Password)))
	body := "From: " + sender.Address + "\r\nTo: " + acc.Address + "\r\nSubject: urgent\r\n\r\nlive delivery\r\n"
	require.NoError(t, sc.SendMail(sender.Address, []string{acc.Address}, strings.NewReader(body)))
	sc.Quit()
	select {
	case n := <-updates:
		assert.Equal(t, n0+1, n)
	case <-time.After(5 * time.Second):
		t.Fatal("IDLE session did not see the delivered message")
	}
	require.NoError(t, idle.Close())
	require.NoError(t, idle.Wait())
	got, err := c.Fetch(imap.SeqSetNum(n0+1), &imap.FetchOptions{Envelope: true}).Collect()
	require.NoError(t, err)
	assert.Equal(t, "urgent", got[0].Envelope.Subject)
	require.NotEmpty(t, ms.EventsFor(audit.IMAPIdle))
	var local int
	for _, e := range ms.EventsFor(audit.SMTPDeliver) {
		if e.EmailDirection == "internal" && e.SMTPRcptTo == acc.Address {
			local++
		}
	}
	assert.Equal(t, 1, local)
}
