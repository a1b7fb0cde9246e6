package imapd

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
)

// resolveSet returns the messages of the selected mailbox named by numSet
// (sequence numbers in this session's view, or UIDs), with their
// client-view sequence numbers.
func (s *session) resolveSet(numSet imap.NumSet) ([]store.Item, []uint32) {
	if s.mb == nil {
		return nil, nil
	}
	if imap.IsSearchRes(numSet) {
		// Compare the UIDSet itself: stored in the NumSet interface, a nil
		// UIDSet is a typed nil that never equals nil.
		if s.lastRes == nil {
			return nil, nil
		}
		numSet = s.lastRes
	}
	var items []store.Item
	switch set := numSet.(type) {
	case imap.SeqSet:
		// "*" is the last message the client knows of (RFC 9051 §9).
		items = s.view.ItemsIn(staticSeqSet(set, s.view.Count()))
	case imap.UIDSet:
		// Messages the client was not told of yet are left out: their
		// sequence numbers would be unknown to it (RFC 9051 §7.5.1).
		items = s.view.ItemsIn(staticUIDSet(set, s.mb.MaxUID()))
	}
	clientSeqs := make([]uint32, len(items))
	for i, it := range items {
		clientSeqs[i] = it.Seq
	}
	return items, clientSeqs
}

// textNoSuchMessage begins the refusal of a sequence number beyond the
// messages the client knows of.
const textNoSuchMessage = "Invalid sequence set: no message"

// seqRangeErr refuses a sequence set that names a message the client has
// not been told of: a number above its message count, or "*" in an empty
// mailbox (RFC 9051 §9: the server should answer BAD). Dovecot refuses
// FETCH, STORE, COPY and MOVE so, before anything else; SEARCH matches
// what exists. The refusal is an event with reason no_such_message.
func (s *session) seqRangeErr(numSet imap.NumSet, action, cmd string) error {
	set, ok := numSet.(imap.SeqSet)
	if !ok || s.mb == nil {
		return nil
	}
	n := s.view.Count()
	for _, r := range set {
		for _, v := range []uint32{r.Start, r.Stop} {
			if v > n || (v == 0 && n == 0) { // 0 is "*"
				s.emit(s.mailboxEvent(audit.Event{Action: action, Command: cmd, Outcome: audit.Failure, Reason: "no_such_message"}, s.mbName, s.mbOwner))
				num := "*"
				if v != 0 {
					num = strconv.FormatUint(uint64(v), 10)
				}
				return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug,
					Text: fmt.Sprintf("%s %s (%d in the mailbox)", textNoSuchMessage, num, n)}
			}
		}
	}
	return nil
}

func staticSeqSet(set imap.SeqSet, max uint32) imap.SeqSet {
	out := make(imap.SeqSet, len(set))
	copy(out, set)
	for i := range out {
		staticRange(&out[i].Start, &out[i].Stop, max)
	}
	return out
}

func staticUIDSet(set imap.UIDSet, max uint32) imap.UIDSet {
	out := make(imap.UIDSet, len(set))
	copy(out, set)
	for i := range out {
		a, b := uint32(out[i].Start), uint32(out[i].Stop)
		staticRange(&a, &b, max)
		out[i].Start, out[i].Stop = imap.UID(a), imap.UID(b)
	}
	return out
}

func staticRange(start, stop *uint32, max uint32) {
	dyn := false
	if *start == 0 {
		*start, dyn = max, true
	}
	if *stop == 0 {
		*stop, dyn = max, true
	}
	if *start > *stop && dyn {
		*start, *stop = *stop, *start
	}
}

func (s *session) readOnlyErr() error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("READ-ONLY"), Text: "Mailbox is read-only (EXAMINE)"}
}

