package store

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// skeletonBase gives skeletons of countingBase's messages: the csv
// attachment's body ("a,b") left out and told in Omitted, at part
// omitPart.
type skeletonBase struct {
	countingBase
	omitPart  int
	skeletons int
}

func (b *skeletonBase) Skeleton(owner, folder string, uid uint32) (BaseMessage, error) {
	bm, err := b.countingBase.Message(owner, folder, uid)
	if err != nil {
		return bm, err
	}
	b.skeletons++
	bm.Raw = bytes.Replace(bm.Raw, []byte("\r\n\r\na,b\r\n--B--"), []byte("\r\n\r\n\r\n--B--"), 1)
	bm.Omitted = []OmittedPart{{Part: []int{b.omitPart}, Bytes: 3}} // "a,b": the CRLF before the boundary is the delimiter's
	return bm, nil
}

// A description made from a skeleton equals the whole message's; when the
// skeleton's omitted part is not where told, or the MIME limits could cut
// its structure, the store parses the whole message instead.
func TestMetaFromSkeleton(t *testing.T) {
	for _, tc := range []struct {
		name      string
		omitPart  int
		maxParts  int
		wantWhole bool
	}{
		{"skeleton", 2, 0, false},
		{"part not there", 5, 0, true},
		{"parts limit", 2, 3, true},
	} {
		b := &skeletonBase{omitPart: tc.omitPart}
		s := New(b, nil, Options{MaxMIMEParts: tc.maxParts})
		mb, err := s.Mailbox("a@x.test", "INBOX")
		require.NoError(t, err)
		it, ok := mb.ItemByUID(3)
		require.True(t, ok)
		got, err := it.Meta()
		require.NoError(t, err)
		assert.Equal(t, 1, b.skeletons, tc.name)
		assert.Equal(t, tc.wantWhole, b.calls > 1, tc.name+": whole message made") // 1: the skeleton's own
		m, err := it.Load()
		require.NoError(t, err)
		assert.Equal(t, MetaOf(m), got, tc.name)
		assert.Equal(t, "3@x", got.MessageID)
		again, err := it.Meta()
		require.NoError(t, err)
		assert.Same(t, got, again, tc.name+": kept")
	}
}
