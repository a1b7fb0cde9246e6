package store

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/emersion/go-imap/v2"
	"github.com/maildrill/maildrill/internal/lru"
)

// BaseDescriber is an optional Base extension: a skeleton of a message,
// whose header and MIME structure are exactly the message's but some of
// whose leaf parts' bodies are left out (BaseMessage.Omitted tells their
// bytes and lines). The store answers ENVELOPE, BODYSTRUCTURE,
// RFC822.SIZE and INTERNALDATE from it without the whole message.
type BaseDescriber interface {
	Skeleton(owner, folder string, uid uint32) (BaseMessage, error)
}

// Meta is what a FETCH of ENVELOPE, BODYSTRUCTURE, RFC822.SIZE or
// INTERNALDATE needs of a message.
type Meta struct {
	InternalDate  time.Time
	Size          int64
	Envelope      *imap.Envelope
	BodyStructure imap.BodyStructure
	MessageID     string // as Message's
	Subject       string // as Message's
}

// MetaOf is m's Meta (its structure parsed once).
func MetaOf(m *Message) *Meta {
	return &Meta{InternalDate: m.InternalDate, Size: m.Size, Envelope: m.Envelope(), BodyStructure: m.BodyStructure(),
		MessageID: m.MessageID, Subject: m.Subject}
}

// The description cache is bounded by a count and by the descriptions'
// estimated memory (MetaBytes): a description of a generated message is
// one to two KiB (no content), but one of a message with many parts or
// long header fields can be far larger.
const (
	metaCacheItems = 32768
	metaCacheBytes = 64 << 20
)

func newMetaCache() *lru.Cache[string, *Meta] {
	return lru.New[string, *Meta](metaCacheItems, metaCacheBytes, MetaBytes)
}

// MetaBytes estimates the heap a description holds: its structs, strings,
// slices and maps (a map as its header and one group of slots per eight
// entries), each rounded up as the allocator rounds small objects. Strings
// shared between fields are counted for each.
func MetaBytes(m *Meta) int64 {
	if m == nil {
		return 0
	}
	n := alloc(int(unsafe.Sizeof(*m))) + strBytes(m.MessageID) + strBytes(m.Subject)
	return n + envelopeBytes(m.Envelope) + bodyStructureBytes(m.BodyStructure)
}

// alloc is n rounded up to the allocator's 16-byte steps.
func alloc(n int) int64 { return int64(n+15) &^ 15 }

func strBytes(s string) int64 {
	if s == "" {
		return 0
	}
	return alloc(len(s))
}

func envelopeBytes(e *imap.Envelope) int64 {
	if e == nil {
		return 0
	}
	n := alloc(int(unsafe.Sizeof(*e))) + strBytes(e.Subject) + strBytes(e.MessageID)
	for _, l := range [][]imap.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		if cap(l) > 0 {
			n += alloc(cap(l) * int(unsafe.Sizeof(imap.Address{})))
		}
		for _, a := range l {
			n += strBytes(a.Name) + strBytes(a.Mailbox) + strBytes(a.Host)
		}
	}
	return n + stringsBytes(e.InReplyTo)
}

func bodyStructureBytes(bs imap.BodyStructure) int64 {
	switch bs := bs.(type) {
	case *imap.BodyStructureSinglePart:
		n := alloc(int(unsafe.Sizeof(*bs))) + strBytes(bs.Type) + strBytes(bs.Subtype) + strBytes(bs.ID) +
			strBytes(bs.Description) + strBytes(bs.Encoding) + paramsBytes(bs.Params)
		if bs.Text != nil {
			n += alloc(int(unsafe.Sizeof(*bs.Text)))
		}
		if r := bs.MessageRFC822; r != nil {
			n += alloc(int(unsafe.Sizeof(*r))) + envelopeBytes(r.Envelope) + bodyStructureBytes(r.BodyStructure)
		}
		if x := bs.Extended; x != nil {
			n += alloc(int(unsafe.Sizeof(*x))) + dispositionBytes(x.Disposition) + stringsBytes(x.Language) + strBytes(x.Location)
		}
		return n
	case *imap.BodyStructureMultiPart:
		n := alloc(int(unsafe.Sizeof(*bs))) + strBytes(bs.Subtype) + alloc(cap(bs.Children)*16)
		for _, c := range bs.Children {
			n += bodyStructureBytes(c)
		}
		if x := bs.Extended; x != nil {
			n += alloc(int(unsafe.Sizeof(*x))) + paramsBytes(x.Params) + dispositionBytes(x.Disposition) +
				stringsBytes(x.Language) + strBytes(x.Location)
		}
		return n
	}
	return 0
}

