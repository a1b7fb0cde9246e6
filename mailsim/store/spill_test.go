package store

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spillMessage is a message with two attachments, large enough to be
// spilled.
func spillMessage(tag string) string {
	pdf := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("%PDF-1.4 "+tag, SpillMinBytes/8)))
	var lines strings.Builder
	for len(pdf) > 76 {
		lines.WriteString(pdf[:76] + "\r\n")
		pdf = pdf[76:]
	}
	lines.WriteString(pdf + "\r\n")
	return "From: a@x.test\r\nTo: b@x.test\r\nSubject: report " + tag + "\r\nMessage-ID: <" + tag + "@x>\r\n" +
		"Content-Type: multipart/mixed; boundary=BB\r\n\r\n" +
		"--BB\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--BB\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + lines.String() +
		"--BB\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"l.csv\"\r\n\r\na;b\r\n1;2\r\n" +
		"--BB--\r\n"
}

// spillPath is the one spill file in dir.
func spillPath(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "added-mail-*.spill"))
	require.NoError(t, err)
	require.Len(t, files, 1, "one spill file")
	return files[0]
}

// A spilled message's attachments and structure are worked out when it is
// spilled and kept with its description: every copy read back (the first
// one evicted from the message cache) gives the same ones without walking
// the message again, and its description needs no reading back.
func TestSpilledDescriptionKept(t *testing.T) {
	dir := t.TempDir()
	s := New(&countingBase{}, nil, Options{SpillDir: dir, CacheMessages: 1})
	inbox, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	raw := spillMessage("one")
	uid, err := inbox.Append([]byte(raw), nil, time.Unix(1000, 0))
	require.NoError(t, err)
	other, err := inbox.Append([]byte(spillMessage("two")), nil, time.Unix(1000, 0))
	require.NoError(t, err)
	it, ok := inbox.ItemByUID(uid)
	require.True(t, ok)
	ito, _ := inbox.ItemByUID(other)

	m1, err := it.Load()
	require.NoError(t, err)
	require.NotNil(t, m1.Raw)
	atts := m1.Attachments()
	require.Len(t, atts, 2)
	assert.Equal(t, DescribeAttachments([]byte(raw)), atts, "as a fresh walk of the message finds them")
	assert.Equal(t, "r.pdf", atts[0].FileName)
	meta1 := MetaOf(m1)

	m1.SetPartSpan([]int{2}, 10, 20)

	// The other message takes the cache's only place: the next Load reads
	// the file again and parses a new copy.
	_, err = ito.Load()
	require.NoError(t, err)
	m2, err := it.Load()
	require.NoError(t, err)
	require.NotSame(t, m1, m2, "read back anew")
	atts2 := m2.Attachments()
	require.Len(t, atts2, 2)
	assert.Same(t, &atts[0], &atts2[0], "the attachments are those described before, not walked again")
	assert.Same(t, meta1.BodyStructure, m2.BodyStructure(), "the structure is the one described before")
	assert.Same(t, meta1.Envelope, m2.Envelope())
	off, n, ok := m2.PartSpan([]int{2})
	assert.True(t, ok, "the part spans are the description's, not the copy's")
	assert.Equal(t, []int{10, 20}, []int{off, n})

	fresh, err := parseMessage([]byte(raw), time.Unix(1000, 0), nil, s.limits)
	require.NoError(t, err)
	assert.Equal(t, MetaOf(fresh).BodyStructure, m2.BodyStructure(), "equal to a fresh parse's")
	assert.Equal(t, MetaOf(fresh).Envelope, m2.Envelope())

	// The description is answered without the file's contents.
	d, ok := inbox.ItemByUID(uid)
	require.True(t, ok)
	require.NoError(t, os.Truncate(spillPath(t, dir), 0))
	meta, err := d.Meta()
	require.NoError(t, err)
	assert.Equal(t, MetaOf(fresh).BodyStructure, meta.BodyStructure)
	assert.Equal(t, MetaOf(fresh).Envelope, meta.Envelope)
	assert.EqualValues(t, len(raw), meta.Size)
	assert.Equal(t, "report one", meta.Subject)
	assert.Equal(t, "one@x", meta.MessageID)
	assert.True(t, meta.InternalDate.Equal(time.Unix(1000, 0)))

	// Every message is described when it is spilled: another one's
	// description needs no file either, nor do its attachments.
	ito2, _ := inbox.ItemByUID(other)
	meta2, err := ito2.Meta()
	require.NoError(t, err)
	fresh2, err := parseMessage([]byte(spillMessage("two")), time.Unix(1000, 0), nil, s.limits)
	require.NoError(t, err)
	assert.Equal(t, MetaOf(fresh2).BodyStructure, meta2.BodyStructure)
	assert.Equal(t, MetaOf(fresh2).Envelope, meta2.Envelope)
	assert.Equal(t, DescribeAttachments([]byte(spillMessage("two"))), *ito2.msg.spill.atts.Load())
}

