package mailsim_test

import (
	"context"
	"io"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
)

// A whole-mailbox download returns every message byte for byte as the
// corpus makes it, however the FETCH asks for it: BODY.PEEK[] alone
// (written in pieces from the document cache), BODY[] (marks \Seen) and
// BODY.PEEK[] with ENVELOPE (whole parsed message).
func TestWholeDownloadIsTheCorpus(t *testing.T) {
	srv, err := mailsim.Start(context.Background(), mailsim.Config{Seed: 3, Users: 6, MessagesPerUser: 40,
		AllowInsecureAuth: true, CertDir: t.TempDir(),
		IMAPSAddr: mailsim.Disabled, SubmissionAddr: mailsim.Disabled, MXAddr: mailsim.Disabled, AdminAddr: mailsim.Disabled})
	require.NoError(t, err)
	defer srv.Close()
	var acc account.Account
	for _, a := range srv.Accounts() {
		if a.Kind == "person" {
			acc = a
			break
		}
	}
	c, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Login(acc.Address, acc.Password).Wait())
	sel, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	require.Greater(t, sel.NumMessages, uint32(5))

	withAtts := 0
	for _, tc := range []struct {
		name string
		opts imap.FetchOptions
	}{
		{"BODY.PEEK[]", imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}},
		{"BODY.PEEK[] ENVELOPE", imap.FetchOptions{UID: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}},
		{"BODY[]", imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{}}}},
		{"BODY.PEEK[] again", imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}},
	} {
		cmd := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &tc.opts)
		n := 0
		for m := cmd.Next(); m != nil; m = cmd.Next() {
			var uid imap.UID
			var body []byte
			for it := m.Next(); it != nil; it = m.Next() {
				switch it := it.(type) {
				case imapclient.FetchItemDataUID:
					uid = it.UID
				case imapclient.FetchItemDataBodySection:
					body, err = io.ReadAll(it.Literal)
					require.NoError(t, err)
				}
			}
			want, err := srv.Org.Message(acc.Address, "INBOX", uint32(uid))
			require.NoError(t, err)
			require.Equal(t, len(want.Raw), len(body), "%s uid %d", tc.name, uid)
			require.True(t, string(want.Raw) == string(body), "%s uid %d: not the corpus' bytes", tc.name, uid)
			if len(want.Attachments) > 0 {
				withAtts++
			}
			n++
		}
		require.NoError(t, cmd.Close())
		assert.Equal(t, int(sel.NumMessages), n, tc.name)
	}
	assert.Greater(t, withAtts, 4)
}
