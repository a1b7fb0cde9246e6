package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type countingBase struct {
	mu    sync.Mutex
	calls int
}

func (b *countingBase) Folders(owner string) []BaseFolder {
	if owner != "a@x.test" {
		return nil
	}
	return []BaseFolder{{Name: "INBOX", Count: 10, UIDValidity: 7}, {Name: "Sent", SpecialUse: `\Sent`, Count: 2, UIDValidity: 8}}
}

func (b *countingBase) Message(owner, folder string, uid uint32) (BaseMessage, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	raw := fmt.Sprintf("Subject: %s %d\r\nMessage-ID: <%d@x>\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"liste.csv\"\r\n\r\na,b\r\n--B--\r\n", folder, uid, uid)
	var flags []string
	if uid%2 == 0 {
		flags = []string{`\Seen`}
	}
	return BaseMessage{InternalDate: time.Unix(int64(uid), 0), Flags: flags, Raw: []byte(raw)}, nil
}

func TestMailboxLayering(t *testing.T) {
	b := &countingBase{}
	s := New(b, nil, Options{CacheMessages: 4})
	_, err := s.Mailbox("nobody@x.test", "INBOX")
	require.ErrorIs(t, err, ErrUnknownOwner)
	mb, err := s.Mailbox("A@x.test", "inbox")
	require.NoError(t, err)
	assert.Equal(t, "INBOX", mb.Name())
	assert.Equal(t, uint32(10), mb.Count())
	assert.Equal(t, uint32(11), mb.UIDNext())
	assert.Equal(t, 0, b.calls, "nothing is generated before it is needed")

	st, err := mb.Stats(true, true)
	require.NoError(t, err)
	assert.Equal(t, uint32(5), st.Unseen)
	assert.Equal(t, uint32(1), st.FirstUnseen)

	it, ok := mb.ItemByUID(3)
	require.True(t, ok)
	m, err := it.Load()
	require.NoError(t, err)
	require.Len(t, m.Attachments(), 1)
	assert.Equal(t, "liste.csv", m.Attachments()[0].FileName)
	assert.Equal(t, []int{2}, m.Attachments()[0].Part)
	assert.Equal(t, int64(3), m.Attachments()[0].Size) // "a,b": the CRLF before the boundary belongs to it

	_, err = mb.StoreFlags([]uint32{3, 4}, FlagsAdd, []imap.Flag{`\deleted`}, nil)
	require.NoError(t, err)
	gone, err := mb.Expunge(nil)
	require.NoError(t, err)
	require.Len(t, gone, 2)
	assert.Equal(t, uint32(4), gone[0].UID, "highest first")
	assert.Equal(t, uint32(8), mb.Count())
	assert.Equal(t, uint32(5), mb.Items(func(seq, uid uint32) bool { return seq == 3 })[0].UID)

	uid, err := mb.Append([]byte("Subject: new\r\n\r\nbody\r\n"), nil, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, uint32(11), uid)
	it, ok = mb.ItemByUID(11)
	require.True(t, ok)
	assert.Equal(t, []imap.Flag{}, it.Flags)

	sent, err := s.Mailbox("a@x.test", "Sent")
	require.NoError(t, err)
	uids, err := mb.CopyTo(mb.Items(func(seq, uid uint32) bool { return uid == 2 }), sent)
	require.NoError(t, err)
	assert.Equal(t, []uint32{3}, uids)
	it, _ = sent.ItemByUID(3)
	assert.Equal(t, []imap.Flag{imap.FlagSeen}, it.Flags, "flags travel with the copy")

	_, err = s.Create("a@x.test", "Dossiers/2025")
	require.NoError(t, err)
	_, err = s.Create("a@x.test", "dossiers/2025")
	require.ErrorIs(t, err, ErrMailboxExists)
	require.NoError(t, s.Rename("a@x.test", "Dossiers/2025", "Classés/2025"))
	_, err = s.Mailbox("a@x.test", "Classés/2025")
	require.NoError(t, err)
	require.Error(t, s.Delete("a@x.test", "INBOX"))
	require.NoError(t, s.Delete("a@x.test", "Classés/2025"))
	boxes, _ := s.Mailboxes("a@x.test")
	assert.Equal(t, "INBOX", boxes[0].Name())
	assert.Len(t, boxes, 2)
}