// Store changes flags.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	s.holdResponses()
	if err := s.seqRangeErr(numSet, audit.IMAPStore, "STORE"); err != nil {
		return err
	}
	items, seqs := s.resolveSet(numSet)
	e := s.mailboxEvent(audit.Event{Action: audit.IMAPStore, Command: "STORE", Flags: storeOpString(flags)}, s.mbName, s.mbOwner)
	if s.readOnly {
		e.Outcome, e.Reason = audit.Failure, "read_only"
		s.emit(e)
		return s.readOnlyErr()
	}
	op := store.FlagsAdd
	switch flags.Op {
	case imap.StoreFlagsSet:
		op = store.FlagsSet
	case imap.StoreFlagsDel:
		op = store.FlagsDel
	}
	uids := make([]uint32, len(items))
	for i, it := range items {
		uids[i] = it.UID
	}
	var opts store.StoreOptions
	if req := s.cond(); req != nil && req.unchangedSince != nil {
		opts = store.StoreOptions{Unchanged: true, UnchangedSince: *req.unchangedSince}
	}
	res, err := s.mb.Store(uids, op, flags.Flags, s.view, opts)
	if errors.Is(err, store.ErrTooManyKeywords) {
		e.Outcome, e.Reason = audit.Failure, "limit_keywords"
		s.emit(e)
		return imapErr(err)
	}
	if err != nil {
		return err
	}
	modified := map[uint32]bool{}
	for _, uid := range res.Modified {
		modified[uid] = true
	}
	// MODIFIED (RFC 7162 §3.1.3): UIDs for UID STORE, else sequence numbers.
	var uidMod imap.UIDSet
	var seqMod imap.SeqSet
	for i, it := range items {
		ev := e
		ev.Outcome = audit.Success
		ev.MessageUID = it.UID
		if s.condstore {
			ev.ModSeq = res.ModSeq[it.UID]
		}
		if modified[it.UID] {
			// Changed by someone else since the client's UNCHANGEDSINCE.
			ev.Outcome, ev.Reason, ev.ModSeq = audit.Failure, "modified", it.ModSeq
			if s.conn.current() == "UID STORE" {
				uidMod.AddNum(imap.UID(it.UID))
			} else {
				seqMod.AddNum(seqs[i])
			}
		}
		s.emit(ev)
	}
	if len(uidMod) > 0 || len(seqMod) > 0 {
		s.conn.cs.mu.Lock()
		s.conn.cs.modified = uidMod.String() + seqMod.String()
		s.conn.cs.mu.Unlock()
	}
	if flags.Silent && !s.condstore {
		return nil
	}
	for i, it := range items {
		f, ok := res.Flags[it.UID]
		if !ok || seqs[i] == 0 {
			continue
		}
		if s.condstore {
			// With CONDSTORE, as Dovecot does: a FETCH for each message
			// whose flags changed, with its new MODSEQ, even with .SILENT
			// (RFC 7162 §3.1.3); none for the others.
			if !res.Changed[it.UID] {
				continue
			}
			s.conn.pushModSeq(seqs[i], res.ModSeq[it.UID])
		}
		if !flags.Silent {
			if err := s.announceFlags(); err != nil {
				return err
			}
		}
		rw := w.CreateMessage(seqs[i])
		rw.WriteUID(imap.UID(it.UID))
		if !flags.Silent {
			rw.WriteFlags(s.withRecent(it.UID, f))
		}
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

func storeOpString(f *imap.StoreFlags) string {
	op := "FLAGS"
	switch f.Op {
	case imap.StoreFlagsAdd:
		op = "+FLAGS"
	case imap.StoreFlagsDel:
		op = "-FLAGS"
	}
	return op + " " + flagList(f.Flags)
}

// flagList writes flags as an IMAP list: "(\Seen $Label1)".
func flagList(flags []imap.Flag) string {
	s := "("
	for i, fl := range flags {
		if i > 0 {
			s += " "
		}
		s += string(fl)
	}
	return s + ")"
}

// Expunge removes \Deleted messages.
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if s.readOnly && s.conn.current() == "CLOSE" {
		// CLOSE after EXAMINE closes without expunging, and answers OK
		// (RFC 3501 §6.4.2, RFC 9051 §6.4.1).
		return nil
	}
	if s.readOnly {
		s.emit(s.mailboxEvent(audit.Event{Action: audit.IMAPExpunge, Command: "EXPUNGE", Outcome: audit.Failure, Reason: "read_only"}, s.mbName, s.mbOwner))
		return s.readOnlyErr()
	}
	removed, err := s.mb.Expunge(uids)
	if err != nil {
		return err
	}
	// The EXPUNGE responses reach this session, like every other, through
	// the tracker when imapserver polls after the command.
	for _, r := range removed {
		s.emit(s.expungeEvent(audit.IMAPExpunge, "EXPUNGE", r))
	}
	return nil
}

