package mailsim_test

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/mailsimtest"
)

func TestSmokeSelectFetch(t *testing.T) {
	ms := mailsimtest.New(t)
	acc := ms.Person("")
	c, err := imapclient.DialTLS(ms.IMAPSAddr, &imapclient.Options{TLSConfig: ms.Certs.ClientConfig("localhost")})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Login(acc.Address, acc.Password).Wait())
	t0 := time.Now()
	sd, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	t.Logf("select: %d messages in %s", sd.NumMessages, time.Since(t0))
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	require.NoError(t, err)
	require.Len(t, msgs, 1)
}
