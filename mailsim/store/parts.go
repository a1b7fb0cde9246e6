package store

// BaseStreamer is an optional Base extension: a message in pieces whose
// concatenation is the message (BaseMessage.Raw is then nil), so that a
// whole-message download writes them as they are instead of a copy of the
// message made for it. Attachments must be given.
type BaseStreamer interface {
	MessageParts(owner, folder string, uid uint32) (BaseMessage, [][]byte, error)
}

// BasePreparer is an optional BaseStreamer extension: PrepareMessage makes
// ready in the Base's own caches what MessageParts will need of a message
// (a generator renders its attachments), waiting for nothing another
// goroutine is making and making nothing of the message itself. Errors are
// left for MessageParts to report.
type BasePreparer interface {
	PrepareMessage(owner, folder string, uid uint32)
}

// Whole is a message read whole for a download: its bytes in pieces, and
// what a download event tells of it.
type Whole struct {
	Pieces             [][]byte // concatenated: the message; must not be modified
	Size               int64
	MessageID, Subject string
	Attachments        []Attachment
}

// LoadWhole returns the message for a whole-message download. A base
// message the cache does not hold comes from the Base in pieces when it is
// a BaseStreamer (nothing copied, nothing kept), else as LoadOnce makes it.
func (it Item) LoadWhole() (*Whole, error) {
	s := it.mb.store
	if bs, ok := s.base.(BaseStreamer); ok && it.msg == nil {
		if _, held := s.cache.Peek(baseKey(it.mb.owner, it.mb.baseName(), it.mb.uidValidity, it.UID)); !held {
			bm, pieces, err := bs.MessageParts(it.mb.owner, it.mb.baseName(), it.UID)
			if err != nil {
				return nil, err
			}
			if len(pieces) > 0 && bm.Attachments != nil {
				id, subject := bm.MessageID, bm.Subject
				if !bm.Headed {
					// The header ends before the first attachment's piece.
					m, err := parseMessage(pieces[0], bm.InternalDate, nil, s.limits)
					if err != nil {
						return nil, err
					}
					id, subject = m.MessageID, m.Subject
				}
				var n int64
				for _, p := range pieces {
					n += int64(len(p))
				}
				return &Whole{Pieces: pieces, Size: n, MessageID: id, Subject: subject, Attachments: bm.Attachments}, nil
			}
		}
	}
	m, err := it.LoadOnce()
	if err != nil {
		return nil, err
	}
	return &Whole{Pieces: [][]byte{m.Raw}, Size: m.Size, MessageID: m.MessageID, Subject: m.Subject, Attachments: m.Attachments()}, nil
}

// Prepare makes ready, in the Base's own caches, what LoadWhole will need
// of a base message (a generator renders its attachments), and keeps
// nothing of the message itself: a download prepares the next message on
// another core while it writes this one. It does nothing for a message the
// store holds or when the Base is not a BaseStreamer; an error is left for
// LoadWhole to report. With a BasePreparer, it does not wait for what
// another goroutine (the download's own writer) is making. Safe to call
// concurrently with LoadWhole.
func (it Item) Prepare() {
	s := it.mb.store
	bs, ok := s.base.(BaseStreamer)
	if !ok || it.msg != nil {
		return
	}
	if _, held := s.cache.Peek(baseKey(it.mb.owner, it.mb.baseName(), it.mb.uidValidity, it.UID)); held {
		return
	}
	if bp, ok := s.base.(BasePreparer); ok {
		bp.PrepareMessage(it.mb.owner, it.mb.baseName(), it.UID)
		return
	}
	_, _, _ = bs.MessageParts(it.mb.owner, it.mb.baseName(), it.UID)
}
