package imapd

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
)

// QRESYNC (RFC 7162 §3.2), built like CONDSTORE (condstore.go): the wire
// shim takes the syntax go-imap does not parse out of the commands, the
// session does the work, and the response writer adds what the responses
// need:
//   - ENABLE QRESYNC: "QRESYNC" added to "* ENABLED"; CONDSTORE is
//     enabled with it (§3.2.3); from then on the shim accepts the commands
//     below, and every EXPUNGE response is written as "* VANISHED uid"
//     (§3.2.10);
//   - SELECT/EXAMINE name (QRESYNC (uidvalidity modseq [known-uids
//     [seq-match]])): the parameter dropped (refused with BAD before
//     ENABLE QRESYNC); when the UIDVALIDITY matches, "* VANISHED (EARLIER)
//     uids" and a FETCH (UID, FLAGS, MODSEQ) of each message changed since
//     modseq, among the known UIDs, written before the tagged OK (§3.2.5);
//   - UID FETCH set items (CHANGEDSINCE n VANISHED): VANISHED dropped;
//     "* VANISHED (EARLIER) uids" for the UIDs of set expunged since n,
//     before the FETCH responses (§3.2.6).
// The CLOSED response code on a SELECT that closes a mailbox (§3.2.11) is
// go-imap's.
//
// Expunged UIDs are remembered with their mod-sequence, at most
// store.MaxVanished per mailbox; older ones are answered with a superset
// (every UID below UIDNEXT that is not present), as §3.2.5.1 allows. The
// seq-match data, meant for servers that keep no such record, is checked
// for syntax and not otherwise used.

// resyncParam is SELECT's QRESYNC parameter.
type resyncParam struct {
	uidValidity uint32
	modSeq      uint64
	known       imap.UIDSet // nil: all
}

// resyncSelect takes a QRESYNC parameter off a SELECT or EXAMINE line.
func resyncSelect(l []byte) (string, *resyncParam, bool) {
	const p = " (QRESYNC ("
	i := strings.Index(strings.ToUpper(string(l)), p)
	if i < 0 || !bytes.HasSuffix(l, []byte("))")) {
		return "", nil, false
	}
	inner := string(l[i+len(p) : len(l)-2])
	head := inner
	if k := strings.IndexByte(inner, '('); k >= 0 {
		// seq-match-data: "(" known-sequence-set SP known-uid-set ")".
		m := inner[k:]
		f := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(m, "("), ")"))
		if !strings.HasSuffix(m, ")") || len(f) != 2 {
			return "", nil, false
		}
		seqs, err := parseUIDSet(f[0])
		if err != nil {
			return "", nil, false
		}
		uids, err := parseUIDSet(f[1])
		if err != nil {
			return "", nil, false
		}
		// The two sets pair their elements (§3.2.5.2): as many of each.
		n1, ok1 := setSize(seqs)
		n2, ok2 := setSize(uids)
		if ok1 && ok2 && n1 != n2 {
			return "", nil, false
		}
		head = inner[:k]
	}
	f := strings.Fields(head)
	if len(f) < 2 || len(f) > 3 || (len(f) == 2 && head != inner) {
		return "", nil, false
	}
	uv, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil || uv == 0 {
		return "", nil, false
	}
	ms, err := strconv.ParseUint(f[1], 10, 63)
	if err != nil || ms == 0 {
		return "", nil, false
	}
	r := &resyncParam{uidValidity: uint32(uv), modSeq: ms}
	if len(f) == 3 {
		if r.known, err = parseUIDSet(f[2]); err != nil {
			return "", nil, false
		}
	}
	return string(l[:i]), r, true
}

// setSize counts the numbers of a set without "*" (ok false with one).
func setSize(set imap.UIDSet) (n uint64, ok bool) {
	for _, r := range set {
		if r.Start == 0 || r.Stop == 0 {
			return 0, false
		}
		n += uint64(r.Stop-r.Start) + 1
	}
	return n, true
}

var errUIDSet = errors.New("invalid UID set")

// parseUIDSet parses a sequence-set of UIDs ("1:4,7,9:*").
func parseUIDSet(s string) (imap.UIDSet, error) {
	var set imap.UIDSet
	num := func(t string) (imap.UID, error) {
		if t == "*" {
			return 0, nil
		}
		n, err := strconv.ParseUint(t, 10, 32)
		if err != nil || n == 0 {
			return 0, errUIDSet
		}
		return imap.UID(n), nil
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, ":")
		lo, err := num(a)
		if err != nil {
			return nil, err
		}
		hi := lo
		if isRange {
			if hi, err = num(b); err != nil {
				return nil, err
			}
		}
		// Kept sorted and merged: UIDSet.Contains searches it.
		set.AddRange(lo, hi)
	}
	return set, nil
}

