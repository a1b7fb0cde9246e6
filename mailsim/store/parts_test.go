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

// PrepareWhole asks a streaming base for the message in pieces, keeps
// nothing, and returns what LoadWhole returns; a message the cache holds,
// an added one, or a base without pieces is not asked for, and nil is
// returned.
func TestPrepareWhole(t *testing.T) {
	b := &streamingBase{}
	s := New(b, nil, Options{CacheMessages: 8})
	mb, _ := s.Mailbox("a@x.test", "INBOX")
	it, _ := mb.ItemByUID(3)
	pw := it.PrepareWhole()
	require.NotNil(t, pw)
	assert.Equal(t, 1, b.pieces)
	assert.Equal(t, 1, b.calls)
	n, _ := s.cache.Len()
	assert.Equal(t, 0, n, "not kept")
	w, err := it.LoadWhole()
	require.NoError(t, err)
	assert.Equal(t, w, pw)
	assert.Equal(t, "3@x", pw.MessageID)

	_, err = it.Load()
	require.NoError(t, err)
	calls := b.calls
	assert.Nil(t, it.PrepareWhole(), "held by the cache")
	assert.Equal(t, 2, b.pieces, "held by the cache")
	assert.Equal(t, calls, b.calls)

	uid, err := mb.Append([]byte("Subject: new\r\n\r\nbody\r\n"), nil, time.Unix(1, 0))
	require.NoError(t, err)
	it, _ = mb.ItemByUID(uid)
	assert.Nil(t, it.PrepareWhole(), "an added message")
	assert.Equal(t, 2, b.pieces, "an added message")
	assert.Equal(t, calls, b.calls)

	cb := &countingBase{}
	s = New(cb, nil, Options{})
	mb, _ = s.Mailbox("a@x.test", "INBOX")
	it, _ = mb.ItemByUID(4)
	assert.Nil(t, it.PrepareWhole(), "a base without pieces")
	assert.Equal(t, 0, cb.calls, "a base without pieces")
}

// preparingBase is a streaming base that prepares messages its own way:
// it gives the message in pieces unless told that a document is being
// made elsewhere (busy).
type preparingBase struct {
	streamingBase
	prepared []uint32
	busy     bool
}

func (b *preparingBase) PrepareMessage(owner, folder string, uid uint32) (BaseMessage, [][]byte, bool) {
	b.prepared = append(b.prepared, uid)
	if b.busy {
		return BaseMessage{}, nil, false
	}
	bm, pieces, err := b.streamingBase.MessageParts(owner, folder, uid)
	return bm, pieces, err == nil
}

// A BasePreparer is asked to prepare the message, not for it in pieces;
// what it gives is the message, as LoadWhole gives it; when it waited for
// nothing it gives nothing, and PrepareWhole returns nil; a message the
// cache holds is not prepared.
func TestPrepareWholeWithBasePreparer(t *testing.T) {
	b := &preparingBase{}
	s := New(b, nil, Options{CacheMessages: 8})
	mb, _ := s.Mailbox("a@x.test", "INBOX")
	it, _ := mb.ItemByUID(3)
	pw := it.PrepareWhole()
	assert.Equal(t, []uint32{3}, b.prepared)
	require.NotNil(t, pw)
	w, err := it.LoadWhole()
	require.NoError(t, err)
	assert.Equal(t, w, pw)
	assert.Equal(t, []byte("a,b"), pw.Pieces[1])

	b.busy = true
	assert.Nil(t, it.PrepareWhole(), "a document being made elsewhere")
	assert.Equal(t, []uint32{3, 3}, b.prepared)

	_, err = it.Load()
	require.NoError(t, err)
	assert.Nil(t, it.PrepareWhole())
	assert.Equal(t, []uint32{3, 3}, b.prepared, "held by the cache")
}

// sectionBase is streamingBase giving its pieces' sections: piece 1 is the
// body of part 2 (sec), as the test sets it.
type sectionBase struct {
	streamingBase
	sec []Section
}

func (b *sectionBase) MessageParts(owner, folder string, uid uint32) (BaseMessage, [][]byte, error) {
	bm, pieces, err := b.streamingBase.MessageParts(owner, folder, uid)
	bm.Sections = b.sec
	return bm, pieces, err
}

// LoadPart gives a section's pieces and the message's description, nothing
// kept; nil for a part that is not a section, a section out of the
// pieces' range, a base without sections, or a message the cache holds.
func TestLoadPart(t *testing.T) {
	b := &sectionBase{sec: []Section{{Part: []int{2}, From: 1, To: 2}, {Part: []int{3}, From: 2, To: 9}}}
	s := New(b, nil, Options{CacheMessages: 8})
	mb, _ := s.Mailbox("a@x.test", "INBOX")
	it, _ := mb.ItemByUID(3)
	p, err := it.LoadPart([]int{2})
	require.NoError(t, err)
	require.NotNil(t, p)
	assert.Equal(t, "a,b", string(bytes.Join(p.Body.Pieces, nil)))
	assert.EqualValues(t, 3, p.Body.Size)
	n, _ := s.cache.Len()
	assert.Equal(t, 0, n, "not kept")
	for _, part := range [][]int{{1}, {3}, {2, 1}, nil} {
		p, err := it.LoadPart(part)
		require.NoError(t, err)
		assert.Nil(t, p, "part %v", part)
	}
	m, err := it.Load()
	require.NoError(t, err)
	p2, err := it.LoadPart([]int{2})
	require.NoError(t, err)
	assert.Nil(t, p2, "the cache holds the message: loaded from it")
	assert.Equal(t, m.Size, p.Message.Size)
	assert.Equal(t, m.MessageID, p.Message.MessageID)
	assert.Equal(t, m.Subject, p.Message.Subject)
	assert.Equal(t, m.Attachments(), p.Message.Attachments)
	assert.Equal(t, AttachmentsUnder(m.Attachments(), []int{2}), m.AttachmentsUnder([]int{2}))

	other := New(&streamingBase{}, nil, Options{})
	omb, _ := other.Mailbox("a@x.test", "INBOX")
	oit, _ := omb.ItemByUID(3)
	p, err = oit.LoadPart([]int{2})
	require.NoError(t, err)
	assert.Nil(t, p, "no sections from the base")
}
