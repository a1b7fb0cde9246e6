package imapd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
)

// Fetch streams the requested items. The mailbox lock is held only to take
// the list of messages; content is generated and written without it, so a
// bulk download never blocks other sessions.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	s.holdResponses()
	if err := s.seqRangeErr(numSet, audit.IMAPFetch, "FETCH"); err != nil {
		return err
	}
	items, seqs := s.resolveSet(numSet)
	itemsDesc := fetchItems(options)
	wantModSeq := false
	if req := s.cond(); req != nil && req.fetchModSeq {
		wantModSeq = true
		itemsDesc = strings.TrimPrefix(itemsDesc+" MODSEQ", " ")
		if req.changedSince != nil {
			// RFC 7162 §3.1.4: only the messages changed since.
			kept, keptSeqs := items[:0], seqs[:0]
			for i, it := range items {
				if it.ModSeq > *req.changedSince {
					kept, keptSeqs = append(kept, it), append(keptSeqs, seqs[i])
				}
			}
			items, seqs = kept, keptSeqs
			itemsDesc += fmt.Sprintf(" (CHANGEDSINCE %d)", *req.changedSince)
			if req.vanished {
				if err := s.fetchVanished(numSet, *req.changedSince); err != nil {
					return err
				}
			}
		}
	}
	s.conn.expectBinary(0, true)
	markSeen := false
	if !s.readOnly {
		for _, bs := range options.BodySection {
			if !bs.Peek {
				markSeen = true
			}
		}
		for _, bs := range options.BinarySection {
			if !bs.Peek {
				markSeen = true
			}
		}
	}
	bulk := len(options.BodySection) > 0 || len(options.BinarySection) > 0
	var prep *preparer
	if len(options.BodySection) > 0 && wholeMessageOnly(options) && len(items) > 1 {
		prep = startPreparer(s.srv.prepare, items, seqs, prepareAhead, !needsMeta(options))
		defer prep.stop()
	}
	if bulk {
		// Message bodies: written by the server's bulk writers, one
		// message per turn (bulkpool.go).
		var err error
		i := 0
		perr := s.srv.bulk.run(func() bool {
			for i < len(items) && seqs[i] == 0 {
				i++
			}
			if i == len(items) {
				return true
			}
			prep.at(i)
			s.conn.dc.kernelWait.Store(true)
			defer s.conn.dc.kernelWait.Store(false) // a panic too
			err = s.fetchOne(w, seqs[i], items[i], prep.take(i), options, itemsDesc, markSeen, wantModSeq)
			i++
			return err != nil || i == len(items)
		}, s.conn.dc.waitingSince)
		if perr != nil {
			return perr
		}
		return err
	}
	for i, it := range items {
		if seqs[i] == 0 {
			continue
		}
		if err := s.fetchOne(w, seqs[i], it, nil, options, itemsDesc, markSeen, wantModSeq); err != nil {
			return err
		}
	}
	return nil
}

// A download of whole messages (a client's first download of a folder:
// UID FETCH 1:* BODY.PEEK[]) prepares the next messages on another
// goroutine while it writes the current one: rendering their attachments,
// most of a cold download's CPU, then overlaps writing to the client and
// the client's reading, on another core. At most prepareAhead messages
// ahead of the one being written, by one goroutine per FETCH. The farthest
// message not yet prepared goes first: when the writer catches up, it
// renders the nearer one itself while the preparer renders another,
// instead of waiting for the same document. The bytes written are the
// same: a document is rendered once, whoever asks first, and the others
// wait for it.
//
// Most messages carry no attachment and are written at once, so the
// window is counted in dozens: with 3 messages the writer reached a
// spreadsheet before anyone had begun it, and waited while the other core
// had nothing to do (cold first download, 8 × 400 messages: 230–280 MB/s
// with 3, 270–330 with 32; 16 and 64 in between). A client that goes away
// leaves at most this many messages' documents made early, in the
// document cache, where the next download finds them.
//
// When the download is of BODY[] alone, the preparer also makes the
// message itself (its text, and its pieces around the documents: what
// LoadWhole would make) and hands it to the writer, who then only writes
// it: on a download whose documents are all cached, making the messages was
// a fifth of the writer's time, and the other core was partly idle. At most
// prepareHeld bytes of messages wait for the writer at a time; past that,
// the preparer makes only their documents.
const prepareAhead = 32