// pushVanished says that the next EXPUNGE response is about uid.
func (c *conn) pushVanished(uid uint32) {
	c.cs.mu.Lock()
	c.cs.vanishedUIDs = append(c.cs.vanishedUIDs, uid)
	c.cs.mu.Unlock()
}

// vanishedRewrite writes "* n EXPUNGE" as "* VANISHED uid" once QRESYNC is
// enabled (RFC 7162 §3.2.10).
func (c *conn) vanishedRewrite(l []byte) ([]byte, bool) {
	if !c.qresync.Load() || !bytes.HasPrefix(l, []byte("* ")) || !bytes.HasSuffix(l, []byte(" EXPUNGE")) {
		return nil, false
	}
	if _, err := strconv.ParseUint(string(l[2:len(l)-len(" EXPUNGE")]), 10, 32); err != nil {
		return nil, false
	}
	c.cs.mu.Lock()
	defer c.cs.mu.Unlock()
	if len(c.cs.vanishedUIDs) == 0 {
		return nil, false
	}
	uid := c.cs.vanishedUIDs[0]
	c.cs.vanishedUIDs = c.cs.vanishedUIDs[1:]
	c.cs.vanishedSent = true
	return []byte("* VANISHED " + strconv.FormatUint(uint64(uid), 10)), true
}

// enableQresync turns QRESYNC on for the session (and CONDSTORE with it).
func (s *session) enableQresync() {
	s.enableCondstore()
	s.qresync = true
	s.conn.qresync.Store(true)
	if s.view != nil {
		s.view.OnExpunge(s.conn.pushVanished)
	}
}

// openResync opens the view of a SELECT or EXAMINE with a QRESYNC
// parameter (RFC 7162 §3.2.5) and leaves the VANISHED (EARLIER) and FETCH
// responses for the tagged OK. It returns the view and what the audit
// event records: how many UIDs VANISHED named and how many FETCH
// responses were sent.
func (s *session) openResync(mb *store.Mailbox, readOnly bool, r *resyncParam) (*store.View, store.Stats, int, int, error) {
	if r.uidValidity != mb.UIDValidity() {
		// The client's cache is of another mailbox: a plain SELECT.
		v, st := mb.Open(readOnly)
		return v, st, 0, 0, nil
	}
	view, st, gone, _ := mb.OpenResync(readOnly, store.Resync{ModSeq: r.modSeq, Known: r.known})
	var b strings.Builder
	vanished := 0
	if len(gone) > 0 {
		b.WriteString("* VANISHED (EARLIER) " + gone.String() + "\r\n")
		for _, rg := range gone {
			vanished += int(rg.Stop-rg.Start) + 1
		}
	}
	changed := view.Items(func(_, uid uint32) bool { return r.known == nil || r.known.Contains(imap.UID(uid)) })
	fetched := 0
	for _, it := range changed {
		if it.ModSeq <= r.modSeq {
			continue
		}
		flags, err := it.FlagsOrBase()
		if err != nil {
			view.Close()
			return nil, st, 0, 0, err
		}
		recent := s.rev1() && view.Recent(it.UID)
		b.WriteString("* " + strconv.FormatUint(uint64(it.Seq), 10) + " FETCH (UID " + strconv.FormatUint(uint64(it.UID), 10) + " FLAGS (")
		for i, f := range flags {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(string(f))
		}
		if recent {
			if len(flags) > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(string(store.FlagRecent))
		}
		b.WriteString(") MODSEQ (" + strconv.FormatUint(it.ModSeq, 10) + "))\r\n")
		fetched++
	}
	s.conn.cs.mu.Lock()
	s.conn.cs.selectExtra = b.String()
	s.conn.cs.mu.Unlock()
	return view, st, vanished, fetched, nil
}

// fetchVanished writes UID FETCH's "* VANISHED (EARLIER)" response
// (RFC 7162 §3.2.6) for the UIDs of set expunged since changedSince.
// Written to the client directly, before go-imap writes the FETCH
// responses: imapserver has flushed every earlier response.
func (s *session) fetchVanished(set imap.NumSet, changedSince uint64) error {
	uids, ok := set.(imap.UIDSet)
	if !ok || s.mb == nil {
		return nil
	}
	gone, _ := s.mb.Vanished(changedSince, uids)
	if len(gone) == 0 {
		return nil
	}
	n := 0
	for _, rg := range gone {
		n += int(rg.Stop-rg.Start) + 1
	}
	e := s.mailboxEvent(audit.Event{Action: audit.IMAPFetch, Outcome: audit.Success, Command: "UID FETCH",
		FetchItems: "VANISHED (CHANGEDSINCE " + strconv.FormatUint(changedSince, 10) + ")", Vanished: n}, s.mbName, s.mbOwner)
	s.emit(e)
	return s.conn.writeClient("* VANISHED (EARLIER) " + gone.String() + "\r\n")
}
