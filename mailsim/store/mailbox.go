package store

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Mailbox is one folder of one owner. Its base messages (UIDs 1..base count)
// come from the Base; mutations are kept here.
type Mailbox struct {
	store *Store
	usage *atomic.Int64 // the owner's added bytes, against the quota

	mu          sync.RWMutex
	owner       string
	name        string
	origin      string // folder name in the base
	specialUse  string
	uidValidity uint32
	uidNext     uint32
	baseCount   uint32
	// dense is true while the mailbox holds exactly UIDs 1..n.
	dense bool
	n     uint32
	uids  []uint32 // when !dense: present UIDs, ascending
	flags map[uint32][]imap.Flag
	extra map[uint32]*Message
	gone  bool
	// views are the sessions that have the mailbox selected.
	views map[*View]struct{}
	// keywords are the keywords used in the mailbox, in order of first
	// use (at most MaxKeywords).
	keywords []imap.Flag
	// highest is HIGHESTMODSEQ (RFC 7162 §3.1.2): 1 for a mailbox as
	// the base made it, one more for every change (an APPEND, a STORE
	// that changed flags, an EXPUNGE). modseqs holds the mod-sequence of
	// the messages changed since: added or re-flagged ones, which the
	// mailbox keeps anyway (extra, flags); the others have 1. Entries go
	// with their message, so it stays as small as the mutations.
	highest uint64
	modseqs map[uint32]uint64
	// summary is the last summary of every message Stats made (unseen,
	// deleted, size), good while highest is what it was then: every
	// change to the messages or their flags moves highest. A SELECT,
	// EXAMINE or STATUS of an unchanged mailbox then makes no pass over
	// its messages (45,000 messages of the corpus: 0.2 s each).
	summary atomic.Pointer[summary]
	// modseqTracked: a session used CONDSTORE on the mailbox; from then on
	// every SELECT and EXAMINE reports HIGHESTMODSEQ (as Dovecot does once
	// a mailbox's index tracks mod-sequences).
	modseqTracked bool
	// vanished are the UIDs expunged, with the mod-sequence of their
	// EXPUNGE, oldest first (at most MaxVanished); vanishedFloor is the
	// highest mod-sequence of those forgotten (QRESYNC, RFC 7162 §3.2).
	vanished      []vanishedUID
	vanishedFloor uint64
	// recentFrom: messages from this UID on were seen by no session yet
	// (they are \Recent for the next to see them, RFC 3501 §2.3.2).
	recentFrom uint32
	// changed is closed, and cleared, when an update is queued for the
	// views: an IDLE loop that took it before polling cannot miss an
	// update (see Changed). Made only when someone waits, so mutations
	// nobody idles on allocate nothing.
	changed chan struct{}
}

func newMailbox(s *Store, owner, name, specialUse string, uidValidity, count uint32, fromBase bool) *Mailbox {
	if !fromBase {
		count = 0
	}
	return &Mailbox{
		store:       s,
		views:       map[*View]struct{}{},
		recentFrom:  count + 1,
		owner:       owner,
		name:        name,
		origin:      name,
		specialUse:  specialUse,
		uidValidity: uidValidity,
		uidNext:     count + 1,
		baseCount:   count,
		dense:       true,
		n:           count,
		flags:       map[uint32][]imap.Flag{},
		extra:       map[uint32]*Message{},
		highest:     1,
		modseqs:     map[uint32]uint64{},
	}
}

// HighestModSeq returns the mailbox's HIGHESTMODSEQ (RFC 7162 §3.1.2).
func (mb *Mailbox) HighestModSeq() uint64 {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	return mb.highest
}

// TrackModSeq records that a session used CONDSTORE on the mailbox (see
// ModSeqTracked).
func (mb *Mailbox) TrackModSeq() {
	mb.mu.Lock()
	mb.modseqTracked = true
	mb.mu.Unlock()
}

