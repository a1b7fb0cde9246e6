package store

import (
	"fmt"
	"time"

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

// metaCacheItems bounds the description cache: a description is a few
// hundred bytes to a few KiB (no content).
const metaCacheItems = 32768

func newMetaCache() *lru.Cache[string, *Meta] {
	return lru.New[string, *Meta](metaCacheItems, 0, nil)
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
