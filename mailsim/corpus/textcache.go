package corpus

import (
	"slices"

	"github.com/maildrill/maildrill/internal/lru"
)

// TextCacheBytes bounds the memory of the cache of generated message
// text: what a message in pieces (MessageParts, PrepareParts) is besides
// its attachments' base64, which the document cache holds. Making a
// message's header and text (its thread, quoted-printable, HTML) is most
// of the CPU of downloading a mailbox whose documents are cached; a
// second download of the same messages then only looks them up. A message
// is about 3.3 KB of text (seed 1, the INBOXes of 8 users × 400 messages):
// 8 MiB holds about 2,500.
const TextCacheBytes = 8 << 20

// textKey names a generated message.
type textKey struct {
	ui     int
	folder string
	uid    uint32
}

// cachedText is a generated message without its attachments' bodies:
// text[i] comes before attachment i's base64 and text[len(docs)] after the
// last one (or the whole message when it has none).
type cachedText struct {
	msg  Message // Raw and Sections nil
	text [][]byte
	docs []docMeta
	size int64
}

func newTextCache() *lru.Cache[textKey, *cachedText] {
	return lru.New[textKey, *cachedText](0, TextCacheBytes, func(c *cachedText) int64 { return c.size })
}

// keepText keeps a message just generated in pieces: its text is copied
// into one buffer of its own (the pieces given to the caller stay the
// caller's).
func (o *Org) keepText(k textKey, m *Message, parts [][]byte, docs []docMeta) {
	n := 0
	for i, p := range parts {
		if !inSection(m.Sections, i) {
			n += len(p)
		}
	}
	buf := make([]byte, 0, n)
	c := &cachedText{msg: *m, docs: docs}
	c.msg.Raw, c.msg.Sections = nil, nil
	start := 0
	for i, p := range parts {
		if inSection(m.Sections, i) {
			continue
		}
		buf = append(buf, p...)
		if i+1 == len(parts) || inSection(m.Sections, i+1) {
			c.text = append(c.text, buf[start:len(buf):len(buf)])
			start = len(buf)
		}
	}
	if len(c.text) != len(docs)+1 {
		return // not the shape cachedParts rebuilds (an empty document): not kept
	}
	c.size = int64(n) + int64(len(docs))*256 + 512
	o.texts.Get(k, func() (*cachedText, error) { return c, nil })
}

// inSection tells whether piece i is an attachment's body.
func inSection(secs []Section, i int) bool {
	for _, s := range secs {
		if i >= s.From && i < s.To {
			return true
		}
	}
	return false
}

// cachedParts gives message k in pieces from the text cache, as
// generateInto would make them (the same bytes): found is false when the
// cache does not hold it. With prepare, as PrepareParts: the documents
// nobody is making are made, and a nil message comes back when another
// goroutine was making one of them.
func (o *Org) cachedParts(k textKey, prepare bool, parts *[][]byte) (m *Message, found bool, err error) {
	c, ok := o.texts.Peek(k)
	if !ok {
		return nil, false, nil
	}
	// As generateInto: the documents another goroutine is making are
	// waited for last, and a preparer waits for none.
	encoded := make([]*encodedDoc, len(c.docs))
	for i := range c.docs {
		d, ok, err := o.loadDocument(&c.docs[i], false)
		if err != nil {
			return nil, true, err
		}
		if ok {
			encoded[i] = d
		}
	}
	for i := range c.docs {
		if encoded[i] != nil {
			continue
		}
		if prepare {
			return nil, true, nil
		}
		if encoded[i], err = o.document(&c.docs[i]); err != nil {
			return nil, true, err
		}
	}
	msg := c.msg
	msg.Flags = slices.Clone(c.msg.Flags)
	msg.Attachments = slices.Clone(c.msg.Attachments)
	for i, d := range encoded {
		*parts = append(*parts, c.text[i])
		from := len(*parts)
		*parts = append(*parts, d.b64...)
		msg.Sections = append(msg.Sections, Section{Part: []int{i + 2}, From: from, To: len(*parts)})
	}
	*parts = append(*parts, c.text[len(encoded)])
	return &msg, true, nil
}