func dispositionBytes(d *imap.BodyStructureDisposition) int64 {
	if d == nil {
		return 0
	}
	return alloc(int(unsafe.Sizeof(*d))) + strBytes(d.Value) + paramsBytes(d.Params)
}

func paramsBytes(m map[string]string) int64 {
	if m == nil {
		return 0
	}
	groups := max((len(m)+7)/8, 1)
	n := alloc(48) + alloc(groups*(8+8*32))
	for k, v := range m {
		n += strBytes(k) + strBytes(v)
	}
	return n
}

func stringsBytes(l []string) int64 {
	var n int64
	if cap(l) > 0 {
		n = alloc(cap(l) * 16)
	}
	for _, s := range l {
		n += strBytes(s)
	}
	return n
}

// Meta returns the message's description: from the message when it was
// added or is in the message cache, else from the Base's skeleton when it
// gives one (no attachment rendered), else from the whole message.
func (it Item) Meta() (*Meta, error) {
	s := it.mb.store
	if it.msg == nil {
		key := baseKey(it.mb.owner, it.mb.baseName(), it.mb.uidValidity, it.UID)
		if d, ok := s.base.(BaseDescriber); ok {
			return s.meta.Get(key, func() (*Meta, error) {
				if m, ok := s.cache.Peek(key); ok {
					return MetaOf(m), nil
				}
				bm, err := d.Skeleton(it.mb.owner, it.mb.baseName(), it.UID)
				if err != nil {
					return nil, err
				}
				m, err := parseMessage(bm.Raw, bm.InternalDate, nil, s.limits)
				if err != nil {
					return nil, err
				}
				meta := MetaOf(m)
				if addOmitted(meta, bm.Omitted, s.limits) {
					return meta, nil
				}
				full, err := it.Load()
				if err != nil {
					return nil, err
				}
				return MetaOf(full), nil
			})
		}
	}
	if it.msg != nil && it.msg.spill != nil {
		if meta := spilledMeta(it.msg); meta != nil {
			return meta, nil
		}
	}
	m, err := it.Load()
	if err != nil {
		return nil, err
	}
	return MetaOf(m), nil
}

func baseKey(owner, folder string, uidValidity, uid uint32) string {
	return fmt.Sprintf("%s\x00%s\x00%d\x00%d", owner, folder, uidValidity, uid)
}

// addOmitted adds the omitted part bodies to meta's size and structure. It
// fails (false) when a part is not where it should be, or when the MIME
// limits could have cut the structure short: the whole message must then
// be parsed.
func addOmitted(meta *Meta, om []OmittedPart, lim mimeLimits) bool {
	if len(om) == 0 {
		return true
	}
	mp, ok := meta.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || lim.depth < 3 || countParts(mp)+1 >= lim.parts {
		return false
	}
	for _, o := range om {
		if len(o.Part) != 1 || o.Part[0] < 1 || o.Part[0] > len(mp.Children) {
			return false
		}
		leaf, ok := mp.Children[o.Part[0]-1].(*imap.BodyStructureSinglePart)
		if !ok || leaf.MessageRFC822 != nil {
			return false
		}
		leaf.Size += uint32(o.Bytes)
		if leaf.Text != nil {
			leaf.Text.NumLines += o.Lines
		}
		meta.Size += o.Bytes
	}
	return true
}

// countParts counts the nodes of a body structure (as the walk that made
// it counts them against the MIME parts limit).
func countParts(bs imap.BodyStructure) int {
	n := 1
	if mp, ok := bs.(*imap.BodyStructureMultiPart); ok {
		for _, c := range mp.Children {
			n += countParts(c)
		}
	}
	if sp, ok := bs.(*imap.BodyStructureSinglePart); ok && sp.MessageRFC822 != nil {
		n += countParts(sp.MessageRFC822.BodyStructure)
	}
	return n
}
