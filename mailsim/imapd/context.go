package imapd

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
)

// CONTEXT=SEARCH (RFC 5267 §4) is not known to go-imap either. The wire
// shim takes the RETURN options UPDATE, CONTEXT and PARTIAL out of a
// SEARCH (relaying "RETURN (SAVE)" or "RETURN ()" in their place) and
// leaves a sortRequest with search set, as for SORT (sort.go); the
// session's Search builds the whole ESEARCH response, and with UPDATE
// keeps the search live: after every poll of the mailbox it evaluates the
// search again over what the client now knows of, and sends
// "* ESEARCH (TAG t) [UID] REMOVEFROM (0 set) ADDTO (0 set)" for what left
// or joined the result. A message about to be expunged leaves it just
// before its EXPUNGE is sent (store.View.OnExpunges), with the sequence
// number the client knows it by. CANCELUPDATE is answered by the shim.
// For a SEARCH, as Dovecot does, the position in ADDTO and REMOVEFROM is
// always 0 (RFC 5267 §4.3: the client places an unsorted result by its
// numbers). A SORT with RETURN (UPDATE) (CONTEXT=SORT, which Dovecot 2.3
// does not offer) keeps its result in sort order and sends one
// (position number) pair per message, to be applied in order: removals
// from the last, each at its position before it goes; additions in sort
// order, each at its position once inserted.

// contextCaps are advertised after login.
var contextCaps = []string{"CONTEXT=SEARCH", "CONTEXT=SORT"}

// MaxLiveSearches bounds the searches kept live (RETURN (UPDATE)) in one
// session, as Dovecot 2.3 does (CLIENT_MAX_SEARCH_UPDATES, 10): one more
// is answered, with "* NO [NOUPDATE tag]" (RFC 5267 §4.2), but not kept.
const MaxLiveSearches = 10

// contextOpts are the RFC 5267 §4 RETURN options of a SEARCH or SORT.
type contextOpts struct {
	update  bool
	partial [2]uint32 // the PARTIAL range, low first; zero when absent
}

func (o contextOpts) partialString() string {
	if o.partial[0] == 0 {
		return ""
	}
	return fmt.Sprintf("%d:%d", o.partial[0], o.partial[1])
}

// isContextOption tells whether a RETURN option belongs to CONTEXT=SEARCH.
func isContextOption(o string) bool {
	switch strings.ToUpper(o) {
	case "UPDATE", "CONTEXT", "PARTIAL":
		return true
	}
	return false
}

// parseReturnOptions parses the words of a RETURN list: ESEARCH's MIN,
// MAX, COUNT and ALL (RFC 4731), SAVE (RFC 5182) and CONTEXT=SEARCH's
// UPDATE, CONTEXT and PARTIAL low:high (RFC 5267 §4). Its refusals are
// Dovecot's: a repeated UPDATE or PARTIAL, a PARTIAL range that is not two
// non-zero numbers, PARTIAL with ALL.
func parseReturnOptions(words []string) (ret []string, save bool, ctx contextOpts, err error) {
	ret = []string{}
	for i := 0; i < len(words); i++ {
		o := strings.ToUpper(words[i])
		switch o {
		case "MIN", "MAX", "COUNT", "ALL":
			if !slices.Contains(ret, o) {
				ret = append(ret, o)
			}
		case "SAVE":
			save = true
		case "CONTEXT":
			// RFC 5267 §4.2: a hint that UPDATE or CANCELUPDATE may follow.
		case "UPDATE":
			if ctx.update {
				return nil, false, ctx, fmt.Errorf("SEARCH return options have duplicate UPDATE")
			}
			ctx.update = true
		case "PARTIAL":
			if ctx.partial[0] != 0 {
				return nil, false, ctx, fmt.Errorf("PARTIAL can be used only once")
			}
			if i+1 == len(words) {
				return nil, false, ctx, fmt.Errorf("PARTIAL range missing")
			}
			i++
			lo, hi, ok := parsePartialRange(words[i])
			if !ok {
				return nil, false, ctx, fmt.Errorf("PARTIAL range broken: want low:high, two numbers from 1")
			}
			ctx.partial = [2]uint32{lo, hi}
		default:
			return nil, false, ctx, fmt.Errorf("unknown SEARCH return option %q", words[i])
		}
	}
	if ctx.partial[0] != 0 && slices.Contains(ret, "ALL") {
		return nil, false, ctx, fmt.Errorf("PARTIAL conflicts with ALL")
	}
	return ret, save, ctx, nil
}