func TestCacheIsBoundedAndShared(t *testing.T) {
	b := &countingBase{}
	s := New(b, nil, Options{CacheMessages: 3})
	mb, _ := s.Mailbox("a@x.test", "INBOX")
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			it, _ := mb.ItemByUID(1)
			_, err := it.Load()
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, b.calls, "concurrent loads of one message generate it once")
	for uid := uint32(1); uid <= 10; uid++ {
		it, _ := mb.ItemByUID(uid)
		it.Load()
	}
	n, _ := s.cache.Len()
	assert.LessOrEqual(t, n, 3)
}

// LoadOnce serves what the cache holds, and makes what it does not hold
// without keeping it: the same message as Load.
func TestLoadOnceDoesNotFillTheCache(t *testing.T) {
	b := &countingBase{}
	s := New(b, nil, Options{CacheMessages: 8})
	mb, _ := s.Mailbox("a@x.test", "INBOX")
	it, _ := mb.ItemByUID(2)
	once, err := it.LoadOnce()
	require.NoError(t, err)
	n, _ := s.cache.Len()
	assert.Equal(t, 0, n, "not kept")
	loaded, err := it.Load()
	require.NoError(t, err)
	assert.Equal(t, string(loaded.Raw), string(once.Raw))
	assert.Equal(t, loaded.BaseFlags(), once.BaseFlags())
	assert.Equal(t, loaded.Attachments(), once.Attachments())
	assert.Equal(t, 2, b.calls)
	again, err := it.LoadOnce()
	require.NoError(t, err)
	assert.Same(t, loaded, again, "a cached message is served from the cache")
	assert.Equal(t, 2, b.calls)

	// A message added to the mailbox is the one LoadOnce returns.
	uid, err := mb.Append([]byte("Subject: new\r\n\r\nbody\r\n"), nil, time.Time{})
	require.NoError(t, err)
	it, _ = mb.ItemByUID(uid)
	m, err := it.LoadOnce()
	require.NoError(t, err)
	assert.Equal(t, "Subject: new\r\n\r\nbody\r\n", string(m.Raw))
}

func TestExportMaildir(t *testing.T) {
	s := New(&countingBase{}, nil, Options{})
	mb, _ := s.Mailbox("a@x.test", "INBOX")
	_, err := mb.StoreFlags([]uint32{1}, FlagsAdd, []imap.Flag{imap.FlagFlagged, imap.FlagAnswered}, nil)
	require.NoError(t, err)
	_, err = s.Create("a@x.test", "Archive/2024")
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, s.ExportMaildir(context.Background(), "a@x.test", dir, nil))
	cur, err := os.ReadDir(filepath.Join(dir, "cur"))
	require.NoError(t, err)
	require.Len(t, cur, 10)
	names := map[string]bool{}
	for _, e := range cur {
		names[e.Name()] = true
	}
	raw1, _ := (&countingBase{}).Message("a@x.test", "INBOX", 1)
	assert.True(t, names[fmt.Sprintf("1.M1P0.mailsim,S=%d:2,FR", len(raw1.Raw))], "%v", names)
	ul, err := os.ReadFile(filepath.Join(dir, "dovecot-uidlist"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(ul), "3 V7 N11\n1 :1.M1P0.mailsim,S="), string(ul))
	_, err = os.Stat(filepath.Join(dir, ".Archive.2024", "cur"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, ".Sent", "dovecot-uidlist"))
	require.NoError(t, err)
}

