package mailsim_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/textproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
)

// downloadSession starts a mail system of 6 users × 40 messages (plain
// IMAP only) and logs in as its first person; both end with the test.
func downloadSession(t *testing.T, seed int64) (*mailsim.Server, account.Account, *imapclient.Client) {
	t.Helper()
	srv, err := mailsim.Start(context.Background(), mailsim.Config{Seed: seed, Users: 6, MessagesPerUser: 40,
		AllowInsecureAuth: true, CertDir: t.TempDir(),
		IMAPSAddr: mailsim.Disabled, SubmissionAddr: mailsim.Disabled, MXAddr: mailsim.Disabled, AdminAddr: mailsim.Disabled})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	var acc account.Account
	for _, a := range srv.Accounts() {
		if a.Kind == "person" {
			acc = a
			break
		}
	}
	c, err := imapclient.DialInsecure(srv.IMAPAddr, nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Login(acc.Address, acc.Password).Wait())
	return srv, acc, c
}

// A whole-mailbox download returns every message byte for byte as the
// corpus makes it, however the FETCH asks for it: BODY.PEEK[] alone
// (written in pieces from the document cache), BODY[] (marks \Seen) and
// BODY.PEEK[] with ENVELOPE (whole parsed message).
func TestWholeDownloadIsTheCorpus(t *testing.T) {
	srv, acc, c := downloadSession(t, 3)
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

// An attachment's body alone (BODY.PEEK[n], written from the corpus'
// pieces) is byte for byte the part as a MIME parser finds it in the
// corpus' message, and the same as when the message is loaded whole for
// it (BODY.PEEK[n] with ENVELOPE); the download events tell the same
// message and attachments either way.
func TestPartDownloadIsTheCorpus(t *testing.T) {
	srv, acc, c := downloadSession(t, 4)
	sub := srv.Bus.Subscribe()
	defer sub.Close()
	sel, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)

	fetchPart := func(uid uint32, part int, envelope bool) []byte {
		opts := &imap.FetchOptions{UID: true, Envelope: envelope, BodySection: []*imap.FetchItemBodySection{{Part: []int{part}, Peek: true}}}
		msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), opts).Collect()
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		for _, b := range msgs[0].BodySection {
			return b.Bytes
		}
		t.Fatalf("uid %d: no BODY[%d]", uid, part)
		return nil
	}
	// fetchEvents are the next download's events (one per attachment).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fetchEvents := func(n int) []audit.Event {
		var out []audit.Event
		for len(out) < n {
			e, err := sub.Next(ctx)
			require.NoError(t, err)
			if e.Action == audit.IMAPFetch {
				out = append(out, *e)
			}
		}
		return out
	}
	sections := 0
	for uid := uint32(1); uid <= sel.NumMessages; uid++ {
		want, err := srv.Org.Message(acc.Address, "INBOX", uid)
		require.NoError(t, err)
		if len(want.Attachments) == 0 {
			continue
		}
		raw := partBodies(t, want.Raw)
		for _, a := range want.Attachments {
			n := a.Part[0]
			alone := fetchPart(uid, n, false)
			evAlone := fetchEvents(1)
			loaded := fetchPart(uid, n, true)
			evLoaded := fetchEvents(1)
			require.True(t, bytes.Equal(raw[n-1], alone), "uid %d part %d alone: %d bytes against %d", uid, n, len(alone), len(raw[n-1]))
			require.True(t, bytes.Equal(alone, loaded), "uid %d part %d", uid, n)
			for _, ev := range [][]audit.Event{evAlone, evLoaded} {
				assert.Equal(t, a.Filename, ev[0].FileName)
				assert.Equal(t, a.SHA256, ev[0].FileSHA256)
				assert.EqualValues(t, len(want.Raw), ev[0].MessageSize)
				assert.Equal(t, want.MessageID, "<"+ev[0].MessageID+">")
				assert.EqualValues(t, len(alone), ev[0].BytesOut)
			}
			assert.Equal(t, evLoaded[0].MessageSubj, evAlone[0].MessageSubj)
			sections++
		}
	}
	assert.Greater(t, sections, 4)
}

// partBodies are the raw bodies (no transfer decoding) of a multipart
// message's top-level parts.
func partBodies(t *testing.T, msg []byte) [][]byte {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(msg))
	h, err := textproto.ReadHeader(r)
	require.NoError(t, err)
	_, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	require.NoError(t, err)
	mr := textproto.NewMultipartReader(r, params["boundary"])
	var out [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		out = append(out, b)
	}
}
