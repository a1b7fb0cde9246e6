package corpus

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The sink's base64 lines, size and digest are those of the whole
// document encoded at once, however the document is cut into writes.
func TestDocSinkMatchesWholeEncoding(t *testing.T) {
	r := seedKey(3).rng()
	for _, n := range []int{0, 1, 56, 57, 58, 113, 114, 115, 4095, 4096, 100_000} {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(r.next())
		}
		sum := sha256.Sum256(raw)
		for _, hint := range []int{0, n / 3, n, 2 * n} {
			s := newDocSink(hint)
			for rest := raw; len(rest) > 0; {
				k := min(1+r.intn(300), len(rest))
				_, err := s.Write(rest[:k])
				require.NoError(t, err)
				rest = rest[k:]
			}
			d := s.doc()
			require.Equal(t, string(encodeBase64Lines(raw)), string(d.b64), "n=%d hint=%d", n, hint)
			assert.Equal(t, n, d.size)
			assert.Equal(t, hex.EncodeToString(sum[:]), d.sha256)
			assert.LessOrEqual(t, cap(d.b64)-len(d.b64), len(d.b64)/16+16<<10, "little capacity kept beyond the document")
		}
	}
}

// A document as the cache keeps it (rendered into the sink) is its
// rendering, byte for byte, for one variant of every document type.
func TestDocumentIsItsRendering(t *testing.T) {
	o, err := New(Config{Seed: 5, MaxAttachmentSize: 400 << 10})
	require.NoError(t, err)
	for ti, dt := range docTypes {
		m := o.docMeta(ti, ti%docVariants)
		raw, err := o.renderDoc(&m)
		require.NoError(t, err, dt.id)
		d, err := o.document(&m)
		require.NoError(t, err, dt.id)
		sum := sha256.Sum256(raw)
		assert.Equal(t, string(encodeBase64Lines(raw)), string(d.b64), dt.id)
		assert.Equal(t, len(raw), d.size, dt.id)
		assert.Equal(t, hex.EncodeToString(sum[:]), d.sha256, dt.id)
	}
}

func TestAppendXMLEscaped(t *testing.T) {
	for _, s := range []string{"", "plain", "<a href=\"x\">&amp;</a>", "Données fictives — été & « hiver »", "&", "x>", "\"é\""} {
		assert.Equal(t, xmlEscape(s), string(appendXMLEscaped([]byte("pre"), s))[3:], "%q", s)
	}
}

// Reading a folder in UID order has the next messages' documents rendered
// ahead; a read out of order, or with readahead off, renders nothing
// ahead; and the messages are the same bytes either way.
func TestReadahead(t *testing.T) {
	cfg := Config{Seed: 8, Users: 4, MessagesPerUser: 80, MaxAttachmentSize: 64 << 10}
	o, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(o.Close)
	off := cfg
	off.NoReadahead = true
	ref, err := New(off)
	require.NoError(t, err)

	u := o.Users()[0].Address
	ui, fs, err := o.locate(u, "INBOX", 1)
	require.NoError(t, err)
	require.Greater(t, fs.Count, uint32(2+readaheadMsgs))
	ahead := func(from, to uint32) (docs []docMeta) {
		for uid := from; uid <= to; uid++ {
			docs = append(docs, o.plan(ui, fs, uid).docs...)
		}
		return docs
	}
	require.NotEmpty(t, ahead(3, 2+readaheadMsgs), "the messages ahead have documents")

	// Out of order: nothing ahead.
	for _, uid := range []uint32{5, 2} {
		_, err := o.Message(u, "INBOX", uid)
		require.NoError(t, err)
	}
	o.readaheadIdle()
	rendered := o.CacheStats().Rendered
	for _, m := range ahead(6, 5+readaheadMsgs) {
		if _, ok := o.docs.Peek(docID{m.typ, m.variant}); !ok {
			continue
		}
		// Only a document uid 2 or 5 carries may be there already.
		found := false
		for _, uid := range []uint32{2, 5} {
			for _, d := range o.plan(ui, fs, uid).docs {
				found = found || d.typ == m.typ && d.variant == m.variant
			}
		}
		assert.True(t, found, "%s rendered ahead of an out-of-order read", m.Filename)
	}

	// In order (2 then 3): the documents of 4..3+readaheadMsgs are made.
	_, err = o.Message(u, "INBOX", 3)
	require.NoError(t, err)
	o.readaheadIdle()
	assert.Greater(t, o.CacheStats().Rendered, rendered)
	for _, m := range ahead(4, 3+readaheadMsgs) {
		_, ok := o.docs.Peek(docID{m.typ, m.variant})
		assert.True(t, ok, "%s rendered ahead", m.Filename)
	}

	// The whole folder, read in order, is the same bytes as without
	// readahead, which renders nothing ahead.
	for uid := uint32(1); uid <= fs.Count; uid++ {
		got, err := o.Message(u, "INBOX", uid)
		require.NoError(t, err)
		want, err := ref.Message(u, "INBOX", uid)
		require.NoError(t, err)
		require.Equal(t, want.Raw, got.Raw, "uid %d", uid)
	}
	ref.readaheadIdle()
	assert.Zero(t, ref.ra.workers)
	assert.Empty(t, ref.ra.queue)

	// Closed: no more readahead.
	o.Close()
	o2, err := New(cfg)
	require.NoError(t, err)
	o2.Close()
	for uid := uint32(1); uid <= 3; uid++ {
		_, err := o2.Message(u, "INBOX", uid)
		require.NoError(t, err)
	}
	assert.Zero(t, o2.ra.workers)
	assert.Empty(t, o2.ra.queue)
}
