package mailsim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/corpus"
	"github.com/maildrill/maildrill/mailsim/store"
)

// The attachments the corpus describes are exactly those the store finds
// by walking and hashing the message, so that the store may trust them.
func TestBaseAttachmentsMatchTheMessage(t *testing.T) {
	org, err := corpus.New(corpus.Config{Seed: 3, Users: 6, MessagesPerUser: 60, MaxAttachmentSize: 64 << 10})
	require.NoError(t, err)
	a := baseAdapter{org}
	var with, total int
	for _, u := range org.Users() {
		for _, f := range a.Folders(u.Address) {
			for uid := uint32(1); uid <= f.Count; uid++ {
				bm, err := a.Message(u.Address, f.Name, uid)
				require.NoError(t, err)
				require.NotNil(t, bm.Attachments, "a generated message is always described")
				want := store.DescribeAttachments(bm.Raw)
				if len(want) == 0 {
					assert.Empty(t, bm.Attachments, "%s %s %d", u.Address, f.Name, uid)
					continue
				}
				assert.Equal(t, want, bm.Attachments, "%s %s %d", u.Address, f.Name, uid)
				with++
				total += len(want)
			}
		}
	}
	assert.Greater(t, with, 20, "the sample has messages with attachments")
	assert.Greater(t, total, with, "and some with more than one")
}
