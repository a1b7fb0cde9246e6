package store

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 7162 §3.1.1-3.1.3: every change takes a mod-sequence above all
// earlier ones; a STORE takes one for all the messages it changes, none for
// messages it leaves as they were; UNCHANGEDSINCE leaves alone (and reports)
// messages changed after it; an EXPUNGE raises HIGHESTMODSEQ.
func TestModSeq(t *testing.T) {
	s := New(&countingBase{}, nil, Options{})
	mb, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	assert.Equal(t, uint64(1), mb.HighestModSeq(), "a mailbox as the base made it")
	it, _ := mb.ItemByUID(4)
	assert.Equal(t, uint64(1), it.ModSeq)

	uid, err := mb.Append([]byte("Subject: x\r\n\r\nx\r\n"), nil, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), mb.HighestModSeq())
	it, _ = mb.ItemByUID(uid)
	assert.Equal(t, uint64(2), it.ModSeq)

	// UID 2 is \Seen in the base: adding \Seen changes nothing.
	res, err := mb.Store([]uint32{1, 2, 3}, FlagsAdd, []imap.Flag{imap.FlagSeen}, nil, StoreOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[uint32]bool{1: true, 3: true}, res.Changed)
	assert.Equal(t, map[uint32]uint64{1: 3, 2: 1, 3: 3}, res.ModSeq)
	assert.Equal(t, uint64(3), mb.HighestModSeq())

	res, err = mb.Store([]uint32{1, 2, uid}, FlagsAdd, []imap.Flag{imap.FlagFlagged}, nil, StoreOptions{Unchanged: true, UnchangedSince: 2})
	require.NoError(t, err)
	assert.Equal(t, []uint32{1}, res.Modified, "UID 1 changed at 3, after 2")
	assert.Equal(t, map[uint32]bool{2: true, uid: true}, res.Changed)
	assert.Equal(t, uint64(4), res.ModSeq[uid])
	f, _ := mb.ItemByUID(1)
	assert.False(t, HasFlag(f.Flags, imap.FlagFlagged), "a modified message is left alone")

	res, err = mb.Store([]uint32{2}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, nil, StoreOptions{Unchanged: true, UnchangedSince: 0})
	require.NoError(t, err)
	assert.Equal(t, []uint32{2}, res.Modified, "UNCHANGEDSINCE 0 fails for every message")

	_, err = mb.Store([]uint32{uid}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, nil, StoreOptions{})
	require.NoError(t, err)
	assert.Equal(t, uint64(5), mb.HighestModSeq())
	gone, err := mb.Expunge(nil)
	require.NoError(t, err)
	require.Len(t, gone, 1)
	assert.Equal(t, uint64(6), mb.HighestModSeq())
	assert.Empty(t, mb.modseqs[uid], "the expunged message's mod-sequence goes with it")
	st, err := mb.Stats(false, false)
	require.NoError(t, err)
	assert.Equal(t, uint64(6), st.HighestModSeq)
}

// Mod-sequences stay with the mailbox: RENAME and a second look see the
// same values; a mailbox made anew (new UIDVALIDITY) starts again from 1
// (RFC 7162 §3.1.2.1 ties them to UIDVALIDITY).
func TestModSeqSurvivesRename(t *testing.T) {
	s := New(&countingBase{}, nil, Options{})
	mb, err := s.Create("a@x.test", "Projets")
	require.NoError(t, err)
	uid, err := mb.Append([]byte("Subject: x\r\n\r\nx\r\n"), nil, time.Time{})
	require.NoError(t, err)
	_, err = mb.Store([]uint32{uid}, FlagsAdd, []imap.Flag{"$Suivi"}, nil, StoreOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Rename("a@x.test", "Projets", "Archives"))
	again, err := s.Mailbox("a@x.test", "Archives")
	require.NoError(t, err)
	assert.Equal(t, uint64(3), again.HighestModSeq())
	it, _ := again.ItemByUID(uid)
	assert.Equal(t, uint64(3), it.ModSeq)

	require.NoError(t, s.Delete("a@x.test", "Archives"))
	fresh, err := s.Create("a@x.test", "Archives")
	require.NoError(t, err)
	assert.NotEqual(t, mb.UIDValidity(), fresh.UIDValidity())
	assert.Equal(t, uint64(1), fresh.HighestModSeq())
}
