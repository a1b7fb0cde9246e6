package store

import (
	"slices"

	"github.com/emersion/go-imap/v2"
)

// MaxVanished bounds the expunged UIDs one mailbox remembers, with the
// mod-sequence of their EXPUNGE, for QRESYNC (RFC 7162 §3.2.5, §3.2.6).
// Past it the oldest half is forgotten and the mailbox remembers only the
// highest mod-sequence forgotten: a client that resynchronises from before
// it is sent a superset (every UID below UIDNEXT that is not present),
// which RFC 7162 §3.2.5.1 allows.
const MaxVanished = 10_000

// vanishedUID is an expunged message: its UID and its EXPUNGE's
// mod-sequence.
type vanishedUID struct {
	uid    uint32
	modseq uint64
}

// rememberVanishedLocked records the UIDs expunged at mod-sequence modseq.
// mb.mu is held for writing.
func (mb *Mailbox) rememberVanishedLocked(uids []uint32, modseq uint64) {
	for _, u := range uids {
		mb.vanished = append(mb.vanished, vanishedUID{u, modseq})
	}
	if len(mb.vanished) > MaxVanished {
		drop := len(mb.vanished) - MaxVanished/2
		mb.vanishedFloor = max(mb.vanishedFloor, mb.vanished[drop-1].modseq)
		mb.vanished = slices.Clone(mb.vanished[drop:])
	}
}

// vanishedLocked returns the UIDs in known (nil: all) expunged after
// mod-sequence since. exact is false when some of those were forgotten
// (see MaxVanished): the set is then every UID in known below UIDNEXT that
// is not present. mb.mu is held.
func (mb *Mailbox) vanishedLocked(since uint64, known imap.UIDSet) (set imap.UIDSet, exact bool) {
	in := func(uid uint32) bool { return known == nil || known.Contains(imap.UID(uid)) }
	if since >= mb.vanishedFloor {
		var uids []uint32
		for _, v := range mb.vanished {
			if v.modseq > since && in(v.uid) {
				uids = append(uids, v.uid)
			}
		}
		return uidRanges(uids), true
	}
	// The gaps between present UIDs, below UIDNEXT.
	n := mb.countLocked()
	next := uint32(1)
	add := func(lo, hi uint32) {
		for _, r := range clip(known, lo, hi) {
			set = append(set, r)
		}
	}
	for seq := uint32(1); seq <= n; seq++ {
		uid := mb.uidAtLocked(seq)
		if uid > next {
			add(next, uid-1)
		}
		next = uid + 1
	}
	if mb.uidNext > next {
		add(next, mb.uidNext-1)
	}
	return set, false
}

// clip returns the parts of [lo, hi] in known (nil: all of it).
func clip(known imap.UIDSet, lo, hi uint32) []imap.UIDRange {
	if known == nil {
		return []imap.UIDRange{{Start: imap.UID(lo), Stop: imap.UID(hi)}}
	}
	var out []imap.UIDRange
	for _, r := range known {
		a, b := uint32(r.Start), uint32(r.Stop)
		if b == 0 {
			b = ^uint32(0) // "*"
		}
		if a > b {
			a, b = b, a
		}
		a, b = max(a, lo), min(b, hi)
		if a <= b {
			out = append(out, imap.UIDRange{Start: imap.UID(a), Stop: imap.UID(b)})
		}
	}
	return out
}

// uidRanges makes a UID set of uids, as ranges.
func uidRanges(uids []uint32) imap.UIDSet {
	slices.Sort(uids)
	uids = slices.Compact(uids)
	var set imap.UIDSet
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		set = append(set, imap.UIDRange{Start: imap.UID(uids[i]), Stop: imap.UID(uids[j])})
		i = j + 1
	}
	return set
}

// Vanished returns the UIDs in known (nil: all) expunged after
// mod-sequence since (UID FETCH ... (CHANGEDSINCE since VANISHED), RFC 7162
// §3.2.6); see vanishedLocked for exact.
func (mb *Mailbox) Vanished(since uint64, known imap.UIDSet) (set imap.UIDSet, exact bool) {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	return mb.vanishedLocked(since, known)
}

// Resync is what a QRESYNC SELECT (RFC 7162 §3.2.5) asks of Open: the
// expunges since ModSeq among the Known UIDs (nil: all).
type Resync struct {
	ModSeq uint64
	Known  imap.UIDSet
}

// OpenResync is Open that also returns, taken at the same instant, the
// UIDs expunged since r.ModSeq (VANISHED (EARLIER)): none of them can then
// reach the view as an EXPUNGE too.
func (mb *Mailbox) OpenResync(readOnly bool, r Resync) (*View, Stats, imap.UIDSet, bool) {
	mb.mu.Lock()
	set, exact := mb.vanishedLocked(r.ModSeq, r.Known)
	v, st := mb.openLocked(readOnly)
	mb.mu.Unlock()
	return v, st, set, exact
}