// ModSeqTracked tells whether a session used CONDSTORE on the mailbox:
// SELECT then reports HIGHESTMODSEQ to every session.
func (mb *Mailbox) ModSeqTracked() bool {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	return mb.modseqTracked
}

// modseqLocked returns the mod-sequence of a present message.
func (mb *Mailbox) modseqLocked(uid uint32) uint64 {
	if m, ok := mb.modseqs[uid]; ok {
		return m
	}
	return 1
}

// Changed returns a channel that is closed at the next update queued for
// the mailbox's views (new messages, expunges, flag changes). Take it, then
// poll the session's view, then wait on it: an update queued after the poll
// closes the channel, one queued before it was delivered by the poll.
//
// imapserver.SessionTracker.Idle cannot be used for this: it registers for
// wake-ups only after the server has sent "+ idling", so a message delivered
// in between sat in the queue until the next update (seen as a flaky IDLE
// test in CI).
func (mb *Mailbox) Changed() <-chan struct{} {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.changed == nil {
		mb.changed = make(chan struct{})
	}
	return mb.changed
}

// notifyLocked wakes the Changed waiters; mb.mu is held for writing.
func (mb *Mailbox) notifyLocked() {
	if mb.changed != nil {
		close(mb.changed)
		mb.changed = nil
	}
}

// Owner returns the address of the mailbox owner.
func (mb *Mailbox) Owner() string { return mb.owner }

// Name returns the mailbox name.
func (mb *Mailbox) Name() string {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	return mb.name
}

// SpecialUse returns the special-use attribute (e.g. `\Sent`) or "".
func (mb *Mailbox) SpecialUse() string { return mb.specialUse }

// UIDValidity returns the UIDVALIDITY.
func (mb *Mailbox) UIDValidity() uint32 { return mb.uidValidity }

// Deleted tells whether the mailbox was deleted.
func (mb *Mailbox) Deleted() bool {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	return mb.gone
}

func (mb *Mailbox) markDeleted() {
	mb.mu.Lock()
	mb.gone = true
	for uid, m := range mb.extra {
		mb.usage.Add(-m.Size)
		delete(mb.extra, uid)
	}
	mb.mu.Unlock()
}

// reserve charges size bytes to the owner's quota, or fails.
func (mb *Mailbox) reserve(size int64) error {
	q := mb.store.quota
	if q <= 0 {
		mb.usage.Add(size)
		return nil
	}
	for {
		used := mb.usage.Load()
		if used+size > q {
			return ErrOverQuota
		}
		if mb.usage.CompareAndSwap(used, used+size) {
			return nil
		}
	}
}

func (mb *Mailbox) rename(name string) {
	mb.mu.Lock()
	mb.name = name
	mb.mu.Unlock()
}

func (mb *Mailbox) countLocked() uint32 {
	if mb.dense {
		return mb.n
	}
	return uint32(len(mb.uids))
}

func (mb *Mailbox) uidAtLocked(seq uint32) uint32 {
	if mb.dense {
		return seq
	}
	return mb.uids[seq-1]
}

// seqOfLocked returns the sequence number of uid, 0 if absent.
func (mb *Mailbox) seqOfLocked(uid uint32) uint32 {
	if mb.dense {
		if uid >= 1 && uid <= mb.n {
			return uid
		}
		return 0
	}
	i, ok := slices.BinarySearch(mb.uids, uid)
	if !ok {
		return 0
	}
	return uint32(i) + 1
}

// seqFromLocked returns the sequence number of the first message whose
// UID is uid or more, count+1 when there is none.
func (mb *Mailbox) seqFromLocked(uid uint32) uint32 {
	if mb.dense {
		return min(max(uid, 1), mb.n+1)
	}
	i, _ := slices.BinarySearch(mb.uids, uid)
	return uint32(i) + 1
}

// seqUpToLocked returns the sequence number of the last message whose UID
// is uid or less, 0 when there is none.
func (mb *Mailbox) seqUpToLocked(uid uint32) uint32 {
	if mb.dense {
		return min(uid, mb.n)
	}
	i, found := slices.BinarySearch(mb.uids, uid)
	if found {
		return uint32(i) + 1
	}
	return uint32(i)
}

