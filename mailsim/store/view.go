package store

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// MaxKeywords bounds the keywords one mailbox can hold: each is announced
// to every session in FLAGS and PERMANENTFLAGS responses, and kept for the
// life of the mailbox.
const MaxKeywords = 1000

// ErrTooManyKeywords: a STORE or APPEND would create a keyword past
// MaxKeywords.
var ErrTooManyKeywords = errors.New("too many keywords in mailbox")

// MaxViewChanges bounds the changes queued for one session that has not
// been told of them (it sent no command and is not idling): past it the
// view is dropped and the session must end (ErrViewOverflow), rather than
// memory grow with every change other sessions make.
const MaxViewChanges = 100_000

// ErrViewOverflow: the session fell MaxViewChanges behind its mailbox.
var ErrViewOverflow = errors.New("too many changes to the selected mailbox since the session last read them")

// FlagRecent is the IMAP4rev1 \Recent flag (RFC 3501 §2.3.2), which only
// the server sets; go-imap v2 does not export it.
const FlagRecent = imap.Flag(`\Recent`)

// systemFlags are the flags every mailbox defines.
var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

type updKind uint8

const (
	updExists updKind = iota + 1
	updExpunge
	updFetch
	updFlags
)

// update is a change of the mailbox not yet sent to a session.
type update struct {
	kind  updKind
	n     uint32 // EXISTS: messages after it; EXPUNGE, FETCH: sequence number at the time
	added uint32 // EXISTS: how many messages it added (the last ones)
	uid   uint32 // EXPUNGE, FETCH: the message; EXISTS: UID of the last added
	flags []imap.Flag
	// modseq: FETCH: the message's new mod-sequence.
	modseq uint64
}

// View is one IMAP session's view of a selected mailbox: what its client
// has been told, and the changes it has not been told of yet, in order.
// The client's view changes only through the responses it is sent
// (RFC 9051 §7.5.1): a sequence number always means what it meant in the
// last response the client read, EXISTS never decreases without EXPUNGE,
// and a keyword is announced in FLAGS before any FETCH carries it.
//
// Its state is guarded by the mailbox lock; the methods other than Close
// must be called from the session's own goroutine.
type View struct {
	mb       *Mailbox
	readOnly bool
	queue    []update
	count    uint32          // messages the client was told of
	told     int             // keywords the client was told of
	recent   map[uint32]bool // UIDs that are \Recent for this session (RFC 3501 §2.3.2)
	closed   bool
	overflow bool // fell MaxViewChanges behind: dropped
	// onModSeq, when set, is told the mod-sequence of every FETCH that
	// Poll writes, just before it is written (CONDSTORE, RFC 7162 §3.1.4).
	onModSeq func(seq uint32, modseq uint64)
	// onExpunge, when set, is told the UID of every EXPUNGE that Poll
	// writes, just before it is written (QRESYNC's VANISHED, RFC 7162
	// §3.2.10).
	onExpunge func(uid uint32)
	// onExpunges, when set, is told once per Poll, before anything is
	// written, of the messages it is about to send EXPUNGE for that the
	// client knew of (CONTEXT=SEARCH's REMOVEFROM, RFC 5267 §4.3).
	onExpunges func(uids, seqs []uint32) error
	// taken counts the changes Poll took from the queue.
	taken uint64
	// polled is HIGHESTMODSEQ when Poll last took the queue: every change
	// up to it has been sent.
	polled uint64
}

// PolledModSeq returns the mailbox's HIGHESTMODSEQ as of the last Poll (or
// Open): the client has been sent every change up to it.
func (v *View) PolledModSeq() uint64 { return v.polled }

// OnExpunge sets the function Poll calls with the UID of each EXPUNGE it
// sends, before sending it; nil stops. Called from the session's
// goroutine, like Poll.
func (v *View) OnExpunge(f func(uid uint32)) { v.onExpunge = f }

// OnModSeq sets the function Poll calls with the sequence number and
// mod-sequence of each flag change it sends, before sending it; nil stops.
// Called from the session's goroutine, like Poll.
func (v *View) OnModSeq(f func(seq uint32, modseq uint64)) { v.onModSeq = f }

// OnExpunges sets the function Poll calls, once and before writing
// anything, with the UIDs of the messages it is about to send EXPUNGE for
// and their sequence numbers in the client's view as it was before the
// Poll (messages added and expunged since the client last heard are not
// included); nil stops. Called from the session's goroutine, like Poll.
func (v *View) OnExpunges(f func(uids, seqs []uint32) error) { v.onExpunges = f }

// Taken counts the changes Poll has sent (or found moot) since the view
// opened: with the mailbox's HIGHESTMODSEQ, it tells whether anything the
// client knows of can have changed since it was last looked at.
func (v *View) Taken() uint64 { return v.taken }

