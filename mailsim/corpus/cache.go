package corpus

import (
	"github.com/maildrill/maildrill/internal/lru"
)

// encodedDoc is a generated attachment, kept base64-encoded in 76-column
// CRLF lines, ready to be copied into a message.
type encodedDoc struct {
	b64    [][]byte // the lines in pieces, concatenated in order
	n64    int      // the length of b64's pieces together
	size   int      // decoded size
	sha256 string   // of the decoded bytes, hex
}

// docID names a generated attachment: its type and variant.
type docID struct{ typ, variant int }

// newDocCache keeps encoded documents, the least recently used evicted
// beyond limit bytes of base64, one generation at a time per document
// (callers asking for a document being made wait for it).
func newDocCache(limit int64) *lru.Cache[docID, *encodedDoc] {
	return lru.New[docID, *encodedDoc](0, limit, func(d *encodedDoc) int64 { return int64(d.n64) })
}

// PoolBytes is the planned size of the organisation's whole attachment pool
// as the cache holds it (base64 lines): every variant of every document
// type at its planned size, within MaxAttachmentSize. Documents come out
// within a few per cent of their plan.
func (o *Org) PoolBytes() int64 {
	o.poolOnce.Do(func() {
		var n int64
		for t := range docTypes {
			for v := 0; v < docVariants; v++ {
				m := o.docMeta(t, v)
				n += int64(encodedLen(m.Target + m.Target/16 + 4096))
			}
		}
		o.poolBytes = n
	})
	return o.poolBytes
}

// CacheStats tells what the attachment cache holds (documents and bytes),
// its bound, and how many documents were rendered and read from the disk
// cache so far.
type CacheStats struct {
	Docs                int
	Bytes, Limit        int64
	Rendered, DiskReads int64
}

// CacheStats reports the attachment cache's state.
func (o *Org) CacheStats() CacheStats {
	n, b := o.docs.Len()
	return CacheStats{Docs: n, Bytes: b, Limit: o.cfg.CacheBytes, Rendered: o.generated.Load(), DiskReads: o.diskReads.Load()}
}