// prepareHeld bounds the bytes of prepared messages one download holds for
// its writer (mostly the documents' base64, shared with the document cache).
const prepareHeld = 8 << 20

type preparer struct {
	ahead    int  // how many messages past the one being written
	keep     bool // hand prepared messages to the writer (BODY[] alone)
	items    []store.Item
	seqs     []uint32 // 0: not written, not prepared
	prepared []bool
	wholes   []atomic.Pointer[store.Whole] // prepared, for the writer to take
	held     atomic.Int64                  // bytes in wholes
	cur      atomic.Int64                  // index of the message being written
	wakeAt   atomic.Int64                  // the writer wakes the preparer once cur reaches this
	wake     chan struct{}
	done     chan struct{} // closed: prepare nothing more
	ended    chan struct{} // closed when the goroutine returns
	noSlot   atomic.Int64  // times it found no slot free and went back to waiting
	wakes    atomic.Int64  // times it was woken to prepare
	sem      chan struct{} // rendering slots, shared by the server's preparers
}

// startPreparer starts preparing items ahead of their writer; sem bounds
// how many preparers render at once, over all sessions (Server.prepare,
// one fewer than the bulk writers, at least one).
func startPreparer(sem chan struct{}, items []store.Item, seqs []uint32, ahead int, keep bool) *preparer {
	p := &preparer{sem: sem, ahead: ahead, keep: keep, items: items, seqs: seqs, prepared: make([]bool, len(items)),
		wake: make(chan struct{}, 1), done: make(chan struct{}), ended: make(chan struct{})}
	if keep {
		p.wholes = make([]atomic.Pointer[store.Whole], len(items))
	}
	go p.run()
	return p
}