// parsePartialRange parses "low:high", two nz-numbers (RFC 5267 §6), in
// either order.
func parsePartialRange(s string) (lo, hi uint32, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(a, 10, 32)
	y, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil || x == 0 || y == 0 || a[0] == '+' || b[0] == '+' {
		return 0, 0, false
	}
	return uint32(min(x, y)), uint32(max(x, y)), true
}

// parseContextSearch parses what follows "SEARCH " when its RETURN options
// include one of CONTEXT=SEARCH. It returns nil when they do not, else the
// request and the command's arguments for go-imap, without them.
func parseContextSearch(tag string, uid bool, args []byte) (*sortRequest, []byte, error) {
	r := bytes.TrimLeft(args, " ")
	if len(r) < 7 || !strings.EqualFold(string(r[:7]), "RETURN ") {
		return nil, nil, nil
	}
	r = bytes.TrimLeft(r[7:], " ")
	end := bytes.IndexByte(r, ')')
	if len(r) == 0 || r[0] != '(' || end < 0 || bytes.IndexByte(r[1:end], '(') >= 0 {
		return nil, nil, nil // go-imap refuses it
	}
	words := strings.Fields(string(r[1:end]))
	if !slices.ContainsFunc(words, isContextOption) {
		return nil, nil, nil
	}
	ret, save, ctx, err := parseReturnOptions(words)
	if err != nil {
		return nil, nil, err
	}
	keys := bytes.TrimLeft(r[end+1:], " ")
	if len(bytes.TrimSpace(keys)) == 0 {
		return nil, nil, fmt.Errorf("missing search keys")
	}
	req := &sortRequest{tag: tag, uid: uid, search: true, ret: ret, ctx: &ctx}
	switch {
	case len(ret) == 0 && !ctx.update && ctx.partial[0] == 0 && !save:
		req.ret = []string{"ALL"} // RETURN (CONTEXT): ESEARCH's default
	case len(ret) == 0 && !ctx.update && ctx.partial[0] == 0:
		req.silent = true // SAVE alone, as RFC 5182 §2.4 wants
	}
	relayed := "RETURN () "
	if save {
		relayed = "RETURN (SAVE) "
	}
	return req, append([]byte(relayed), keys...), nil
}