// ExportMaildirs writes each owner under root/<owner>/Maildir and reports
// each; an owner the store does not know fails the export by name.
func TestExportMaildirs(t *testing.T) {
	s := New(&countingBase{}, nil, Options{})
	root := t.TempDir()
	var done []string
	require.NoError(t, s.ExportMaildirs(context.Background(), []string{"a@x.test"}, root, func(owner, dir string) {
		done = append(done, owner+" "+dir)
	}))
	assert.Equal(t, []string{"a@x.test " + filepath.Join(root, "a@x.test", "Maildir")}, done)
	cur, err := os.ReadDir(filepath.Join(root, "a@x.test", "Maildir", "cur"))
	require.NoError(t, err)
	assert.Len(t, cur, 10)

	err = s.ExportMaildirs(context.Background(), []string{"a@x.test", "nobody@elsewhere.test"}, t.TempDir(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nobody@elsewhere.test")
}

// RFC 3501 §6.4.3: EXPUNGE removes every message with \Deleted, one
// APPENDed or COPYed with that flag too, whose flags no STORE changed.
func TestExpungeMessagesAddedDeleted(t *testing.T) {
	s := New(&countingBase{}, nil, Options{})
	mb, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	del, err := mb.Append([]byte("Subject: gone\r\n\r\nx\r\n"), []imap.Flag{imap.FlagDeleted}, time.Time{})
	require.NoError(t, err)
	kept, err := mb.Append([]byte("Subject: kept\r\n\r\nx\r\n"), []imap.Flag{imap.FlagSeen}, time.Time{})
	require.NoError(t, err)
	sent, err := s.Mailbox("a@x.test", "Sent")
	require.NoError(t, err)
	it, ok := mb.ItemByUID(del)
	require.True(t, ok)
	copied, err := mb.CopyTo([]Item{it}, sent)
	require.NoError(t, err)

	gone, err := mb.Expunge(&imap.UIDSet{imap.UIDRange{Start: imap.UID(kept), Stop: imap.UID(kept)}})
	require.NoError(t, err)
	assert.Empty(t, gone, "a UID set without the \\Deleted message removes nothing")
	gone, err = mb.Expunge(nil)
	require.NoError(t, err)
	require.Len(t, gone, 1)
	assert.Equal(t, del, gone[0].UID)
	_, ok = mb.ItemByUID(kept)
	assert.True(t, ok)
	gone, err = sent.Expunge(nil)
	require.NoError(t, err)
	require.Len(t, gone, 1)
	assert.Equal(t, copied[0], gone[0].UID)
}

// describingBase describes its messages' attachments itself.
type describingBase struct {
	countingBase
	desc []Attachment
}

func (b *describingBase) Message(owner, folder string, uid uint32) (BaseMessage, error) {
	bm, err := b.countingBase.Message(owner, folder, uid)
	bm.Attachments = b.desc
	return bm, err
}

// A Base that describes the attachments is trusted: the store reports its
// description (here deliberately different from the message's part) and
// does not walk the message; without one, the store finds the part itself.
func TestBaseDescribesAttachments(t *testing.T) {
	given := []Attachment{{Part: []int{2}, FileName: "given.pdf", Extension: "pdf", MIMEType: "application/pdf", Size: 42, SHA256: "ab"}}
	s := New(&describingBase{desc: given}, nil, Options{})
	mb, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	it, ok := mb.ItemByUID(3)
	require.True(t, ok)
	m, err := it.Load()
	require.NoError(t, err)
	assert.Equal(t, given, m.Attachments())
	assert.Equal(t, given, m.withFlags(nil).Attachments(), "a copy with other flags keeps the description")

	s = New(&countingBase{}, nil, Options{})
	mb, err = s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	it, _ = mb.ItemByUID(3)
	m, err = it.Load()
	require.NoError(t, err)
	require.Len(t, m.Attachments(), 1)
	assert.Equal(t, "liste.csv", m.Attachments()[0].FileName)
	assert.EqualValues(t, 3, m.Attachments()[0].Size)
	assert.Equal(t, DescribeAttachments(m.Raw), m.Attachments())
}

// With a spill directory, added messages of SpillMinBytes or more are kept
// on disk and read back whole: APPEND, MULTIAPPEND and COPY of one, its
// flags and size known without reading it, EXPUNGE giving back the quota.
func TestSpilledMessages(t *testing.T) {
	dir := t.TempDir()
	s := New(&countingBase{}, nil, Options{SpillDir: dir})
	inbox, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	big := "Subject: big\r\nMessage-ID: <big@x>\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", SpillMinBytes/18+10)
	small := "Subject: small\r\nMessage-ID: <small@x>\r\n\r\nhi\r\n"
	ub, err := inbox.Append([]byte(big), []imap.Flag{imap.FlagFlagged}, time.Unix(1000, 0))
	require.NoError(t, err)
	us, err := inbox.Append([]byte(small), nil, time.Time{})
	require.NoError(t, err)
	uids, _, err := inbox.AppendAll([]NewMessage{{Raw: []byte(big + "more\r\n")}})
	require.NoError(t, err)

	st, err := os.Stat(spillPath(t, dir))
	require.NoError(t, err)
	assert.EqualValues(t, 2*len(big)+len("more\r\n"), st.Size(), "the two large messages are on disk, the small one is not")
	inbox.mu.RLock()
	assert.Nil(t, inbox.extra[ub].Raw, "only its description is in memory")
	assert.NotNil(t, inbox.extra[us].Raw)
	inbox.mu.RUnlock()
	used, _, err := s.Usage("a@x.test")
	require.NoError(t, err)
	assert.EqualValues(t, 2*len(big)+len("more\r\n")+len(small), used)

	it, ok := inbox.ItemByUID(ub)
	require.True(t, ok)
	assert.Equal(t, []imap.Flag{imap.FlagFlagged}, it.Flags)
	m, err := it.Load()
	require.NoError(t, err)
	assert.Equal(t, big, string(m.Raw))
	assert.EqualValues(t, len(big), m.Size)
	assert.Equal(t, "big", m.Subject)
	assert.True(t, m.InternalDate.Equal(time.Unix(1000, 0)))
	it2, _ := inbox.ItemByUID(uids[0])
	m2, err := it2.Load()
	require.NoError(t, err)
	assert.Equal(t, big+"more\r\n", string(m2.Raw))

	sent, err := s.Mailbox("a@x.test", "Sent")
	require.NoError(t, err)
	cp, err := inbox.CopyTo([]Item{it}, sent)
	require.NoError(t, err)
	itc, _ := sent.ItemByUID(cp[0])
	mc, err := itc.Load()
	require.NoError(t, err)
	assert.Equal(t, big, string(mc.Raw), "the copy reads back the same")
	assert.Equal(t, []imap.Flag{imap.FlagFlagged}, itc.Flags)

	_, err = inbox.Store([]uint32{ub}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, nil, StoreOptions{})
	require.NoError(t, err)
	_, err = inbox.Expunge(nil)
	require.NoError(t, err)
	used2, _, _ := s.Usage("a@x.test")
	assert.EqualValues(t, used+int64(len(big))-int64(len(big)), used2, "the copy took quota, the expunged original gave it back")
}

// TestExportMaildirAgain: exporting over an earlier export replaces it.
// The earlier files stayed: a message whose flags changed was there twice
// (two names for one base, which Dovecot reports as a broken Maildir), a
// message no longer in the store was served with a UID Dovecot made up,
// and a folder the store no longer has stayed listed.
func TestExportMaildirAgain(t *testing.T) {
	s := New(&countingBase{}, nil, Options{})
	_, err := s.Create("a@x.test", "Old")
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, s.ExportMaildir(context.Background(), "a@x.test", dir, nil))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dovecot.index.cache"), []byte("stale"), 0o644))

	mb, _ := s.Mailbox("a@x.test", "INBOX")
	_, err = mb.StoreFlags([]uint32{1}, FlagsAdd, []imap.Flag{imap.FlagFlagged}, nil)
	require.NoError(t, err)
	_, err = mb.StoreFlags([]uint32{2}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, nil)
	require.NoError(t, err)
	_, err = mb.Expunge(nil)
	require.NoError(t, err)
	require.NoError(t, s.Delete("a@x.test", "Old"))
	require.NoError(t, s.ExportMaildir(context.Background(), "a@x.test", dir, nil))

	cur, err := os.ReadDir(filepath.Join(dir, "cur"))
	require.NoError(t, err)
	require.Len(t, cur, 9, "one file per message, none left from the first export")
	for _, e := range cur {
		assert.NotContains(t, e.Name(), ".M2P0.", "the expunged message is gone")
	}
	_, err = os.Stat(filepath.Join(dir, ".Old"))
	assert.True(t, os.IsNotExist(err), "the deleted folder is gone")
	_, err = os.Stat(filepath.Join(dir, "dovecot.index.cache"))
	assert.True(t, os.IsNotExist(err), "Dovecot's index of the old export is gone")
}

// TestExportMaildirsRefusesAMailboxOfItsOwn: a message file no export
// wrote (a real Maildir under the export root) stops the export before
// anything is written, for every owner.
func TestExportMaildirsRefusesAMailboxOfItsOwn(t *testing.T) {
	s := New(&countingBase{}, nil, Options{})
	root := t.TempDir()
	mine := filepath.Join(root, "b@x.test", "Maildir", ".Sent", "cur", "1700000000.M1P1.host:2,S")
	require.NoError(t, os.MkdirAll(filepath.Dir(mine), 0o755))
	require.NoError(t, os.WriteFile(mine, []byte("Subject: mine\r\n\r\nkeep\r\n"), 0o644))
	err := s.ExportMaildirs(context.Background(), []string{"a@x.test", "b@x.test"}, root, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), mine+" was not written by an export")
	b, err := os.ReadFile(mine)
	require.NoError(t, err)
	assert.Equal(t, "Subject: mine\r\n\r\nkeep\r\n", string(b))
	_, err = os.Stat(filepath.Join(root, "a@x.test"))
	assert.True(t, os.IsNotExist(err), "nothing written for the other owner either")
}