// at tells the preparer that message i is being written (nil: none runs).
func (p *preparer) at(i int) {
	if p == nil {
		return
	}
	p.cur.Store(int64(i))
	if int64(i) < p.wakeAt.Load() {
		return // the preparer is far enough ahead: let it sleep
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// take returns message i as the preparer made it, if it did (nil: the
// writer loads it). The writer calls it after at(i).
func (p *preparer) take(i int) *store.Whole {
	if p == nil || p.wholes == nil {
		return nil
	}
	w := p.wholes[i].Swap(nil)
	if w != nil {
		p.held.Add(-w.Size)
	}
	return w
}

// hand keeps message j, prepared, for the writer to take, unless the
// preparer holds prepareHeld bytes already. If the writer has reached j
// meanwhile, it has loaded the message itself: the preparer takes it back.
// (The writer stores cur before it takes; the preparer stores the message
// before it reads cur: one of the two sees the other.)
func (p *preparer) hand(j int, w *store.Whole) {
	if w == nil || p.wholes == nil || p.held.Load()+w.Size > prepareHeld {
		return
	}
	p.held.Add(w.Size)
	p.wholes[j].Store(w)
	if int(p.cur.Load()) >= j {
		if w := p.wholes[j].Swap(nil); w != nil {
			p.held.Add(-w.Size)
		}
	}
}

// stop ends the preparer and waits for the message it is preparing, if
// any, so that nothing is rendered for this FETCH once it has returned.
func (p *preparer) stop() {
	close(p.done)
	<-p.ended
}

func (p *preparer) run() {
	defer close(p.ended)
wait:
	for {
		select {
		case <-p.done:
			return
		case <-p.wake:
			p.wakes.Add(1)
		}
		for {
			select {
			case <-p.done:
				return
			default:
			}
			j := p.next()
			if j < 0 {
				// Caught up: sleep until the writer has taken half of
				// what lies ahead, then prepare that half in one go,
				// rather than wake for every message written (a thread
				// woken and put back to sleep per message: most of the
				// server's context switches during a download).
				at := p.cur.Load() + int64(max(1, p.ahead/2))
				p.wakeAt.Store(at)
				if p.cur.Load() >= at {
					continue // the writer got there meanwhile
				}
				break
			}
			p.wakeAt.Store(0)
			// Not a bulk writer (see bulkpool.go): with one writer on two
			// cores, the writer and its preparer would take turns instead
			// of overlapping. A slot of its own, not waited for: with many
			// downloads at once, at most sem's capacity render
			// ahead, and a writer whose preparer found none free renders
			// its messages itself, as without a preparer.
			select {
			case p.sem <- struct{}{}:
			default:
				p.noSlot.Add(1)
				continue wait
			}
			w := p.items[j].PrepareWhole()
			<-p.sem
			p.prepared[j] = true
			p.hand(j, w)
		}
	}
}

// next returns the farthest message within p.ahead of the one being
// written that is still to prepare, or -1.
func (p *preparer) next() int {
	cur := int(p.cur.Load())
	for j := min(cur+p.ahead, len(p.items)-1); j > cur; j-- {
		if !p.prepared[j] && p.seqs[j] != 0 {
			return j
		}
	}
	return -1
}

// needsMeta tells whether a FETCH asks for a message's description.
func needsMeta(options *imap.FetchOptions) bool {
	return options.Envelope || options.BodyStructure != nil || options.RFC822Size || options.InternalDate
}

// fetchOne writes one message's items; pre, if not nil, is the message
// whole as its download's preparer made it (see preparer.take).
func (s *session) fetchOne(w *imapserver.FetchWriter, seq uint32, it store.Item, pre *store.Whole, options *imap.FetchOptions, desc string, markSeen, wantModSeq bool) error {
	needMeta := needsMeta(options)
	needMsg := len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	var (
		m     *store.Message
		meta  *store.Meta
		whole *store.Whole     // the whole message in pieces, for BODY[] alone
		part  *store.PartWhole // one part's body in pieces, for BODY[n] alone
	)
	if needMsg {
		var err error
		switch {
		case !needMeta && onePartOnly(options):
			// An attachment's body straight from the Base's pieces when
			// it can: the message is not made whole for it.
			part, err = it.LoadPart(options.BodySection[0].Part)
			if part == nil && err == nil {
				m, err = it.Load()
			}
		case !wholeMessageOnly(options):
			m, err = it.Load()
		case !needMeta && pre != nil:
			whole = pre
		case !needMeta:
			whole, err = it.LoadWhole() // in pieces, nothing copied or kept
		default:
			// Downloaded whole: read once, not kept in the message cache.
			m, err = it.LoadOnce()
		}
		if err != nil {
			return fmt.Errorf("imapd: load message %d: %w", it.UID, err)
		}
		defer whole.Close()
		if needMeta {
			meta = store.MetaOf(m)
		}
	} else if needMeta {
		// Only the description: no content (nor attachment) is made.
		var err error
		meta, err = it.Meta()
		if err != nil {
			return fmt.Errorf("imapd: describe message %d: %w", it.UID, err)
		}
	}
	flags, err := it.FlagsOrBase()
	if err != nil {
		return fmt.Errorf("imapd: flags of message %d: %w", it.UID, err)
	}
	writeFlags := options.Flags
	if markSeen && !store.HasFlag(flags, imap.FlagSeen) {
		res, err := s.mb.Store([]uint32{it.UID}, store.FlagsAdd, []imap.Flag{imap.FlagSeen}, s.view, store.StoreOptions{})
		if err != nil {
			return err
		}
		if f, ok := res.Flags[it.UID]; ok {
			flags = f
			it.ModSeq = res.ModSeq[it.UID]
		}
		writeFlags = true
		// The flags changed: a CONDSTORE client learns the new MODSEQ
		// (RFC 7162 §3.1.4).
		wantModSeq = wantModSeq || s.condstore
	}

	if writeFlags {
		if err := s.announceFlags(); err != nil {
			return err
		}
	}
	if wantModSeq {
		s.conn.pushModSeq(seq, it.ModSeq)
	}
	rw := w.CreateMessage(seq)
	// However this message ends (a write to a client that reset fails),
	// the writer is closed: it holds go-imap's response encoder, and a
	// writer left open blocks the session's goroutine for good (no logout
	// event, a goroutine and a bulk writer lost per cut download).
	closed := false
	defer func() {
		if !closed {
			rw.Close()
		}
	}()
	rw.WriteUID(imap.UID(it.UID))
	if writeFlags {
		rw.WriteFlags(s.withRecent(it.UID, flags))
	}
	if options.InternalDate {
		rw.WriteInternalDate(meta.InternalDate)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(meta.Size)
	}
	if options.Envelope {
		rw.WriteEnvelope(meta.Envelope)
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(meta.BodyStructure)
	}
	var sent int64
	var atts []store.Attachment
	seen := map[string]bool{}
	addAtts := func(list []store.Attachment) {
		for _, a := range list {
			k := partKey(a.Part)
			if !seen[k] {
				seen[k] = true
				atts = append(atts, a)
			}
		}
	}
	for _, bs := range options.BodySection {
		if part != nil {
			if err := s.writeStable(part.Body.InMemory(), func() error {
				return writeWhole(rw.WriteBodySection(bs, part.Body.Size), part.Body)
			}, nil); err != nil {
				return err
			}
			sent += part.Body.Size
			addAtts(store.AttachmentsUnder(part.Message.Attachments, bs.Part))
			continue
		}
		if whole != nil {
			if err := s.writeStable(whole.InMemory(), func() error {
				return writeWhole(rw.WriteBodySection(bs, whole.Size), whole)
			}, nil); err != nil {
				return err
			}
			sent += whole.Size
			addAtts(whole.Attachments)
			continue
		}
		var buf []byte
		done := func() {}
		switch {
		case len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierNone && bs.Partial == nil:
			buf = m.Raw
		case len(bs.Part) > m.MaxMIMEDepth():
			// Deeper than the store describes (and each level costs a
			// pass over the message): an empty section.
		default:
			buf, done = bodySection(m.Raw, bs)
		}
		err := s.writeStable(true, func() error {
			return writeSection(rw.WriteBodySection(bs, int64(len(buf))), buf)
		}, done)
		if err != nil {
			return err
		}
		sent += int64(len(buf))
		if bs.Specifier == imap.PartSpecifierNone || bs.Specifier == imap.PartSpecifierText {
			addAtts(m.AttachmentsUnder(bs.Part))
		}
	}
	for _, bs := range options.BinarySection {
		var buf []byte
		done := func() {}
		if len(bs.Part) <= m.MaxMIMEDepth() {
			buf, done = binarySection(m.Raw, m, bs)
		}
		origin := int64(-1)
		if bs.Partial != nil {
			origin = bs.Partial.Offset
		}
		s.conn.expectBinary(origin, false)
		err := s.writeStable(true, func() error {
			return writeSection(rw.WriteBinarySection(bs, int64(len(buf))), buf)
		}, done)
		if err != nil {
			return err
		}
		sent += int64(len(buf))
		addAtts(m.AttachmentsUnder(bs.Part))
	}
	for _, bss := range options.BinarySectionSize {
		var n uint32
		if len(bss.Part) <= m.MaxMIMEDepth() {
			n = binarySectionSize(m.Raw, m, bss.Part)
		}
		rw.WriteBinarySectionSize(bss, n)
	}
	closed = true
	if err := rw.Close(); err != nil {
		return err
	}

	s.fetches.Add(1)
	s.bytesOut.Add(sent)
	e := s.mailboxEvent(audit.Event{Action: audit.IMAPFetch, Outcome: audit.Success, Command: "FETCH", FetchItems: desc, MessageUID: it.UID}, s.mbName, s.mbOwner)
	if s.readOnly {
		e.ReadOnly = audit.Bool(true)
	}
	if s.condstore {
		e.ModSeq = it.ModSeq
	}
	if whole != nil {
		e.MessageID, e.MessageSize, e.MessageSubj = whole.MessageID, whole.Size, whole.Subject
	} else if part != nil {
		e.MessageID, e.MessageSize, e.MessageSubj = part.Message.MessageID, part.Message.Size, part.Message.Subject
	} else if m != nil {
		e.MessageID, e.MessageSize, e.MessageSubj = m.MessageID, m.Size, m.Subject
	} else if meta != nil {
		e.MessageID, e.MessageSize, e.MessageSubj = meta.MessageID, meta.Size, meta.Subject
	}
	// One event per attachment delivered (file.* set), or one for the
	// message; bytes.out is carried by the first event of the message.
	if len(atts) == 0 {
		e.BytesOut = sent
		s.emit(e)
		return nil
	}
	for i, a := range atts {
		ev := e
		if i == 0 {
			ev.BytesOut = sent
		}
		ev.FileName, ev.FileExt, ev.FileMIMEType, ev.FileSize, ev.FileSHA256 = a.FileName, a.Extension, a.MIMEType, a.Size, a.SHA256
		s.emit(ev)
	}
	return nil
}

// writeStable runs write, which writes a message body or section whose
// bytes stay as they are until done (nil: nothing to do) is called: the
// connection may hold them rather than copy them, and sends several
// together (outBuf); done runs once they are written. stable false (a
// body read from disk through a reused buffer) writes them at once.
func (s *session) writeStable(stable bool, write func() error, done func()) error {
	if done == nil {
		done = func() {}
	}
	if !stable || s.conn == nil {
		err := write()
		done()
		return err
	}
	s.conn.stableLit.Store(true)
	err := write()
	s.conn.stableLit.Store(false)
	s.conn.afterWrite(done)
	return err
}

// writeWhole writes a message as a literal and closes it, reporting the
// first error.
func writeWhole(wc io.WriteCloser, w *store.Whole) error {
	_, werr := w.WriteTo(wc)
	if cerr := wc.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// onePartOnly reports whether the only section asked for is one part's
// body, whole (BODY[2], BODY.PEEK[1.3]), without binary ones.
func onePartOnly(o *imap.FetchOptions) bool {
	if len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 || len(o.BodySection) != 1 {
		return false
	}
	bs := o.BodySection[0]
	return len(bs.Part) > 0 && bs.Specifier == imap.PartSpecifierNone && bs.Partial == nil
}

// wholeMessageOnly reports whether the body sections asked for are only
// the whole message (BODY[], BODY.PEEK[], RFC822), without binary ones.
func wholeMessageOnly(o *imap.FetchOptions) bool {
	if len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 {
		return false
	}
	for _, bs := range o.BodySection {
		if len(bs.Part) != 0 || bs.Specifier != imap.PartSpecifierNone || bs.Partial != nil {
			return false
		}
	}
	return true
}

// writeSection writes a literal and closes it, reporting the first error.
func writeSection(wc io.WriteCloser, buf []byte) error {
	return writeWhole(wc, &store.Whole{Pieces: [][]byte{buf}, Size: int64(len(buf))})
}

func partKey(p []int) string {
	var b strings.Builder
	for i, n := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// fetchItems describes the fetch items like the client asked for them.
func fetchItems(o *imap.FetchOptions) string {
	var parts []string
	if o.UID {
		parts = append(parts, "UID")
	}
	if o.Flags {
		parts = append(parts, "FLAGS")
	}
	if o.InternalDate {
		parts = append(parts, "INTERNALDATE")
	}
	if o.RFC822Size {
		parts = append(parts, "RFC822.SIZE")
	}
	if o.Envelope {
		parts = append(parts, "ENVELOPE")
	}
	if o.BodyStructure != nil {
		parts = append(parts, "BODYSTRUCTURE")
	}
	for _, bs := range o.BodySection {
		name := "BODY"
		if bs.Peek {
			name = "BODY.PEEK"
		}
		sec := partKey(bs.Part)
		if bs.Specifier != imap.PartSpecifierNone {
			if sec != "" {
				sec += "."
			}
			sec += string(bs.Specifier)
			if len(bs.HeaderFields) > 0 {
				sec += ".FIELDS (" + strings.Join(bs.HeaderFields, " ") + ")"
			} else if len(bs.HeaderFieldsNot) > 0 {
				sec += ".FIELDS.NOT (" + strings.Join(bs.HeaderFieldsNot, " ") + ")"
			}
		}
		p := name + "[" + sec + "]"
		if bs.Partial != nil {
			p += fmt.Sprintf("<%d.%d>", bs.Partial.Offset, bs.Partial.Size)
		}
		parts = append(parts, p)
	}
	for _, bs := range o.BinarySection {
		name := "BINARY"
		if bs.Peek {
			name = "BINARY.PEEK"
		}
		parts = append(parts, name+"["+partKey(bs.Part)+"]")
	}
	for _, bs := range o.BinarySectionSize {
		parts = append(parts, "BINARY.SIZE["+partKey(bs.Part)+"]")
	}
	return strings.Join(parts, " ")
}
