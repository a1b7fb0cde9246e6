package store

import (
	"fmt"
	"io"
	"os"
	"sync"
)

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
// goroutine is making. When it waited for nothing, it returns the message
// as MessageParts would (ok); otherwise ok is false and the message is
// left for MessageParts. Errors are left for MessageParts to report.
type BasePreparer interface {
	PrepareMessage(owner, folder string, uid uint32) (bm BaseMessage, pieces [][]byte, ok bool)
}

// Whole is a message read whole for a download: its bytes in pieces, or
// in a file, and what a download event tells of it. Write it with WriteTo;
// Close it when done.
type Whole struct {
	Pieces             [][]byte // concatenated: the message; must not be modified
	Size               int64
	MessageID, Subject string
	Attachments        []Attachment

	// file, instead of Pieces, holds an added message kept on disk
	// (Options.SpillDir): Size bytes from off, read as they are written.
	file *os.File
	off  int64
}

// wholeChunks are the buffers a message kept on disk is read through.
var wholeChunks = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// WriteTo writes the message to dst: its pieces, or its file in chunks.
func (w *Whole) WriteTo(dst io.Writer) (int64, error) {
	if w.file == nil {
		var n int64
		for _, p := range w.Pieces {
			k, err := dst.Write(p)
			n += int64(k)
			if err != nil {
				return n, err
			}
		}
		return n, nil
	}
	buf := wholeChunks.Get().(*[]byte)
	defer wholeChunks.Put(buf)
	var n int64
	for n < w.Size {
		k, rerr := w.file.ReadAt((*buf)[:min(int64(len(*buf)), w.Size-n)], w.off+n)
		if k > 0 {
			wk, err := dst.Write((*buf)[:k])
			n += int64(wk)
			if err != nil {
				return n, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, fmt.Errorf("store: reading back an added message: %w", rerr)
		}
	}
	if n < w.Size {
		return n, fmt.Errorf("store: reading back an added message: %s holds %d of its %d bytes at %d", w.file.Name(), n, w.Size, w.off)
	}
	return n, nil
}

// InMemory tells whether the message's bytes are its Pieces (which stay
// as they are), rather than read from a file through a reused buffer.
func (w *Whole) InMemory() bool { return w.file == nil }

// Close releases what the message holds. The spill file it may be read
// from is the store's, not closed here.
func (w *Whole) Close() error {
	if w != nil {
		w.file = nil
	}
	return nil
}

// spilledWhole is an added message kept on disk, for a download: the copy
// the cache holds, else its file, read as it is written (no copy of it
// made, nor parsed, nor kept) when its attachments are described (as
// they are from the moment it is spilled); nil otherwise (the message is
// then read back as Load does).
func (s *Store) spilledWhole(d *Message) *Whole {
	if m, ok := s.cache.Peek(d.spill.key()); ok {
		return &Whole{Pieces: [][]byte{m.Raw}, Size: m.Size, MessageID: m.MessageID, Subject: m.Subject, Attachments: m.Attachments()}
	}
	atts := d.spill.atts.Load()
	if atts == nil {
		return nil
	}
	return &Whole{Size: d.Size, MessageID: d.MessageID, Subject: d.Subject, Attachments: *atts, file: d.spill.f, off: d.spill.off}
}

// LoadWhole returns the message for a whole-message download. A base
// message the cache does not hold comes from the Base in pieces when it is
// a BaseStreamer (nothing copied, nothing kept), an added message kept on
// disk from its file (spilledWhole), else as LoadOnce makes it. Close the
// Whole when done.
func (it Item) LoadWhole() (*Whole, error) {
	s := it.mb.store
	if bs, ok := it.streamer(); ok {
		bm, pieces, err := bs.MessageParts(it.mb.owner, it.mb.baseName(), it.UID)
		if err != nil {
			return nil, err
		}
		if w, err := s.wholeOf(bm, pieces); w != nil || err != nil {
			return w, err
		}
	}
	if it.msg != nil && it.msg.spill != nil {
		if w := s.spilledWhole(it.msg); w != nil {
			return w, nil
		}
	}
	m, err := it.LoadOnce()
	if err != nil {
		return nil, err
	}
	return &Whole{Pieces: [][]byte{m.Raw}, Size: m.Size, MessageID: m.MessageID, Subject: m.Subject, Attachments: m.Attachments()}, nil
}

// PartWhole is one part's body of a message for a download (BODY[part]):
// the body in pieces (Body: its Pieces and Size), and the message's
// description (Message: its size, Message-ID, Subject and attachments, for
// the download's event).
type PartWhole struct {
	Body, Message *Whole
}

// LoadPart returns the body of part of a base message from the Base's
// pieces, when the part is a section the Base locates among them (an
// attachment of a BaseStreamer's message) and the cache does not hold the
// message: nothing is made whole, copied or kept. Nil otherwise: the
// caller then loads the message (Load).
func (it Item) LoadPart(part []int) (*PartWhole, error) {
	bs, ok := it.streamer()
	if !ok || len(part) == 0 {
		return nil, nil
	}
	bm, pieces, err := bs.MessageParts(it.mb.owner, it.mb.baseName(), it.UID)
	if err != nil {
		return nil, err
	}
	for _, sec := range bm.Sections {
		if !equalPath(sec.Part, part) || sec.From < 0 || sec.From > sec.To || sec.To > len(pieces) {
			continue
		}
		w, err := it.mb.store.wholeOf(bm, pieces)
		if w == nil || err != nil {
			return nil, err
		}
		body := &Whole{Pieces: pieces[sec.From:sec.To]}
		for _, b := range body.Pieces {
			body.Size += int64(len(b))
		}
		return &PartWhole{Body: body, Message: w}, nil
	}
	return nil, nil
}

// streamer is the store's Base as a BaseStreamer, when the message is a
// base message the store neither holds nor caches.
func (it Item) streamer() (BaseStreamer, bool) {
	s := it.mb.store
	bs, ok := s.base.(BaseStreamer)
	if !ok || it.msg != nil {
		return nil, false
	}
	if _, held := s.cache.Peek(baseKey(it.mb.owner, it.mb.baseName(), it.mb.uidValidity, it.UID)); held {
		return nil, false
	}
	return bs, true
}

// wholeOf is a base message given in pieces as a Whole; nil when the Base
// gave no pieces or no attachment list (the message is then loaded whole).
func (s *Store) wholeOf(bm BaseMessage, pieces [][]byte) (*Whole, error) {
	if len(pieces) == 0 || bm.Attachments == nil {
		return nil, nil
	}
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

// PrepareWhole makes ready, in the Base's own caches, what LoadWhole will
// need of a base message (a generator renders its attachments), and
// returns the message as LoadWhole would when it could be made without
// waiting for another goroutine (with a BasePreparer, it waits for nothing
// the download's own writer is making): a download prepares the next
// messages on another core while it writes this one, and hands them to the
// writer, who then only writes them. The store keeps nothing of the
// message. It returns nil, having done nothing, for a message the store
// holds or when the Base is not a BaseStreamer; nil too when an attachment
// was being made elsewhere, and on an error (left for LoadWhole to
// report). Safe to call concurrently with LoadWhole.
func (it Item) PrepareWhole() *Whole {
	bs, ok := it.streamer()
	if !ok {
		return nil
	}
	var (
		bm     BaseMessage
		pieces [][]byte
	)
	if bp, ok := it.mb.store.base.(BasePreparer); ok {
		if bm, pieces, ok = bp.PrepareMessage(it.mb.owner, it.mb.baseName(), it.UID); !ok {
			return nil
		}
	} else {
		var err error
		if bm, pieces, err = bs.MessageParts(it.mb.owner, it.mb.baseName(), it.UID); err != nil {
			return nil
		}
	}
	w, err := it.mb.store.wholeOf(bm, pieces)
	if err != nil {
		return nil
	}
	return w
}