func (mb *Mailbox) undenseLocked() {
	if !mb.dense {
		return
	}
	mb.uids = make([]uint32, mb.n)
	for i := range mb.uids {
		mb.uids[i] = uint32(i) + 1
	}
	mb.dense = false
}

// Count returns the number of messages.
func (mb *Mailbox) Count() uint32 {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	return mb.countLocked()
}

// UIDNext returns the next UID to be assigned.
func (mb *Mailbox) UIDNext() uint32 {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	return mb.uidNext
}

// Item is a message as seen at a point in time: its position, UID and flags,
// and how to load its content (without holding the mailbox lock).
type Item struct {
	Seq   uint32 // server-view sequence number
	UID   uint32
	Flags []imap.Flag // nil when the base flags apply (call Load)
	// ModSeq is the message's mod-sequence (RFC 7162 §3.1.1).
	ModSeq uint64
	mb     *Mailbox
	msg    *Message // set for non-base messages
}

// Load returns the parsed message, generating it if needed.
func (it Item) Load() (*Message, error) {
	if it.msg != nil {
		if it.msg.spill != nil {
			return it.mb.store.loadSpilled(it.msg)
		}
		return it.msg, nil
	}
	return it.mb.store.loadBase(it.mb.owner, it.mb.baseName(), it.mb.uidValidity, it.UID)
}

// LoadOnce is Load for a reader that will not come back to the message
// soon, such as a whole-message download: a base message the cache does not
// hold is generated for this caller and not kept. A mailbox downloaded
// whole then does not push the cache's working set out, nor keep a copy of
// every message it reads (its attachments are already in the corpus'
// document cache) until the cache's bound.
func (it Item) LoadOnce() (*Message, error) {
	if it.msg != nil {
		return it.Load()
	}
	return it.mb.store.loadBaseOnce(it.mb.owner, it.mb.baseName(), it.mb.uidValidity, it.UID)
}

// FlagsOrBase returns the message's flags, loading the base ones if needed.
func (it Item) FlagsOrBase() ([]imap.Flag, error) {
	if it.Flags != nil {
		return it.Flags, nil
	}
	if bf, ok := it.mb.store.base.(BaseFlagger); ok && it.msg == nil {
		fl, _, err := bf.Flags(it.mb.owner, it.mb.baseName(), it.UID)
		if err != nil {
			return nil, err
		}
		out := make([]imap.Flag, len(fl))
		for i, f := range fl {
			out[i] = imap.Flag(f)
		}
		return applyFlags(nil, FlagsAdd, out), nil
	}
	m, err := it.Load()
	if err != nil {
		return nil, err
	}
	return m.baseFlags, nil
}

// baseName returns the folder name under which the base generates messages.
// Renamed mailboxes keep generating from their original folder.
func (mb *Mailbox) baseName() string { return mb.origin }

// Items returns the messages whose server-view sequence numbers satisfy
// keep, in order. keep receives (seq, uid).
func (mb *Mailbox) Items(keep func(seq, uid uint32) bool) []Item {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	n := mb.countLocked()
	var out []Item
	for seq := uint32(1); seq <= n; seq++ {
		uid := mb.uidAtLocked(seq)
		if keep != nil && !keep(seq, uid) {
			continue
		}
		out = append(out, mb.itemLocked(seq, uid))
	}
	return out
}

func (mb *Mailbox) itemLocked(seq, uid uint32) Item {
	it := Item{Seq: seq, UID: uid, mb: mb, msg: mb.extra[uid], ModSeq: mb.modseqLocked(uid)}
	if f, ok := mb.flags[uid]; ok {
		it.Flags = slices.Clone(f)
		if it.Flags == nil {
			it.Flags = []imap.Flag{}
		}
	} else if it.msg != nil {
		it.Flags = slices.Clone(it.msg.baseFlags)
		if it.Flags == nil {
			it.Flags = []imap.Flag{}
		}
	}
	return it
}