// A whole-message download of a spilled message: from the cache's copy
// when it holds one, else from its file as it is written (its attachments
// were described when it was spilled), with the same bytes and
// description, nothing read back into the cache.
func TestSpilledWhole(t *testing.T) {
	dir := t.TempDir()
	s := New(&countingBase{}, nil, Options{SpillDir: dir, CacheMessages: 1})
	inbox, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	raw := spillMessage("one") + strings.Repeat("x", 200<<10) // several chunks
	uid, err := inbox.Append([]byte(raw), nil, time.Unix(1000, 0))
	require.NoError(t, err)
	other, err := inbox.Append([]byte(spillMessage("two")), nil, time.Unix(1000, 0))
	require.NoError(t, err)
	it, _ := inbox.ItemByUID(uid)
	ito, _ := inbox.ItemByUID(other)
	key := it.msg.spill.key()

	read := func(w *Whole) string {
		var b strings.Builder
		n, err := w.WriteTo(&b)
		require.NoError(t, err)
		assert.EqualValues(t, len(raw), n)
		return b.String()
	}
	check := func(w *Whole) {
		assert.Equal(t, raw, read(w))
		assert.Equal(t, DescribeAttachments([]byte(raw)), w.Attachments)
		assert.Equal(t, "one@x", w.MessageID)
		assert.Equal(t, "report one", w.Subject)
		assert.EqualValues(t, len(raw), w.Size)
	}
	// From the file, twice over.
	w, err := it.LoadWhole()
	require.NoError(t, err)
	require.NotNil(t, w.file)
	check(w)
	assert.Equal(t, raw, read(w), "written again from the start")
	_, held := s.cache.Peek(key)
	assert.False(t, held, "nothing read back into the cache")
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "closing twice is harmless")

	// Held by the cache: its copy.
	_, err = it.Load()
	require.NoError(t, err)
	w, err = it.LoadWhole()
	require.NoError(t, err)
	assert.Nil(t, w.file)
	check(w)
	require.NoError(t, w.Close())

	// Out of the cache again: from the file.
	_, err = ito.Load()
	require.NoError(t, err)
	w, err = it.LoadWhole()
	require.NoError(t, err)
	require.NotNil(t, w.file)
	check(w)
	require.NoError(t, w.Close())

	// A file cut short is an error, not a short message, whether the
	// message is written from the file or read back.
	w, err = it.LoadWhole()
	require.NoError(t, err)
	require.NoError(t, os.Truncate(spillPath(t, dir), it.msg.spill.off+1000))
	_, err = w.WriteTo(io.Discard)
	assert.ErrorContains(t, err, "holds 1000 of its")
	require.NoError(t, w.Close())
	_, err = it.Load()
	assert.ErrorContains(t, err, "holds fewer than")

	// The store closed: its file too, which a download says.
	require.NoError(t, s.Close())
	w, err = it.LoadWhole()
	require.NoError(t, err)
	_, err = w.WriteTo(io.Discard)
	assert.ErrorIs(t, err, os.ErrClosed)
	_, err = it.Load()
	assert.ErrorIs(t, err, os.ErrClosed)
}

// Added messages are appended to one file, each where its description
// says, and read back as they were written, whichever order they were
// added in and however many were added at once; after Close new ones
// stay in memory.
func TestSpillFileShared(t *testing.T) {
	dir := t.TempDir()
	s := New(&countingBase{}, nil, Options{SpillDir: dir, CacheMessages: 1})
	inbox, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	const n = 16
	raws := make([]string, n)
	uids := make([]uint32, n)
	var wg sync.WaitGroup
	for i := range n {
		raws[i] = spillMessage(fmt.Sprint("m", i)) + strings.Repeat("y", i*1000)
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid, err := inbox.Append([]byte(raws[i]), nil, time.Unix(1000, 0))
			assert.NoError(t, err)
			uids[i] = uid
		}()
	}
	wg.Wait()
	files, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, files, 1, "one file for every added message")
	var total int64
	seen := map[int64]bool{}
	for i, uid := range uids {
		it, ok := inbox.ItemByUID(uid)
		require.True(t, ok)
		require.NotNil(t, it.msg.spill)
		assert.False(t, seen[it.msg.spill.off], "each at its own offset")
		seen[it.msg.spill.off] = true
		total += int64(len(raws[i]))
		m, err := it.Load()
		require.NoError(t, err)
		assert.Equal(t, raws[i], string(m.Raw))
		w, err := it.LoadWhole()
		require.NoError(t, err)
		var b strings.Builder
		_, err = w.WriteTo(&b)
		require.NoError(t, err)
		assert.Equal(t, raws[i], b.String())
	}
	st, err := os.Stat(spillPath(t, dir))
	require.NoError(t, err)
	assert.Equal(t, total, st.Size(), "the messages' bytes, nothing else")

	// Another store in the same directory has a file of its own.
	s2 := New(&countingBase{}, nil, Options{SpillDir: dir})
	inbox2, err := s2.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	uid2, err := inbox2.Append([]byte(spillMessage("other store")), nil, time.Unix(1000, 0))
	require.NoError(t, err)
	require.NoError(t, s2.Close())
	files, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, files, 2, "a file each")
	it2, _ := inbox2.ItemByUID(uid2)
	_, err = it2.Load()
	assert.ErrorIs(t, err, os.ErrClosed, "the other store closed its own file")
	it0, _ := inbox.ItemByUID(uids[0])
	m0, err := it0.Load()
	require.NoError(t, err)
	assert.Equal(t, raws[0], string(m0.Raw), "this store's messages are intact")

	require.NoError(t, s.Close())
	uid, err := inbox.Append([]byte(spillMessage("late")), nil, time.Unix(1000, 0))
	require.NoError(t, err)
	it, _ := inbox.ItemByUID(uid)
	assert.Nil(t, it.msg.spill, "kept in memory once the store is closed")
	m, err := it.Load()
	require.NoError(t, err)
	assert.Equal(t, spillMessage("late"), string(m.Raw))
}
