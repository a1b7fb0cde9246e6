package store

import (
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func uidSet(ranges ...uint32) imap.UIDSet {
	var s imap.UIDSet
	for i := 0; i+1 < len(ranges); i += 2 {
		s = append(s, imap.UIDRange{Start: imap.UID(ranges[i]), Stop: imap.UID(ranges[i+1])})
	}
	return s
}

// RFC 7162 §3.2.5, §3.2.6: the UIDs expunged after a mod-sequence, among
// the UIDs the client knows, as VANISHED (EARLIER) reports them.
func TestVanishedSince(t *testing.T) {
	s := New(&countingBase{}, nil, Options{})
	mb, err := s.Mailbox("a@x.test", "INBOX") // UIDs 1..10
	require.NoError(t, err)
	h0 := mb.HighestModSeq()
	mb.Remove([]uint32{2, 3})
	h1 := mb.HighestModSeq()
	mb.Remove([]uint32{7})

	got, exact := mb.Vanished(h0, nil)
	assert.True(t, exact)
	assert.Equal(t, "2:3,7", got.String())
	got, _ = mb.Vanished(h1, nil)
	assert.Equal(t, "7", got.String(), "only what was expunged after h1")
	got, _ = mb.Vanished(h0, uidSet(3, 0))
	assert.Equal(t, "3,7", got.String(), "only the known UIDs (3:*)")
	got, _ = mb.Vanished(mb.HighestModSeq(), nil)
	assert.Empty(t, got)

	// Opened at the same instant: a QRESYNC SELECT.
	v, st, gone, exact := mb.OpenResync(false, Resync{ModSeq: h1})
	defer v.Close()
	assert.True(t, exact)
	assert.Equal(t, "7", gone.String())
	assert.Equal(t, uint32(7), st.Messages)
}

// Past MaxVanished the oldest expunges are forgotten: a client
// resynchronising from before them is sent every UID below UIDNEXT that is
// not present (a superset, RFC 7162 §3.2.5.1), never fewer than vanished;
// memory stays bounded.
func TestVanishedBounded(t *testing.T) {
	s := New(&countingBase{}, nil, Options{})
	mb, err := s.Mailbox("a@x.test", "INBOX") // UIDs 1..10
	require.NoError(t, err)
	h0 := mb.HighestModSeq()
	mb.Remove([]uint32{4})
	var msgs []NewMessage
	for range MaxVanished + 10 {
		msgs = append(msgs, NewMessage{Raw: []byte("Subject: x\r\n\r\nx\r\n")})
	}
	uids, _, err := mb.AppendAll(msgs)
	require.NoError(t, err)
	for _, u := range uids {
		mb.Remove([]uint32{u})
	}
	mb.mu.RLock()
	kept := len(mb.vanished)
	mb.mu.RUnlock()
	assert.LessOrEqual(t, kept, MaxVanished, "bounded")

	got, exact := mb.Vanished(h0, nil)
	assert.False(t, exact, "UID 4's expunge was forgotten")
	assert.Equal(t, "4,11:"+itoa(uids[len(uids)-1]), got.String(), "every absent UID below UIDNEXT")
	got, _ = mb.Vanished(h0, uidSet(1, 5))
	assert.Equal(t, "4", got.String(), "within the known UIDs")

	// The newest are still known exactly.
	h := mb.HighestModSeq()
	got, exact = mb.Vanished(h-1, nil)
	assert.True(t, exact)
	assert.Equal(t, itoa(uids[len(uids)-1]), got.String())
}

func itoa(u uint32) string {
	return imap.UIDSet{imap.UIDRange{Start: imap.UID(u), Stop: imap.UID(u)}}.String()
}