// ItemByUID returns one message by UID.
func (mb *Mailbox) ItemByUID(uid uint32) (Item, bool) {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	seq := mb.seqOfLocked(uid)
	if seq == 0 {
		return Item{}, false
	}
	return mb.itemLocked(seq, uid), true
}

// MaxUID returns the largest UID present, 0 when empty.
func (mb *Mailbox) MaxUID() uint32 {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	n := mb.countLocked()
	if n == 0 {
		return 0
	}
	return mb.uidAtLocked(n)
}

// FlagOp is a STORE operation.
type FlagOp int

// Flag operations.
const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsDel
)

// StoreFlags changes the flags of the messages with the given UIDs and
// returns their new flags by UID. source is the view of the session doing
// it (it is not notified of its own change); nil notifies all. Keywords not
// used in the mailbox before are defined first (every view is sent FLAGS),
// up to MaxKeywords.
func (mb *Mailbox) StoreFlags(uids []uint32, op FlagOp, flags []imap.Flag, source *View) (map[uint32][]imap.Flag, error) {
	res, err := mb.Store(uids, op, flags, source, StoreOptions{})
	return res.Flags, err
}

// StoreOptions are the conditions of a STORE (RFC 7162 §3.1.3).
type StoreOptions struct {
	// Unchanged: change only the messages whose mod-sequence is at most
	// UnchangedSince (STORE (UNCHANGEDSINCE n)); the others are reported
	// in StoreResult.Modified.
	Unchanged      bool
	UnchangedSince uint64
}

// StoreResult tells what a STORE did.
type StoreResult struct {
	// Flags are the flags of every message stored to (changed or not),
	// by UID; ModSeq their mod-sequences.
	Flags  map[uint32][]imap.Flag
	ModSeq map[uint32]uint64
	// Changed are the UIDs whose flags changed (each got the STORE's new
	// mod-sequence); Modified those left alone because they changed
	// after UnchangedSince, in ascending order.
	Changed  map[uint32]bool
	Modified []uint32
}

