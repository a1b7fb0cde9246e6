package corpus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A message given in pieces a second time comes from the text cache: the
// same bytes, the same description, its text pieces those the cache
// holds; what the caller changes of the description is its own.
func TestTextCache(t *testing.T) {
	o, err := New(Config{Seed: 11, Users: 12, MessagesPerUser: 60, MaxAttachmentSize: 200 << 10})
	require.NoError(t, err)
	kept, withAtts := 0, 0
	for _, u := range o.Users()[:3] {
		for _, f := range o.Folders(u.Address) {
			for uid := uint32(1); uid <= f.Count && uid <= 20; uid++ {
				m, err := o.Message(u.Address, f.Name, uid)
				require.NoError(t, err)
				first, parts1, err := o.MessageParts(u.Address, f.Name, uid)
				require.NoError(t, err)
				kept++
				n, _ := o.texts.Len()
				require.Equal(t, kept, n, "kept once generated")
				again, parts2, err := o.MessageParts(u.Address, f.Name, uid)
				require.NoError(t, err)
				assert.Equal(t, string(m.Raw), string(bytes.Join(parts2, nil)), "%s %s %d", u.Address, f.Name, uid)
				assert.Equal(t, first, again)
				assert.Equal(t, len(parts1), len(parts2))
				c, ok := o.texts.Peek(textKey{o.index[u.Address], f.Name, uid})
				require.True(t, ok)
				assert.Same(t, &c.text[0][0], &parts2[0][0], "the text comes from the cache")
				prepared, parts3, err := o.PrepareParts(u.Address, f.Name, uid)
				require.NoError(t, err)
				assert.Equal(t, first, prepared)
				assert.Equal(t, string(m.Raw), string(bytes.Join(parts3, nil)))

				again.Flags = append(again.Flags[:0], "changed")
				if len(again.Attachments) > 0 {
					withAtts++
					again.Attachments[0].Filename = "changed"
				}
				third, _, err := o.MessageParts(u.Address, f.Name, uid)
				require.NoError(t, err)
				assert.Equal(t, first, third, "the cache is not the caller's")
			}
		}
	}
	assert.Greater(t, withAtts, 5)
	_, size := o.texts.Len()
	assert.Less(t, size, int64(TextCacheBytes))
	assert.Positive(t, size)
}

// A cached message whose document another goroutine is making: a
// preparer gets no message and waits for nothing, as when the message was
// not cached; MessageParts waits for the document.
func TestTextCachePrepareWaitsForNothing(t *testing.T) {
	// A cache too small to keep any document: each is made again.
	o, err := New(Config{Seed: 11, Users: 12, MessagesPerUser: 60, MaxAttachmentSize: 200 << 10, CacheBytes: 1})
	require.NoError(t, err)
	u := o.Users()[0].Address
	uid, want := firstWithAttachments(t, o, u)
	_, _, err = o.MessageParts(u, "INBOX", uid)
	require.NoError(t, err)
	c, ok := o.texts.Peek(textKey{o.index[u], "INBOX", uid})
	require.True(t, ok)
	require.NotEmpty(t, c.docs)

	id := docID{c.docs[0].typ, c.docs[0].variant}
	release, started, gone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(gone)
		_, _ = o.docs.Get(id, func() (*encodedDoc, error) {
			close(started)
			<-release
			return nil, errors.New("given up")
		})
	}()
	<-started
	m, parts, err := o.PrepareParts(u, "INBOX", uid)
	require.NoError(t, err)
	assert.Nil(t, m)
	assert.Nil(t, parts)
	close(release)
	<-gone // that load failed; the next one makes the document
	m, parts, err = o.MessageParts(u, "INBOX", uid)
	require.NoError(t, err)
	require.NotNil(t, m)
	assert.Equal(t, string(want.Raw), string(bytes.Join(parts, nil)))
}