// Open starts a session's view of the mailbox (SELECT, or EXAMINE when
// readOnly) and returns what the client must be told first. A read-write
// view takes the \Recent messages: those no session has seen yet
// (RFC 3501 §2.3.2); EXAMINE counts them without taking them (§6.3.2).
func (mb *Mailbox) Open(readOnly bool) (*View, Stats) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.openLocked(readOnly)
}

func (mb *Mailbox) openLocked(readOnly bool) (*View, Stats) {
	n := mb.countLocked()
	v := &View{mb: mb, readOnly: readOnly, count: n, told: len(mb.keywords), recent: map[uint32]bool{}, polled: mb.highest}
	st := Stats{Messages: n, UIDNext: mb.uidNext, UIDValidity: mb.uidValidity, Flags: mb.flagsLocked(), HighestModSeq: mb.highest}
	for seq := n; seq >= 1; seq-- {
		uid := mb.uidAtLocked(seq)
		if uid < mb.recentFrom {
			break
		}
		st.Recent++
		if !readOnly {
			v.recent[uid] = true
		}
	}
	if !readOnly {
		mb.recentFrom = mb.uidNext
	}
	mb.views[v] = struct{}{}
	return v, st
}

// Close ends the view: its \Recent messages are no longer recent for anyone.
func (v *View) Close() {
	if v == nil {
		return
	}
	v.mb.mu.Lock()
	delete(v.mb.views, v)
	v.queue, v.closed = nil, true
	v.mb.mu.Unlock()
}

// ReadOnly tells whether the view was opened by EXAMINE.
func (v *View) ReadOnly() bool { return v.readOnly }

// Count returns the number of messages the client was told of: what "*"
// means in its sequence sets.
func (v *View) Count() uint32 {
	v.mb.mu.RLock()
	defer v.mb.mu.RUnlock()
	return v.count
}

// Recent tells whether uid is \Recent for this session.
func (v *View) Recent(uid uint32) bool { return v.recent[uid] }

// NumRecent returns how many messages are \Recent for this session.
func (v *View) NumRecent() uint32 { return uint32(len(v.recent)) }

// encodeLocked maps a sequence number of the mailbox now to the client's
// view, 0 when the client does not know the message yet. mb.mu is held.
func (v *View) encodeLocked(seq uint32) uint32 {
	for i := len(v.queue) - 1; i >= 0; i-- {
		u := &v.queue[i]
		switch u.kind {
		case updExists:
			if seq > u.n-u.added && seq <= u.n {
				return 0
			}
		case updExpunge:
			if seq >= u.n {
				seq++
			}
		}
	}
	if seq > v.count {
		return 0
	}
	return seq
}

// Items returns the messages the client knows of and that are still in the
// mailbox, with their client-view sequence numbers in Seq, for which keep
// (given the client sequence number and the UID) is true.
func (v *View) Items(keep func(cseq, uid uint32) bool) []Item {
	mb := v.mb
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	if v.overflow {
		return nil
	}
	return v.itemsLocked(keep)
}

func (v *View) itemsLocked(keep func(cseq, uid uint32) bool) []Item {
	mb := v.mb
	n := mb.countLocked()
	var out []Item
	for seq := uint32(1); seq <= n; seq++ {
		uid := mb.uidAtLocked(seq)
		c := v.encodeLocked(seq)
		if c == 0 || (keep != nil && !keep(c, uid)) {
			continue
		}
		it := mb.itemLocked(seq, uid)
		it.Seq = c
		out = append(out, it)
	}
	return out
}