// esearchResponse writes the ESEARCH response of a SEARCH or SORT with
// RETURN options: MIN, MAX, ALL, PARTIAL and COUNT, in that order (as
// Dovecot writes them); nums are in result order (the sort order for
// SORT: MIN and MAX are then its first and last, RFC 5267 §3.2).
func (req *sortRequest) esearchResponse(nums []uint32) []byte {
	var b strings.Builder
	b.WriteString("* ESEARCH (TAG " + quoteIMAP(req.tag) + ")")
	if req.uid {
		b.WriteString(" UID")
	}
	has := func(o string) bool { return slices.Contains(req.ret, o) }
	if len(nums) > 0 {
		if has("MIN") {
			fmt.Fprintf(&b, " MIN %d", nums[0])
		}
		if has("MAX") {
			fmt.Fprintf(&b, " MAX %d", nums[len(nums)-1])
		}
		if has("ALL") {
			b.WriteString(" ALL " + orderedSet(nums))
		}
	}
	if req.ctx != nil && req.ctx.partial[0] != 0 {
		// RFC 5267 §4.4: the part of the result from position low to
		// high (from 1), NIL when the result does not reach low.
		lo, hi := int(req.ctx.partial[0]), int(req.ctx.partial[1])
		b.WriteString(" PARTIAL (" + req.ctx.partialString() + " ")
		if lo > len(nums) {
			b.WriteString("NIL")
		} else {
			b.WriteString(orderedSet(nums[lo-1 : min(hi, len(nums))]))
		}
		b.WriteString(")")
	}
	if has("COUNT") {
		fmt.Fprintf(&b, " COUNT %d", len(nums))
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// liveSearch is a search kept live by RETURN (UPDATE).
type liveSearch struct {
	tag      string
	uid      bool
	criteria *imap.SearchCriteria // as evaluated first: "*" and "$" fixed
	result   map[uint32]bool      // UIDs of the messages in the result
	// SORT (CONTEXT=SORT): its sort criteria, and the result in sort
	// order, each message with only what sorting needs.
	keys  []sortKey
	order []sortItem
	// seen is the mailbox's HIGHESTMODSEQ and maxUID the highest UID the
	// client knew of when the search was last evaluated: a message with
	// a higher mod-sequence or UID may have joined or left the result.
	// bySeq: the criteria name sequence numbers; every message may have.
	seen   uint64
	maxUID uint32
	bySeq  bool
}

// keepLive makes a search live; false when the session has
// MaxLiveSearches already. sorted is a SORT's result, in order; seen the
// mailbox's HIGHESTMODSEQ before its items were read, items those items.
func (s *session) keepLive(req *sortRequest, criteria *imap.SearchCriteria, uids []imap.UID, sorted []sortItem, seen uint64, items []store.Item) bool {
	ls := &liveSearch{tag: req.tag, uid: req.uid, criteria: criteria, result: make(map[uint32]bool, len(uids)), seen: seen, bySeq: hasSeqNum(criteria)}
	if len(items) > 0 {
		ls.maxUID = items[len(items)-1].UID
	}
	for _, u := range uids {
		ls.result[uint32(u)] = true
	}
	if !req.search {
		ls.keys = req.keys
		ls.order = make([]sortItem, len(sorted))
		for i, si := range sorted {
			ls.order[i] = si.lite()
		}
	}
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if len(s.live) >= MaxLiveSearches {
		return false
	}
	s.live = append(s.live, ls)
	s.liveKey = [2]uint64{} // look again at the next poll
	return true
}

// lite keeps of a sort item what its sort keys compare, not the message.
func (si sortItem) lite() sortItem {
	si.msg = &store.Message{InternalDate: si.msg.InternalDate, Size: si.msg.Size, Subject: si.msg.Subject}
	return si
}

// liveCompare orders a live SORT's messages: by its keys, ties by UID
// (the order of sequence numbers, which expunges shift).
func (ls *liveSearch) liveCompare(a, b sortItem) int {
	for _, k := range ls.keys {
		if c := a.compare(b, k); c != 0 {
			return c
		}
	}
	return cmpInt(int64(a.uid), int64(b.uid))
}

// posNum is a position in a SORT result (from 1) and a message number.
type posNum struct{ pos, num uint32 }

// removeSorted takes out of a live SORT's order the messages gone says
// go, the last first, and returns their positions before each removal,
// with the number (UID or sequence number) num gives.
func (ls *liveSearch) removeSorted(gone func(uid uint32) bool, num func(uid uint32) uint32) []posNum {
	var out []posNum
	for i := len(ls.order) - 1; i >= 0; i-- {
		u := ls.order[i].uid
		if gone(u) {
			out = append(out, posNum{uint32(i + 1), num(u)})
			ls.order = slices.Delete(ls.order, i, i+1)
			delete(ls.result, u)
		}
	}
	return out
}

// isLive tells whether tag names a live search (CANCELUPDATE, and a new
// UPDATE search may not reuse its tag).
func (s *session) isLive(tag string) bool {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	return slices.ContainsFunc(s.live, func(ls *liveSearch) bool { return ls.tag == tag })
}

// dropLive ends every live search: the mailbox is no longer selected.
func (s *session) dropLive() {
	s.liveMu.Lock()
	s.live = nil
	s.liveMu.Unlock()
}

// cancelUpdates ends the live searches of the tags, in order, up to the
// first that is not live (as Dovecot does), and audits the command as
// imap.search. It returns the tag not found, "" when all were.
func (s *session) cancelUpdates(tags []string) string {
	missing := ""
	s.liveMu.Lock()
	for _, t := range tags {
		i := slices.IndexFunc(s.live, func(ls *liveSearch) bool { return ls.tag == t })
		if i < 0 {
			missing = t
			break
		}
		s.live = slices.Delete(s.live, i, i+1)
	}
	s.liveMu.Unlock()
	quoted := make([]string, len(tags))
	for i, t := range tags {
		quoted[i] = quoteIMAP(t)
	}
	e := audit.Event{Action: audit.IMAPSearch, Command: "CANCELUPDATE", Search: strings.Join(quoted, " "), Outcome: audit.Success}
	if s.view != nil {
		e = s.mailboxEvent(e, s.mbName, s.mbOwner)
	}
	if missing != "" {
		e.Outcome, e.Reason = audit.Failure, "unknown_search_update"
	}
	s.emit(e)
	return missing
}

func (s *session) liveSearches() []*liveSearch {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	return slices.Clone(s.live)
}

// liveExpunged is told, before a poll sends EXPUNGE responses, of the
// messages they remove: each live search that holds some says so first,
// by the numbers the client still knows them by.
func (s *session) liveExpunged(uids, seqs []uint32) error {
	for _, ls := range s.liveSearches() {
		if ls.keys != nil {
			seqOf := make(map[uint32]uint32, len(uids))
			for i, u := range uids {
				seqOf[u] = seqs[i]
			}
			gone := func(u uint32) bool { _, ok := seqOf[u]; return ok }
			num := func(u uint32) uint32 { return pick(ls.uid, u, seqOf[u]) }
			if err := s.writeSortUpdate(ls, ls.removeSorted(gone, num), nil); err != nil {
				return err
			}
			continue
		}
		var gone []uint32
		for i, u := range uids {
			if ls.result[u] {
				delete(ls.result, u)
				if ls.uid {
					gone = append(gone, u)
				} else {
					gone = append(gone, seqs[i])
				}
			}
		}
		if err := s.writeLiveUpdate(ls, gone, nil); err != nil {
			return err
		}
	}
	return nil
}

// liveUpdate evaluates the live searches again, after a poll, over the
// messages the client knows of that changed since the last time (a higher
// mod-sequence, or a UID above those it knew), or all of them for a search
// by sequence numbers, which expunges shift; and tells the client what
// joined or left each result. A message whose EXPUNGE is still to be sent
// is left alone (liveExpunged sees to it). Nothing is evaluated when
// neither the mailbox nor the client's view changed since the last time.
func (s *session) liveUpdate() error {
	live := s.liveSearches()
	if len(live) == 0 || s.view == nil {
		return nil
	}
	// HIGHESTMODSEQ before the items: a change after it is looked at next
	// time.
	key := [2]uint64{s.mb.HighestModSeq(), s.view.Taken()}
	if key == s.liveKey {
		return nil
	}
	s.liveKey = key
	items := s.view.Items(nil)
	var maxUID uint32
	if len(items) > 0 {
		maxUID = items[len(items)-1].UID
	}
	for _, ls := range live {
		cands := items
		if !ls.bySeq {
			cands = nil
			for _, it := range items {
				if it.ModSeq > ls.seen || it.UID > ls.maxUID {
					cands = append(cands, it)
				}
			}
		}
		ls.seen, ls.maxUID = key[0], max(ls.maxUID, maxUID)
		if len(cands) == 0 {
			continue
		}
		seqs, uids, _, err := s.matching(cands, ls.criteria)
		if err != nil {
			return err
		}
		if ls.keys != nil {
			if err := s.updateSorted(ls, cands, uids); err != nil {
				return err
			}
			continue
		}
		matched := make(map[uint32]bool, len(uids))
		var added []uint32
		for i, u := range uids {
			matched[uint32(u)] = true
			if !ls.result[uint32(u)] {
				ls.result[uint32(u)] = true
				added = append(added, pick(ls.uid, uint32(u), seqs[i]))
			}
		}
		var removed []uint32
		for _, it := range cands {
			if ls.result[it.UID] && !matched[it.UID] {
				delete(ls.result, it.UID)
				removed = append(removed, pick(ls.uid, it.UID, it.Seq))
			}
		}
		if err := s.writeLiveUpdate(ls, removed, added); err != nil {
			return err
		}
	}
	return nil
}

// hasSeqNum tells whether criteria name sequence numbers.
func hasSeqNum(c *imap.SearchCriteria) bool {
	if len(c.SeqNum) > 0 {
		return true
	}
	for i := range c.Not {
		if hasSeqNum(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if hasSeqNum(&c.Or[i][0]) || hasSeqNum(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

func pick(uid bool, u, seq uint32) uint32 {
	if uid {
		return u
	}
	return seq
}

// updateSorted brings a live SORT up to date: the messages in view that
// no longer match leave it (REMOVEFROM, from the last), those that now
// match join it (ADDTO, each at its place in sort order, in order).
func (s *session) updateSorted(ls *liveSearch, items []store.Item, uids []imap.UID) error {
	inView := make(map[uint32]store.Item, len(items))
	for _, it := range items {
		inView[it.UID] = it
	}
	matched := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		matched[uint32(u)] = true
	}
	num := func(u uint32) uint32 { return pick(ls.uid, u, inView[u].Seq) }
	removed := ls.removeSorted(func(u uint32) bool {
		_, ok := inView[u]
		return ok && !matched[u]
	}, num)
	var joined []sortItem
	for _, u := range uids {
		if ls.result[uint32(u)] {
			continue
		}
		si, err := newSortItem(inView[uint32(u)])
		if err != nil {
			return err
		}
		joined = append(joined, si.lite())
	}
	slices.SortFunc(joined, ls.liveCompare)
	var added []posNum
	for _, si := range joined {
		i, _ := slices.BinarySearchFunc(ls.order, si, ls.liveCompare)
		ls.order = slices.Insert(ls.order, i, si)
		ls.result[si.uid] = true
		added = append(added, posNum{uint32(i + 1), num(si.uid)})
	}
	return s.writeSortUpdate(ls, removed, added)
}

// writeSortUpdate sends a live SORT's changes: "REMOVEFROM (pos n ...)
// ADDTO (pos n ...)", one pair per message, to be applied in order
// (RFC 5267 §4.3).
func (s *session) writeSortUpdate(ls *liveSearch, removed, added []posNum) error {
	pairs := func(ps []posNum) string {
		f := make([]string, len(ps))
		for i, p := range ps {
			f[i] = fmt.Sprintf("%d %d", p.pos, p.num)
		}
		return strings.Join(f, " ")
	}
	return s.writeUpdate(ls, pairs(removed), pairs(added))
}

// writeLiveUpdate sends a live SEARCH's changes: "REMOVEFROM (0 set)
// ADDTO (0 set)" (RFC 5267 §4.3), the numbers ascending.
func (s *session) writeLiveUpdate(ls *liveSearch, removed, added []uint32) error {
	set := func(nums []uint32) string {
		if len(nums) == 0 {
			return ""
		}
		slices.Sort(nums)
		return "0 " + orderedSet(nums)
	}
	return s.writeUpdate(ls, set(removed), set(added))
}

// writeUpdate sends "* ESEARCH (TAG t) [UID] REMOVEFROM (removed) ADDTO
// (added)", each part only when not empty, nothing when both are.
func (s *session) writeUpdate(ls *liveSearch, removed, added string) error {
	if removed == "" && added == "" {
		return nil
	}
	var b strings.Builder
	b.WriteString("* ESEARCH (TAG " + quoteIMAP(ls.tag) + ")")
	if ls.uid {
		b.WriteString(" UID")
	}
	if removed != "" {
		b.WriteString(" REMOVEFROM (" + removed + ")")
	}
	if added != "" {
		b.WriteString(" ADDTO (" + added + ")")
	}
	b.WriteString("\r\n")
	return s.conn.writeClient(b.String())
}

// matching evaluates criteria over the items: the sequence numbers and
// UIDs of those that match, ascending, and the highest mod-sequence among
// them.
func (s *session) matching(items []store.Item, criteria *imap.SearchCriteria) ([]uint32, []imap.UID, uint64, error) {
	var seqs []uint32
	var uids []imap.UID
	var highest uint64
	for _, it := range items {
		if s.view.Recent(it.UID) && s.rev1() {
			// RECENT, NEW and OLD (RFC 3501 §6.4.4) test \Recent.
			f, err := it.FlagsOrBase()
			if err != nil {
				return nil, nil, 0, err
			}
			it.Flags = append(f[:len(f):len(f)], store.FlagRecent)
		}
		ok, err := match(it, it.Seq, criteria)
		if err != nil {
			return nil, nil, 0, err
		}
		if ok {
			seqs = append(seqs, it.Seq)
			uids = append(uids, imap.UID(it.UID))
			highest = max(highest, it.ModSeq)
		}
	}
	return seqs, uids, highest, nil
}

// contextSearch rewrites a SEARCH whose RETURN options include one of
// CONTEXT=SEARCH for go-imap and leaves its request for the session; nil
// when they do not.
func (c *conn) contextSearch(tag, name string, line []byte) ([]byte, error) {
	_, _, rest, _ := splitCommand(line) // after condCommand's changes
	uid := name == "UID SEARCH"
	if uid {
		// (Not append(rest, ' '): rest shares line's array.)
		_, after, _ := bytes.Cut(rest, []byte(" "))
		rest = bytes.TrimLeft(after, " ")
	}
	req, args, err := parseContextSearch(tag, uid, rest)
	if err != nil || req == nil {
		return nil, err
	}
	if s := c.sess.Load(); req.ctx.update && s != nil && s.isLive(tag) {
		//lint:ignore ST1005 the text of the BAD response, worded as Dovecot words it
		return nil, fmt.Errorf("Duplicate search update tag")
	}
	verb := " SEARCH "
	if uid {
		verb = " UID SEARCH "
	}
	c.sortReq.Store(req)
	return append(append([]byte(tag+verb), args...), "\r\n"...), nil
}

// cancelUpdate answers CANCELUPDATE "tag" ... (RFC 5267 §4.2) itself,
// between commands: the tags are quoted strings (Dovecot takes no atom).
func (c *conn) cancelUpdate(tag string, rest []byte) error {
	tags, ok := parseQuotedList(rest)
	if !ok {
		c.srv.auditRefusal(c.info, "CANCELUPDATE", "syntax_error")
		return c.writeClient(tag + " BAD Invalid parameters: want one or more quoted tags\r\n")
	}
	s := c.sess.Load()
	if s == nil {
		c.srv.auditRefusal(c.info, "CANCELUPDATE", "bad_state")
		return c.writeClient(tag + " BAD Not available\r\n")
	}
	if missing := s.cancelUpdates(tags); missing != "" {
		return c.writeClient(tag + " NO Unknown tag " + quoteIMAP(missing) + "\r\n")
	}
	return c.writeClient(tag + " OK Updates cancelled\r\n")
}

// parseQuotedList parses one or more quoted strings separated by spaces.
func parseQuotedList(b []byte) ([]string, bool) {
	var out []string
	r := bytes.TrimLeft(b, " ")
	for len(r) > 0 {
		if r[0] != '"' {
			return nil, false
		}
		var sb strings.Builder
		i := 1
		for ; i < len(r) && r[i] != '"'; i++ {
			if r[i] == '\\' && i+1 < len(r) && (r[i+1] == '"' || r[i+1] == '\\') {
				i++
			} else if r[i] == '\\' {
				return nil, false
			}
			sb.WriteByte(r[i])
		}
		if i == len(r) {
			return nil, false
		}
		out = append(out, sb.String())
		r = r[i+1:]
		if len(r) > 0 && r[0] != ' ' {
			return nil, false
		}
		r = bytes.TrimLeft(r, " ")
	}
	return out, len(out) > 0
}