// Store changes flags like StoreFlags, under the conditions of opts. A
// STORE that changes flags takes one new mod-sequence for all the messages
// it changes; messages whose flags stay the same keep theirs, and other
// views are told only of those that changed.
func (mb *Mailbox) Store(uids []uint32, op FlagOp, flags []imap.Flag, source *View, opts StoreOptions) (StoreResult, error) {
	res := StoreResult{Flags: map[uint32][]imap.Flag{}, ModSeq: map[uint32]uint64{}, Changed: map[uint32]bool{}}
	// Base flags must be known before the change; load them without the lock.
	base := map[uint32][]imap.Flag{}
	for _, uid := range uids {
		it, ok := mb.ItemByUID(uid)
		if !ok {
			continue
		}
		if it.Flags == nil {
			f, err := it.FlagsOrBase()
			if err != nil {
				return res, err
			}
			base[uid] = f
		}
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if op != FlagsDel {
		kw, err := mb.newKeywordsLocked(flags)
		if err != nil {
			return res, err
		}
		mb.defineLocked(kw)
	}
	var modseq uint64 // this STORE's, taken at the first change
	for _, uid := range uids {
		seq := mb.seqOfLocked(uid)
		if seq == 0 {
			continue
		}
		if opts.Unchanged && mb.modseqLocked(uid) > opts.UnchangedSince {
			res.Modified = append(res.Modified, uid)
			continue
		}
		cur, ok := mb.flags[uid]
		if !ok {
			if m := mb.extra[uid]; m != nil {
				cur = m.baseFlags
			} else {
				cur = base[uid]
			}
		}
		next := applyFlags(cur, op, flags)
		res.Flags[uid] = next
		if slices.Equal(applyFlags(cur, FlagsAdd, nil), next) {
			res.ModSeq[uid] = mb.modseqLocked(uid)
			continue
		}
		if modseq == 0 {
			mb.highest++
			modseq = mb.highest
		}
		mb.flags[uid] = next
		mb.modseqs[uid] = modseq
		res.ModSeq[uid] = modseq
		res.Changed[uid] = true
		mb.queueLocked(update{kind: updFetch, n: seq, uid: uid, flags: slices.Clone(next), modseq: modseq}, source)
	}
	slices.Sort(res.Modified)
	return res, nil
}

func canonFlag(f imap.Flag) imap.Flag {
	if strings.HasPrefix(string(f), `\`) {
		s := strings.ToLower(string(f))
		return imap.Flag(`\` + strings.ToUpper(s[1:2]) + s[2:])
	}
	return f
}

func applyFlags(cur []imap.Flag, op FlagOp, flags []imap.Flag) []imap.Flag {
	set := map[imap.Flag]bool{}
	if op != FlagsSet {
		for _, f := range cur {
			set[canonFlag(f)] = true
		}
	}
	for _, f := range flags {
		f = canonFlag(f)
		if strings.EqualFold(string(f), `\Recent`) {
			continue
		}
		if op == FlagsDel {
			delete(set, f)
		} else {
			set[f] = true
		}
	}
	out := make([]imap.Flag, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// HasFlag reports whether flags contains f (case-insensitively for system flags).
func HasFlag(flags []imap.Flag, f imap.Flag) bool {
	f = canonFlag(f)
	for _, x := range flags {
		if canonFlag(x) == f {
			return true
		}
	}
	return false
}

// Expunge removes the messages flagged \Deleted (restricted to uids when
// non-nil) and returns the removed UIDs with their server-view sequence
// numbers at removal time, in the order the EXPUNGE responses must be sent.
func (mb *Mailbox) Expunge(uids *imap.UIDSet) ([]Expunged, error) {
	// Find candidates: messages whose flags were changed (the override
	// map), and messages added with \Deleted (APPEND, COPY) whose flags
	// were not changed since. Base messages never carry \Deleted.
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var cands []uint32
	take := func(uid uint32, f []imap.Flag) {
		if HasFlag(f, imap.FlagDeleted) && (uids == nil || uids.Contains(imap.UID(uid))) && mb.seqOfLocked(uid) != 0 {
			cands = append(cands, uid)
		}
	}
	for uid, f := range mb.flags {
		take(uid, f)
	}
	for uid, m := range mb.extra {
		if _, changed := mb.flags[uid]; !changed {
			take(uid, m.baseFlags)
		}
	}
	return mb.removeLocked(cands), nil
}

// Expunged describes a removed message.
type Expunged struct {
	UID uint32
	Seq uint32 // sequence number at the moment it was removed
	Msg Item
}

func (mb *Mailbox) removeLocked(uids []uint32) []Expunged {
	if len(uids) == 0 {
		return nil
	}
	slices.Sort(uids)
	mb.undenseLocked()
	mb.highest++ // an EXPUNGE is a change too (RFC 7162 §3.2.10 counts on it)
	var out []Expunged
	var gone []uint32
	defer func() { mb.rememberVanishedLocked(gone, mb.highest) }()
	// Remove from the highest sequence number down, so numbers of the
	// remaining messages stay valid while the responses are queued.
	for i := len(uids) - 1; i >= 0; i-- {
		uid := uids[i]
		seq := mb.seqOfLocked(uid)
		if seq == 0 {
			continue
		}
		it := mb.itemLocked(seq, uid)
		mb.uids = slices.Delete(mb.uids, int(seq-1), int(seq))
		delete(mb.flags, uid)
		delete(mb.modseqs, uid)
		if m, ok := mb.extra[uid]; ok {
			mb.usage.Add(-m.Size)
			delete(mb.extra, uid)
		}
		mb.queueLocked(update{kind: updExpunge, n: seq, uid: uid}, nil)
		out = append(out, Expunged{UID: uid, Seq: seq, Msg: it})
		gone = append(gone, uid)
	}
	return out
}

// Remove removes messages by UID regardless of flags (MOVE).
func (mb *Mailbox) Remove(uids []uint32) []Expunged {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.removeLocked(slices.Clone(uids))
}

// Append adds a message and returns its UID. flags nil means none; a zero
// date means now.
func (mb *Mailbox) Append(raw []byte, flags []imap.Flag, date time.Time) (uint32, error) {
	if date.IsZero() {
		date = mb.store.clock.Now()
	}
	raw = encodeNULParts(raw, mb.store.limits.depth)
	if err := mb.reserve(int64(len(raw))); err != nil {
		return 0, err
	}
	m, err := parseMessage(raw, date, applyFlags(nil, FlagsAdd, flags), mb.store.limits)
	if err != nil {
		mb.usage.Add(-int64(len(raw)))
		return 0, err
	}
	return mb.appendMsg(m)
}

// NewMessage is one message of AppendAll.
type NewMessage struct {
	Raw   []byte
	Flags []imap.Flag
	Date  time.Time // zero: now
}

// AppendAll adds messages all at once (MULTIAPPEND, RFC 3502 §6.3.11): all
// of them or, with an error, none. Other sessions learn of them together.
// It returns their UIDs in order, and with an error the index of the
// message at fault (-1: the set as a whole, e.g. over quota).
func (mb *Mailbox) AppendAll(msgs []NewMessage) ([]uint32, int, error) {
	parsed := make([]*Message, len(msgs))
	var total int64
	for i, nm := range msgs {
		date := nm.Date
		if date.IsZero() {
			date = mb.store.clock.Now()
		}
		raw := encodeNULParts(nm.Raw, mb.store.limits.depth)
		m, err := parseMessage(raw, date, applyFlags(nil, FlagsAdd, nm.Flags), mb.store.limits)
		if err != nil {
			return nil, i, err
		}
		parsed[i] = m
		total += m.Size
	}
	if err := mb.reserve(total); err != nil {
		return nil, -1, err
	}
	for i, m := range parsed {
		parsed[i] = mb.store.spill(m)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.gone {
		mb.usage.Add(-total)
		return nil, -1, ErrNoMailbox
	}
	var flags []imap.Flag
	for _, m := range parsed {
		flags = append(flags, m.baseFlags...)
	}
	kw, err := mb.newKeywordsLocked(flags)
	if err != nil {
		mb.usage.Add(-total)
		return nil, -1, err
	}
	mb.defineLocked(kw)
	mb.undenseLocked()
	uids := make([]uint32, len(parsed))
	for i, m := range parsed {
		uid := mb.uidNext
		mb.uidNext++
		mb.uids = append(mb.uids, uid)
		mb.extra[uid] = m
		mb.highest++
		mb.modseqs[uid] = mb.highest
		uids[i] = uid
	}
	if len(uids) > 0 {
		mb.queueLocked(update{kind: updExists, n: uint32(len(mb.uids)), added: uint32(len(uids)), uid: uids[len(uids)-1]}, nil)
	}
	return uids, 0, nil
}

// appendMsg adds m, whose size is already charged to the quota.
func (mb *Mailbox) appendMsg(m *Message) (uint32, error) {
	m = mb.store.spill(m)
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.gone {
		mb.usage.Add(-m.Size)
		return 0, ErrNoMailbox
	}
	kw, err := mb.newKeywordsLocked(m.baseFlags)
	if err != nil {
		mb.usage.Add(-m.Size)
		return 0, err
	}
	mb.defineLocked(kw)
	mb.undenseLocked()
	uid := mb.uidNext
	mb.uidNext++
	mb.uids = append(mb.uids, uid)
	mb.extra[uid] = m
	mb.highest++
	mb.modseqs[uid] = mb.highest
	mb.queueLocked(update{kind: updExists, n: uint32(len(mb.uids)), added: 1, uid: uid}, nil)
	return uid, nil
}

// CopyTo copies the items into dest, keeping their flags and dates, and
// returns the new UIDs in order.
// The quota is checked for the whole set first: a refused COPY copies
// nothing.
func (mb *Mailbox) CopyTo(items []Item, dest *Mailbox) ([]uint32, error) {
	copies := make([]*Message, 0, len(items))
	var total int64
	for _, it := range items {
		m, err := it.Load()
		if err != nil {
			return nil, err
		}
		flags, err := it.FlagsOrBase()
		if err != nil {
			return nil, err
		}
		copies = append(copies, m.withFlags(flags))
		total += m.Size
	}
	if err := dest.reserve(total); err != nil {
		return nil, err
	}
	out := make([]uint32, 0, len(items))
	for i, cp := range copies {
		uid, err := dest.appendMsg(cp)
		if err != nil {
			for _, rest := range copies[i+1:] {
				dest.usage.Add(-rest.Size)
			}
			return out, err
		}
		out = append(out, uid)
	}
	return out, nil
}

// Stats summarises the mailbox for STATUS/SELECT.
type Stats struct {
	Messages    uint32
	UIDNext     uint32
	UIDValidity uint32
	Unseen      uint32
	FirstUnseen uint32 // sequence number, 0 if none
	Deleted     uint32
	Size        int64
	Flags       []imap.Flag
	// Recent: messages no session has seen yet (\Recent for the next).
	Recent uint32
	// HighestModSeq is HIGHESTMODSEQ (RFC 7162 §3.1.2).
	HighestModSeq uint64
}

// Stats computes the summary. Unseen counts and sizes need every message's
// flags: wantUnseen/wantSize false skip that work.
func (mb *Mailbox) Stats(wantUnseen, wantSize bool) (Stats, error) {
	mb.mu.RLock()
	st := Stats{Messages: mb.countLocked(), UIDNext: mb.uidNext, UIDValidity: mb.uidValidity, Flags: mb.flagsLocked(), HighestModSeq: mb.highest}
	for seq := st.Messages; seq >= 1 && mb.uidAtLocked(seq) >= mb.recentFrom; seq-- {
		st.Recent++
	}
	mb.mu.RUnlock()
	if !wantUnseen && !wantSize {
		return st, nil
	}
	if sm := mb.summary.Load(); sm != nil && sm.highest == st.HighestModSeq && (sm.sized || !wantSize) {
		st.Unseen, st.FirstUnseen, st.Deleted = sm.unseen, sm.firstUnseen, sm.deleted
		if wantSize {
			st.Size = sm.size
		}
		return st, nil
	}
	st, err := mb.scanStats(st, wantSize)
	if err != nil {
		return st, err
	}
	mb.mu.RLock()
	unchanged := mb.highest == st.HighestModSeq
	mb.mu.RUnlock()
	if unchanged {
		mb.summary.Store(&summary{highest: st.HighestModSeq, sized: wantSize, unseen: st.Unseen, firstUnseen: st.FirstUnseen, deleted: st.Deleted, size: st.Size})
	}
	return st, nil
}

// summary is what Stats found going through every message, at the
// mailbox's HIGHESTMODSEQ highest.
type summary struct {
	highest                      uint64
	sized                        bool // size was counted
	unseen, firstUnseen, deleted uint32
	size                         int64
}

// scanStats adds to st what every message's flags (and sizes, when
// wantSize) say.
func (mb *Mailbox) scanStats(st Stats, wantSize bool) (Stats, error) {
	for _, it := range mb.Items(nil) {
		flags, err := it.FlagsOrBase()
		if err != nil {
			return st, err
		}
		var m *Message
		if wantSize {
			if m, err = it.Load(); err != nil {
				return st, err
			}
		}
		if !HasFlag(flags, imap.FlagSeen) {
			st.Unseen++
			if st.FirstUnseen == 0 {
				st.FirstUnseen = it.Seq
			}
		}
		if HasFlag(flags, imap.FlagDeleted) {
			st.Deleted++
		}
		if wantSize {
			st.Size += m.Size
		}
	}
	return st, nil
}
