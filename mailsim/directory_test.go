package mailsim

import (
	"bytes"
	"fmt"
	"runtime"
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

func TestMessageCacheFor(t *testing.T) {
	assert.EqualValues(t, 16<<20, MessageCacheFor(1), "at least 16 MiB")
	assert.EqualValues(t, 256<<20, MessageCacheFor(0), "the default clients")
	assert.EqualValues(t, 40<<20, MessageCacheFor(10), "4 MiB a client")
	assert.EqualValues(t, 512<<20, MessageCacheFor(100_000), "at most 512 MiB")
}

// With caches far smaller than what is read, every message still comes out
// byte for byte as generated, and neither cache grows past its bound.
func TestSmallCachesServeTheSameMessages(t *testing.T) {
	cfg := Config{Seed: 5, Users: 4, MessagesPerUser: 60, MessageCacheBytes: 256 << 10, AttachmentCacheBytes: 512 << 10}
	org, st, err := NewStore(cfg)
	require.NoError(t, err)
	ref, err := corpus.New(corpus.Config{Seed: 5, Users: 4, MessagesPerUser: 60})
	require.NoError(t, err)
	assert.EqualValues(t, 512<<10, org.CacheStats().Limit)
	var read int64
	for pass := 0; pass < 2; pass++ {
		for _, u := range org.Users()[:3] {
			mb, err := st.Mailbox(u.Address, "INBOX")
			require.NoError(t, err)
			for uid := uint32(1); uid <= mb.Count(); uid++ {
				it, ok := mb.ItemByUID(uid)
				require.True(t, ok)
				m, err := it.Load()
				require.NoError(t, err)
				want, err := ref.Message(u.Address, "INBOX", uid)
				require.NoError(t, err)
				require.Equal(t, want.Raw, m.Raw, "%s %d", u.Address, uid)
				read += int64(len(m.Raw))
				_, b, limit := st.CacheStats()
				require.LessOrEqual(t, b, limit)
				cs := org.CacheStats()
				require.LessOrEqual(t, cs.Bytes, cs.Limit)
			}
		}
	}
	assert.Greater(t, read, int64(4<<20), "far more was read than the caches hold")
	assert.Greater(t, org.CacheStats().Rendered, int64(org.CacheStats().Docs), "evicted documents were made again")
}

// What a FETCH of ENVELOPE, BODYSTRUCTURE, RFC822.SIZE and INTERNALDATE
// answers from the message's description (made from the corpus's skeleton,
// no attachment rendered) is exactly what the whole message gives, for
// every message of every folder of a sample organisation; and the
// skeleton's header (BODY[HEADER]) is the message's, byte for byte.
func TestMetaMatchesTheWholeMessage(t *testing.T) {
	cfg := Config{Seed: 11, Users: 5, MessagesPerUser: 80}
	org, st, err := NewStore(cfg)
	require.NoError(t, err)
	_, ref, err := NewStore(cfg) // a second store: its messages are made whole
	require.NoError(t, err)
	var n, withAtt int
	for _, u := range org.Users() {
		boxes, err := st.Mailboxes(u.Address)
		require.NoError(t, err)
		for _, mb := range boxes {
			rmb, err := ref.Mailbox(u.Address, mb.Name())
			require.NoError(t, err)
			for _, it := range mb.Items(nil) {
				got, err := it.Meta()
				require.NoError(t, err)
				rit, ok := rmb.ItemByUID(it.UID)
				require.True(t, ok)
				full, err := rit.Load()
				require.NoError(t, err)
				want := store.MetaOf(full)
				where := fmt.Sprintf("%s %s %d", u.Address, mb.Name(), it.UID)
				require.Equal(t, want, got, where)
				require.EqualValues(t, len(full.Raw), got.Size, where)

				sk, err := org.Skeleton(u.Address, mb.Name(), it.UID)
				require.NoError(t, err)
				end := bytes.Index(full.Raw, []byte("\r\n\r\n"))
				require.Positive(t, end, where)
				require.Equal(t, string(full.Raw[:end+4]), string(sk.Raw[:end+4]), where)
				if len(full.Attachments()) > 0 {
					withAtt++
					require.Less(t, len(sk.Raw), len(full.Raw), "the skeleton carries no attachment")
				}
				n++
			}
		}
	}
	assert.Greater(t, n, 300, "messages compared")
	assert.Greater(t, withAtt, 30, "messages with attachments compared")
}

// The description cache's byte bound rests on store.MetaBytes: its
// estimate of what the descriptions of a sample organisation's messages
// hold must be close to the heap they keep once everything else that made
// them is gone (not under, and not so far over that the bound wastes the
// cache).
func TestMetaBytesEstimate(t *testing.T) {
	var metas []*store.Meta
	func() {
		org, st, err := NewStore(Config{Seed: 12, Users: 5, MessagesPerUser: 120})
		require.NoError(t, err)
		var boxes []*store.Mailbox
		for _, u := range org.Users() {
			bs, err := st.Mailboxes(u.Address)
			require.NoError(t, err)
			boxes = append(boxes, bs...)
		}
		for _, mb := range boxes {
			for _, it := range mb.Items(nil) {
				m, err := it.Meta()
				require.NoError(t, err)
				metas = append(metas, m)
			}
		}
	}()
	require.Greater(t, len(metas), 500)
	var est int64
	for _, m := range metas {
		est += store.MetaBytes(m)
	}
	held := heapAfterGC()
	runtime.KeepAlive(metas)
	n := len(metas)
	metas = nil
	actual := int64(held) - int64(heapAfterGC())
	t.Logf("%d descriptions: estimated %d B (%d B each), held %d B (%d B each)", n, est, est/int64(n), actual, actual/int64(n))
	require.Positive(t, actual)
	assert.GreaterOrEqual(t, float64(est), 0.9*float64(actual), "the estimate must not fall short of what descriptions hold")
	assert.LessOrEqual(t, float64(est), 1.5*float64(actual), "the estimate is far over what descriptions hold")
}

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A whole download trusts the Message-ID and Subject the corpus gives when
// it says they are exact (BaseMessage.Headed): they are those the store
// reads in the header, for every message of three organisations, and
// nearly every message has them.
func TestHeadedMessagesMatchTheHeader(t *testing.T) {
	var headed, total int
	for seed := int64(1); seed <= 3; seed++ {
		org, err := corpus.New(corpus.Config{Seed: seed, Users: 6, MessagesPerUser: 60, MaxAttachmentSize: 16 << 10})
		require.NoError(t, err)
		a := baseAdapter{org}
		for _, u := range org.Users() {
			for _, f := range a.Folders(u.Address) {
				for uid := uint32(1); uid <= f.Count; uid++ {
					bm, pieces, err := a.MessageParts(u.Address, f.Name, uid)
					require.NoError(t, err)
					require.NotEmpty(t, pieces)
					total++
					if !bm.Headed {
						continue
					}
					headed++
					id, subject, err := store.HeaderIDs(pieces[0])
					require.NoError(t, err)
					require.Equal(t, id, bm.MessageID, "seed %d %s %s %d", seed, u.Address, f.Name, uid)
					require.Equal(t, subject, bm.Subject, "seed %d %s %s %d", seed, u.Address, f.Name, uid)
				}
			}
		}
	}
	assert.Greater(t, total, 1000)
	assert.GreaterOrEqual(t, headed*100, total*99, "%d of %d messages headed", headed, total)
}