// ItemsIn is Items with keep "the message is in set": a sequence set (the
// client's sequence numbers) or a UID set, its "*" already resolved. While
// the client has been told of every change (nothing waits in its queue,
// so its sequence numbers are the mailbox's), only the messages within
// the set's ranges are looked at, a UID range found by binary search: a
// FETCH of one message in a mailbox of 100,000 costs a lookup instead of
// a pass over all of them, under the mailbox's lock. Otherwise, or for
// another kind of set, every message is (Items).
func (v *View) ItemsIn(set imap.NumSet) []Item {
	var keep func(cseq, uid uint32) bool
	var spans [][2]uint32 // closed ranges of numbers, as the set gives them
	byUID := false
	switch s := set.(type) {
	case imap.SeqSet:
		keep = func(c, _ uint32) bool { return s.Contains(c) }
		for _, r := range s {
			spans = append(spans, span(r.Start, r.Stop))
		}
	case imap.UIDSet:
		keep = func(_, u uint32) bool { return s.Contains(imap.UID(u)) }
		byUID = true
		for _, r := range s {
			spans = append(spans, span(uint32(r.Start), uint32(r.Stop)))
		}
	default:
		return nil
	}
	mb := v.mb
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	if v.overflow {
		return nil
	}
	if len(v.queue) > 0 {
		return v.itemsLocked(keep)
	}
	// Sequence numbers of the mailbox, which are the client's: each span
	// bounds the messages its range can hold (keep decides exactly).
	n := min(mb.countLocked(), v.count)
	seqs := spans[:0]
	for _, sp := range spans {
		lo, hi := sp[0], sp[1]
		if byUID {
			lo, hi = mb.seqFromLocked(lo), mb.seqUpToLocked(hi)
		}
		lo, hi = max(lo, 1), min(hi, n)
		if lo <= hi {
			seqs = append(seqs, [2]uint32{lo, hi})
		}
	}
	slices.SortFunc(seqs, func(a, b [2]uint32) int { return cmp.Compare(a[0], b[0]) })
	var out []Item
	next := uint32(1) // the first sequence number not looked at yet
	for _, sp := range seqs {
		for seq := max(sp[0], next); seq <= sp[1]; seq++ {
			uid := mb.uidAtLocked(seq)
			if !keep(seq, uid) {
				continue
			}
			it := mb.itemLocked(seq, uid)
			it.Seq = seq
			out = append(out, it)
		}
		next = max(next, sp[1]+1)
	}
	return out
}

// span is the closed range a set's range can cover: its ends in order,
// 0 ("*", unresolved) counting as the highest number.
func span(a, b uint32) [2]uint32 {
	if a == 0 {
		a = math.MaxUint32
	}
	if b == 0 {
		b = math.MaxUint32
	}
	return [2]uint32{min(a, b), max(a, b)}
}

// NewFlags returns the mailbox's flags when they include keywords the
// client was not told of yet, and counts them as told: the caller sends
// them before any response that could carry a new keyword.
func (v *View) NewFlags() ([]imap.Flag, bool) {
	mb := v.mb
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if v.told >= len(mb.keywords) {
		return nil, false
	}
	v.told = len(mb.keywords)
	return mb.flagsLocked(), true
}

