package corpus

import (
	"container/list"
	"encoding/base64"
	"sync"
)

// encodedDoc is a generated attachment, kept base64-encoded in 76-column
// CRLF lines, ready to be copied into a message.
type encodedDoc struct {
	b64    []byte
	size   int    // decoded size
	sha256 string // of the decoded bytes, hex
}

// docCache is an LRU of encoded documents bounded in bytes, with one
// generation at a time per document (callers asking for a document being
// made wait for it).
type docCache struct {
	mu       sync.Mutex
	limit    int64
	bytes    int64
	ll       *list.List // front: most recently used; values *docEntry
	items    map[docID]*list.Element
	inflight map[docID]*docCall
}

type docID struct{ typ, variant int }

type docEntry struct {
	id  docID
	doc *encodedDoc
}

type docCall struct {
	done chan struct{}
	doc  *encodedDoc
	err  error
}

func newDocCache(limit int64) *docCache {
	return &docCache{limit: limit, ll: list.New(), items: map[docID]*list.Element{}, inflight: map[docID]*docCall{}}
}

func (c *docCache) get(id docID, gen func() (*encodedDoc, error)) (*encodedDoc, error) {
	c.mu.Lock()
	if el, ok := c.items[id]; ok {
		c.ll.MoveToFront(el)
		d := el.Value.(*docEntry).doc
		c.mu.Unlock()
		return d, nil
	}
	if call, ok := c.inflight[id]; ok {
		c.mu.Unlock()
		<-call.done
		return call.doc, call.err
	}
	call := &docCall{done: make(chan struct{})}
	c.inflight[id] = call
	c.mu.Unlock()

	call.doc, call.err = gen()
	err := call.err

	c.mu.Lock()
	delete(c.inflight, id)
	if err == nil && int64(len(call.doc.b64)) <= c.limit {
		c.items[id] = c.ll.PushFront(&docEntry{id, call.doc})
		c.bytes += int64(len(call.doc.b64))
		for c.bytes > c.limit {
			el := c.ll.Back()
			e := el.Value.(*docEntry)
			c.ll.Remove(el)
			delete(c.items, e.id)
			c.bytes -= int64(len(e.doc.b64))
		}
	}
	c.mu.Unlock()
	close(call.done)
	return call.doc, call.err
}

// stats reports the number of cached documents and their bytes.
func (c *docCache) stats() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len(), c.bytes
}

// encodeBase64Lines encodes b as base64 in lines of 76 characters, each
// ended by CRLF.
func encodeBase64Lines(b []byte) []byte {
	const line = 76
	enc := base64.StdEncoding
	out := make([]byte, encodedLen(len(b)))
	chunk := line / 4 * 3 // 57 input bytes per line
	o := 0
	for len(b) > 0 {
		k := min(chunk, len(b))
		enc.Encode(out[o:], b[:k])
		o += enc.EncodedLen(k)
		out[o], out[o+1] = '\r', '\n'
		o += 2
		b = b[k:]
	}
	return out[:o]
}