func (s *session) expungeEvent(action, cmd string, r store.Expunged) audit.Event {
	e := s.mailboxEvent(audit.Event{Action: action, Command: cmd, Outcome: audit.Success, MessageUID: r.UID}, s.mbName, s.mbOwner)
	if m, err := r.Msg.Load(); err == nil {
		e.MessageID, e.MessageSubj, e.MessageSize = m.MessageID, m.Subject, m.Size
	}
	return e
}

// Copy copies messages to another mailbox.
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if err := s.seqRangeErr(numSet, audit.IMAPCopy, "COPY"); err != nil {
		return nil, err
	}
	data, _, err := s.copyMove(numSet, dest, audit.IMAPCopy, "COPY")
	return data, err
}

func (s *session) copyMove(numSet imap.NumSet, dest, action, cmd string) (*imap.CopyData, []store.Item, error) {
	items, _ := s.resolveSet(numSet)
	dmb, downer, err := s.mailbox(dest)
	base := s.mailboxEvent(audit.Event{Action: action, Command: cmd, DestMailbox: dest}, s.mbName, s.mbOwner)
	if err != nil {
		if !isNameErr(err) {
			err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
		}
		s.emitResult(base, err)
		return nil, nil, err
	}
	_ = downer
	// MOVE into the mailbox the messages are in moves them all the same:
	// new UIDs, COPYUID, then EXPUNGE of the old ones (as Dovecot does;
	// RFC 6851 §3.3 does not forbid it).
	if len(items) == 0 {
		// Nothing matched (e.g. UID COPY of expunged UIDs): a plain OK
		// without COPYUID, which cannot carry empty sets (RFC 4315).
		base.Outcome, base.Reason, base.SearchHits = audit.Success, "no_messages", audit.Int(0)
		s.emit(base)
		return nil, nil, nil
	}
	newUIDs, err := s.mb.CopyTo(items, dmb)
	if err != nil {
		s.emitResult(base, err)
		return nil, nil, imapErr(err)
	}
	var src, dst imap.UIDSet
	for i, it := range items[:len(newUIDs)] {
		src.AddNum(imap.UID(it.UID))
		dst.AddNum(imap.UID(newUIDs[i]))
		ev := base
		ev.Outcome = audit.Success
		ev.MessageUID = it.UID
		if m, err := it.Load(); err == nil {
			ev.MessageID, ev.MessageSubj, ev.MessageSize = m.MessageID, m.Subject, m.Size
		}
		s.emit(ev)
	}
	return &imap.CopyData{UIDValidity: dmb.UIDValidity(), SourceUIDs: src, DestUIDs: dst}, items, nil
}

// Move moves messages to another mailbox.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if err := s.seqRangeErr(numSet, audit.IMAPMove, "MOVE"); err != nil {
		return err
	}
	if s.readOnly {
		s.emit(s.mailboxEvent(audit.Event{Action: audit.IMAPMove, Command: "MOVE", DestMailbox: dest, Outcome: audit.Failure, Reason: "read_only"}, s.mbName, s.mbOwner))
		return s.readOnlyErr()
	}
	data, items, err := s.copyMove(numSet, dest, audit.IMAPMove, "MOVE")
	if err != nil {
		return err
	}
	if data == nil {
		return nil // empty set: nothing moved
	}
	if err := w.WriteCopyData(data); err != nil {
		return err
	}
	uids := make([]uint32, len(items))
	for i, it := range items {
		uids[i] = it.UID
	}
	s.mb.Remove(uids) // EXPUNGE responses follow through the tracker
	return nil
}