// Poll sends the client the changes it has not been told of, in order: all
// of them, or, when allowExpunge is false (during FETCH, STORE and SEARCH,
// RFC 9051 §7.5.1), those before the first EXPUNGE. rev1 adds \Recent to
// FETCH flags and a RECENT response after EXISTS (IMAP4rev1 clients);
// writeFlags sends a FLAGS response (and what goes with it).
func (v *View) Poll(w *imapserver.UpdateWriter, allowExpunge, rev1 bool, writeFlags func([]imap.Flag) error) error {
	mb := v.mb
	mb.mu.Lock()
	if v.closed {
		mb.mu.Unlock()
		return nil
	}
	if v.overflow {
		mb.mu.Unlock()
		return ErrViewOverflow
	}
	take := len(v.queue)
	if !allowExpunge {
		for i, u := range v.queue {
			if u.kind == updExpunge {
				take = i
				break
			}
		}
	}
	updates := slices.Clone(v.queue[:take])
	v.queue = slices.Delete(v.queue, 0, take)
	v.taken += uint64(take)
	var goneUIDs, goneSeqs []uint32
	if v.onExpunges != nil {
		goneUIDs, goneSeqs = v.expungedBefore(updates)
	}
	if len(v.queue) == 0 {
		v.queue = nil
		v.polled = mb.highest
	}
	recentAfter := make([]uint32, len(updates))
	var flags []imap.Flag
	// A flag change is sent as the message is now, not as it was when
	// queued: the client may have fetched it since, and must never be
	// sent older flags (or, with CONDSTORE, a lower MODSEQ, RFC 7162
	// §3.1.1) than it already has. Keywords those flags may hold are
	// announced first.
	announce := false
	if v.told < len(mb.keywords) && slices.ContainsFunc(updates, func(u update) bool { return u.kind == updFetch }) {
		v.told, announce = len(mb.keywords), true
		flags = mb.flagsLocked()
	}
	for i := range updates {
		u := &updates[i]
		switch u.kind {
		case updExists:
			v.count = u.n
			if !v.readOnly {
				for uid := u.uid - u.added + 1; uid <= u.uid; uid++ {
					if uid >= mb.recentFrom {
						v.recent[uid] = true
					}
				}
				mb.recentFrom = max(mb.recentFrom, u.uid+1)
			}
		case updExpunge:
			v.count--
			if v.recent[u.uid] {
				delete(v.recent, u.uid)
				u.added = 1 // the RECENT count changes: say so
			}
		case updFlags:
			if v.told < len(mb.keywords) {
				v.told = len(mb.keywords)
				flags = mb.flagsLocked()
			} else {
				u.kind = 0 // already told
			}
		case updFetch:
			if mb.seqOfLocked(u.uid) == 0 {
				// Expunged since: its EXPUNGE is queued after this, and
				// flags older than what the client may have fetched
				// would only mislead it.
				u.kind = 0
				break
			}
			if cur, ok := mb.flags[u.uid]; ok {
				u.flags, u.modseq = slices.Clone(cur), mb.modseqLocked(u.uid)
			}
			if rev1 && v.recent[u.uid] {
				u.flags = append(slices.Clone(u.flags), FlagRecent)
			}
		}
		recentAfter[i] = uint32(len(v.recent))
	}
	mb.mu.Unlock()

	if len(goneUIDs) > 0 {
		if err := v.onExpunges(goneUIDs, goneSeqs); err != nil {
			return err
		}
	}
	if announce {
		if err := writeFlags(flags); err != nil {
			return err
		}
	}
	for i, u := range updates {
		var err error
		switch u.kind {
		case updExists:
			err = w.WriteNumMessages(u.n)
			if err == nil && rev1 {
				err = w.WriteNumRecent(recentAfter[i])
			}
		case updExpunge:
			if v.onExpunge != nil {
				v.onExpunge(u.uid)
			}
			err = w.WriteExpunge(u.n)
			if err == nil && rev1 && u.added == 1 {
				err = w.WriteNumRecent(recentAfter[i])
			}
		case updFlags:
			err = writeFlags(flags)
		case updFetch:
			if v.onModSeq != nil {
				v.onModSeq(u.n, u.modseq)
			}
			err = w.WriteMessageFlags(u.n, imap.UID(u.uid), u.flags)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// expungedBefore returns the messages the updates expunge that the client
// knew of before them, with their sequence numbers then. An EXPUNGE's n
// counts the expunges before it in the queue: each earlier one at or below
// it moves it up by one; above the count before the updates, the message
// came with an EXISTS among them.
func (v *View) expungedBefore(updates []update) (uids, seqs []uint32) {
	var earlier []uint32 // original sequence numbers, ascending
	for _, u := range updates {
		if u.kind != updExpunge {
			continue
		}
		seq := u.n
		for _, p := range earlier {
			if p > seq {
				break
			}
			seq++
		}
		i, _ := slices.BinarySearch(earlier, seq)
		earlier = slices.Insert(earlier, i, seq)
		if seq <= v.count {
			uids = append(uids, u.uid)
			seqs = append(seqs, seq)
		}
	}
	return uids, seqs
}

// queueLocked gives an update to every view but source. mb.mu is held for
// writing.
func (mb *Mailbox) queueLocked(u update, source *View) {
	for v := range mb.views {
		if v == source || v.overflow {
			continue
		}
		if u.kind == updExists && len(v.queue) > 0 {
			if last := &v.queue[len(v.queue)-1]; last.kind == updExists {
				last.n, last.added, last.uid = u.n, last.added+u.added, u.uid
				continue
			}
		}
		if len(v.queue) >= MaxViewChanges {
			v.queue, v.overflow = nil, true
			continue
		}
		v.queue = append(v.queue, u)
	}
	mb.notifyLocked()
}

// flagsLocked returns the system flags and the mailbox's keywords.
func (mb *Mailbox) flagsLocked() []imap.Flag {
	out := make([]imap.Flag, 0, len(systemFlags)+len(mb.keywords))
	out = append(out, systemFlags...)
	return append(out, mb.keywords...)
}

// Flags returns the flags defined in the mailbox: the system flags and the
// keywords used so far (for FLAGS and PERMANENTFLAGS).
func (mb *Mailbox) Flags() []imap.Flag {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	return mb.flagsLocked()
}

// newKeywords returns the keywords of flags the mailbox does not define
// yet, or ErrTooManyKeywords. mb.mu is held.
func (mb *Mailbox) newKeywordsLocked(flags []imap.Flag) ([]imap.Flag, error) {
	var out []imap.Flag
	for _, f := range flags {
		if strings.HasPrefix(string(f), `\`) {
			continue
		}
		known := slices.ContainsFunc(mb.keywords, func(k imap.Flag) bool { return strings.EqualFold(string(k), string(f)) }) ||
			slices.ContainsFunc(out, func(k imap.Flag) bool { return strings.EqualFold(string(k), string(f)) })
		if !known {
			out = append(out, f)
		}
	}
	if len(mb.keywords)+len(out) > MaxKeywords {
		return nil, ErrTooManyKeywords
	}
	return out, nil
}

// defineLocked adds keywords to the mailbox and tells every view.
func (mb *Mailbox) defineLocked(kw []imap.Flag) {
	if len(kw) == 0 {
		return
	}
	mb.keywords = append(mb.keywords, kw...)
	mb.queueLocked(update{kind: updFlags}, nil)
}
