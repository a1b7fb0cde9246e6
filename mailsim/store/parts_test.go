package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// streamingBase serves countingBase's messages in pieces too, cut around
// the attachment's body.
type streamingBase struct {
	countingBase
	pieces int
}

func (b *streamingBase) MessageParts(owner, folder string, uid uint32) (BaseMessage, [][]byte, error) {
	bm, err := b.Message(owner, folder, uid)
	if err != nil {
		return BaseMessage{}, nil, err
	}
	b.pieces++
	raw := bm.Raw
	i := bytes.Index(raw, []byte("a,b"))
	bm.Raw = nil
	bm.Attachments = DescribeAttachments(raw)
	return bm, [][]byte{raw[:i], raw[i : i+3], raw[i+3:]}, nil
}

func TestLoadWhole(t *testing.T) {
	b := &streamingBase{}
	s := New(b, nil, Options{CacheMessages: 8})
	mb, _ := s.Mailbox("a@x.test", "INBOX")
	it, _ := mb.ItemByUID(3)
	w, err := it.LoadWhole()
	require.NoError(t, err)
	assert.Equal(t, 1, b.pieces, "from the base, in pieces")
	assert.Len(t, w.Pieces, 3)
	n, _ := s.cache.Len()
	assert.Equal(t, 0, n, "not kept")

	m, err := it.Load()
	require.NoError(t, err)
	assert.Equal(t, string(m.Raw), string(bytes.Join(w.Pieces, nil)))
	assert.Equal(t, m.Size, w.Size)
	assert.Equal(t, m.MessageID, w.MessageID)
	assert.Equal(t, m.Subject, w.Subject)
	assert.Equal(t, m.Attachments(), w.Attachments)

	// Held by the cache: served from it, whole.
	w, err = it.LoadWhole()
	require.NoError(t, err)
	assert.Equal(t, 1, b.pieces)
	require.Len(t, w.Pieces, 1)
	assert.Same(t, &m.Raw[0], &w.Pieces[0][0])

	// A base without pieces, and an added message: as LoadOnce.
	s = New(&countingBase{}, nil, Options{})
	mb, _ = s.Mailbox("a@x.test", "INBOX")
	it, _ = mb.ItemByUID(4)
	w, err = it.LoadWhole()
	require.NoError(t, err)
	require.Len(t, w.Pieces, 1)
	assert.Equal(t, "4@x", w.MessageID)
	assert.Len(t, w.Attachments, 1)
	uid, err := mb.Append([]byte("Subject: new\r\n\r\nbody\r\n"), nil, m.InternalDate)
	require.NoError(t, err)
	it, _ = mb.ItemByUID(uid)
	w, err = it.LoadWhole()
	require.NoError(t, err)
	assert.Equal(t, "Subject: new\r\n\r\nbody\r\n", string(bytes.Join(w.Pieces, nil)))
	assert.Equal(t, "new", w.Subject)
}

// Prepare asks a streaming base for the message in pieces and keeps
// nothing; a message the cache holds, an added one, or a base without
// pieces is not asked for.
func TestPrepare(t *testing.T) {
	b := &streamingBase{}
	s := New(b, nil, Options{CacheMessages: 8})
	mb, _ := s.Mailbox("a@x.test", "INBOX")
	it, _ := mb.ItemByUID(3)
	it.Prepare()
	assert.Equal(t, 1, b.pieces)
	assert.Equal(t, 1, b.calls)
	n, _ := s.cache.Len()
	assert.Equal(t, 0, n, "not kept")

	_, err := it.Load()
	require.NoError(t, err)
	it.Prepare()
	assert.Equal(t, 1, b.pieces, "held by the cache")
	assert.Equal(t, 2, b.calls)

	uid, err := mb.Append([]byte("Subject: new\r\n\r\nbody\r\n"), nil, time.Unix(1, 0))
	require.NoError(t, err)
	it, _ = mb.ItemByUID(uid)
	it.Prepare()
	assert.Equal(t, 1, b.pieces, "an added message")
	assert.Equal(t, 2, b.calls)

	cb := &countingBase{}
	s = New(cb, nil, Options{})
	mb, _ = s.Mailbox("a@x.test", "INBOX")
	it, _ = mb.ItemByUID(4)
	it.Prepare()
	assert.Equal(t, 0, cb.calls, "a base without pieces")
}

// preparingBase is a streaming base that prepares messages its own way.
type preparingBase struct {
	streamingBase
	prepared []uint32
}

func (b *preparingBase) PrepareMessage(owner, folder string, uid uint32) {
	b.prepared = append(b.prepared, uid)
}

// A BasePreparer is asked to prepare the message, not for it in pieces;
// a message the cache holds is not prepared.
func TestPrepareWithBasePreparer(t *testing.T) {
	b := &preparingBase{}
	s := New(b, nil, Options{CacheMessages: 8})
	mb, _ := s.Mailbox("a@x.test", "INBOX")
	it, _ := mb.ItemByUID(3)
	it.Prepare()
	assert.Equal(t, []uint32{3}, b.prepared)
	assert.Equal(t, 0, b.pieces, "not asked for in pieces")

	_, err := it.Load()
	require.NoError(t, err)
	it.Prepare()
	assert.Equal(t, []uint32{3}, b.prepared, "held by the cache")
}
