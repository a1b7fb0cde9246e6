package imapd

import (
	"bytes"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/mailsim/store"
)

// SORT and THREAD (RFC 5256), SORT=DISPLAY (RFC 5957) and ESORT (RFC 5267)
// are not known to go-imap: the wire shim turns "tag [UID] SORT (criteria)
// charset keys" and "tag [UID] THREAD algorithm charset keys" into
// "tag [UID] SEARCH CHARSET charset keys", which go-imap parses and hands to
// the session's Search; the session, seeing the request, audits it as
// imap.sort or imap.thread and orders the matches; the shim then puts the
// SORT, THREAD or ESEARCH response in place of go-imap's SEARCH response.

// sortCaps are advertised after login by the shim (go-imap lists only the
// capabilities it knows).
var sortCaps = []string{"SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"}

// sortRequest is a SORT or THREAD command being relayed as a SEARCH.
type sortRequest struct {
	tag     string
	uid     bool
	keys    []sortKey // SORT
	thread  string    // THREAD algorithm, "" for SORT
	ret     []string  // ESORT: the RETURN options (nil: plain SORT)
	display string    // the sort criteria or algorithm, for the audit

	// search: a SEARCH with CONTEXT=SEARCH return options (context.go),
	// not a SORT; ctx holds those options, silent that no ESEARCH
	// response is wanted (SAVE alone).
	search bool
	ctx    *contextOpts
	silent bool

	result []byte // the response replacing go-imap's SEARCH response, set by Search
	prefix []byte // sent before it: "* NO [NOUPDATE tag]" (RFC 5267 §4.2)
}

type sortKey struct {
	name    string // ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO
	reverse bool
}

var sortKeyNames = map[string]bool{"ARRIVAL": true, "CC": true, "DATE": true, "FROM": true, "SIZE": true, "SUBJECT": true, "TO": true, "DISPLAYFROM": true, "DISPLAYTO": true}

// parseSortCommand parses what follows "SORT " or "THREAD " and returns the
// request and the search keys with their charset ("CHARSET x keys").
func parseSortCommand(tag string, uid bool, thread bool, rest []byte) (*sortRequest, []byte, error) {
	req := &sortRequest{tag: tag, uid: uid}
	r := bytes.TrimLeft(rest, " ")
	word := func() string {
		i := bytes.IndexAny(r, " \r\n")
		if i < 0 {
			i = len(r)
		}
		w := string(r[:i])
		r = bytes.TrimLeft(r[i:], " ")
		return w
	}
	list := func(what string) ([]string, error) {
		if len(r) == 0 || r[0] != '(' {
			return nil, fmt.Errorf("%s: want a parenthesised list", what)
		}
		end := bytes.IndexByte(r, ')')
		if end < 0 {
			return nil, fmt.Errorf("%s: missing ')'", what)
		}
		f := strings.Fields(string(r[1:end]))
		r = bytes.TrimLeft(r[end+1:], " ")
		return f, nil
	}
	if thread {
		alg := strings.ToUpper(word())
		if alg != "REFERENCES" && alg != "ORDEREDSUBJECT" {
			return nil, nil, fmt.Errorf("unknown thread algorithm %q (REFERENCES and ORDEREDSUBJECT are supported)", alg)
		}
		req.thread, req.display = alg, alg
	} else {
		if len(r) >= 7 && strings.EqualFold(string(r[:7]), "RETURN ") {
			r = bytes.TrimLeft(r[7:], " ")
			opts, err := list("RETURN options")
			if err != nil {
				return nil, nil, err
			}
			ret, save, ctx, err := parseReturnOptions(opts)
			if err != nil {
				return nil, nil, err
			}
			if save {
				return nil, nil, fmt.Errorf("RETURN option SAVE is not supported with SORT")
			}
			if slices.ContainsFunc(opts, isContextOption) {
				req.ctx = &ctx // CONTEXT=SORT (RFC 5267 §4)
			}
			if len(ret) == 0 && !ctx.update && ctx.partial[0] == 0 {
				ret = []string{"ALL"} // RFC 4731 §3.1: RETURN () is ALL
			}
			req.ret = ret
		}
		crit, err := list("sort criteria")
		if err != nil {
			return nil, nil, err
		}
		if len(crit) == 0 {
			return nil, nil, fmt.Errorf("sort criteria: empty list")
		}
		rev := false
		for _, c := range crit {
			c = strings.ToUpper(c)
			if c == "REVERSE" {
				if rev {
					return nil, nil, fmt.Errorf("sort criteria: REVERSE REVERSE")
				}
				rev = true
				continue
			}
			if !sortKeyNames[c] {
				return nil, nil, fmt.Errorf("unknown sort criterion %q", c)
			}
			req.keys = append(req.keys, sortKey{name: c, reverse: rev})
			rev = false
		}
		if rev {
			return nil, nil, fmt.Errorf("sort criteria: REVERSE must precede a criterion")
		}
		var names []string
		for _, k := range req.keys {
			if k.reverse {
				names = append(names, "REVERSE")
			}
			names = append(names, k.name)
		}
		req.display = strings.Join(names, " ")
	}
	// The charset: an atom or a quoted string, as SEARCH takes it.
	var charset []byte
	if len(r) > 0 && r[0] == '"' {
		end := bytes.IndexByte(r[1:], '"')
		if end < 0 {
			return nil, nil, fmt.Errorf("charset: unterminated quoted string")
		}
		charset = r[:end+2]
		r = bytes.TrimLeft(r[end+2:], " ")
	} else {
		charset = []byte(word())
	}
	keys := bytes.TrimRight(r, "\r\n")
	if len(charset) == 0 || len(bytes.TrimSpace(keys)) == 0 {
		return nil, nil, fmt.Errorf("want a charset and search keys")
	}
	return req, append(append([]byte("CHARSET "), charset...), append([]byte(" "), r...)...), nil
}

// sortItem is one matching message with what sorting needs.
type sortItem struct {
	seq, uid uint32
	msg      *store.Message
	env      *imap.Envelope
	date     time.Time // the Date header, else the internal date (RFC 5256 §2.2)
}

func newSortItem(it store.Item) (sortItem, error) {
	m, err := it.Load()
	if err != nil {
		return sortItem{}, err
	}
	si := sortItem{seq: it.Seq, uid: it.UID, msg: m, env: m.Envelope(), date: m.InternalDate}
	h := m.Header()
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		si.date = d
	}
	return si, nil
}

// asciiFold is i;ascii-casemap (RFC 4790): ASCII letters in upper case.
func asciiFold(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// firstMailbox is the addr-mailbox of the first address (RFC 5256 §3).
func firstMailbox(addrs []imap.Address) string {
	for _, a := range addrs {
		if !a.IsGroupStart() && !a.IsGroupEnd() {
			return a.Mailbox
		}
	}
	return ""
}

// displayName is the first address's display name, else its addr-spec
// (RFC 5957 §2.1).
func displayName(addrs []imap.Address) string {
	for _, a := range addrs {
		if a.IsGroupStart() || a.IsGroupEnd() {
			continue
		}
		if strings.TrimSpace(a.Name) != "" {
			return a.Name
		}
		return a.Addr()
	}
	return ""
}

func (si sortItem) compare(o sortItem, k sortKey) int {
	var c int
	switch k.name {
	case "ARRIVAL":
		c = si.msg.InternalDate.Compare(o.msg.InternalDate)
	case "DATE":
		c = si.date.Compare(o.date)
	case "SIZE":
		c = cmpInt(si.msg.Size, o.msg.Size)
	case "SUBJECT":
		c = strings.Compare(asciiFold(baseSubject(si.msg.Subject)), asciiFold(baseSubject(o.msg.Subject)))
	case "FROM":
		c = strings.Compare(asciiFold(firstMailbox(si.env.From)), asciiFold(firstMailbox(o.env.From)))
	case "TO":
		c = strings.Compare(asciiFold(firstMailbox(si.env.To)), asciiFold(firstMailbox(o.env.To)))
	case "CC":
		c = strings.Compare(asciiFold(firstMailbox(si.env.Cc)), asciiFold(firstMailbox(o.env.Cc)))
	case "DISPLAYFROM":
		c = strings.Compare(strings.ToLower(displayName(si.env.From)), strings.ToLower(displayName(o.env.From)))
	case "DISPLAYTO":
		c = strings.Compare(strings.ToLower(displayName(si.env.To)), strings.ToLower(displayName(o.env.To)))
	}
	if k.reverse {
		c = -c
	}
	return c
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortItems orders items by the keys, ties by sequence number (RFC 5256 §3).
func sortItems(items []sortItem, keys []sortKey) {
	slices.SortStableFunc(items, func(a, b sortItem) int {
		for _, k := range keys {
			if c := a.compare(b, k); c != 0 {
				return c
			}
		}
		return cmpInt(int64(a.seq), int64(b.seq))
	})
}

// baseSubject extracts the base subject (RFC 5256 §2.1).
func baseSubject(s string) string {
	// (1) whitespace runs become one space.
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	for {
		// (2) remove trailing "(fwd)" and whitespace.
		for {
			t := strings.TrimRight(s, " ")
			if len(t) >= 5 && strings.EqualFold(t[len(t)-5:], "(fwd)") {
				t = t[:len(t)-5]
			}
			if t == s {
				break
			}
			s = t
		}
		// (3)-(5) remove leaders and blobs.
		for {
			t := s
			t = strings.TrimLeft(t, " ")
			if u, ok := cutRefwd(t); ok {
				t = u
			} else if u, ok := cutBlob(t); ok && strings.TrimSpace(u) != "" {
				t = u
			}
			if t == s {
				break
			}
			s = t
		}
		// (6) "[fwd: ... ]" wrapper.
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && strings.HasSuffix(s, "]") {
			s = strings.TrimSpace(s[5 : len(s)-1])
			continue
		}
		return s
	}
}

// cutBlob removes a leading subj-blob: "[" *BLOBCHAR "]" *WSP.
func cutBlob(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return s, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s, false
	}
	return strings.TrimLeft(s[end+2:], " "), true
}

// cutRefwd removes a leading subj-leader: *subj-blob subj-refwd, where
// subj-refwd is ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
func cutRefwd(s string) (string, bool) {
	t := s
	for {
		u, ok := cutBlob(t)
		if !ok {
			break
		}
		t = u
	}
	low := strings.ToLower(t)
	switch {
	case strings.HasPrefix(low, "re"):
		t = t[2:]
	case strings.HasPrefix(low, "fwd"):
		t = t[3:]
	case strings.HasPrefix(low, "fw"):
		t = t[2:]
	default:
		return s, false
	}
	t = strings.TrimLeft(t, " ")
	if u, ok := cutBlob(t); ok {
		t = u
	}
	if !strings.HasPrefix(t, ":") {
		return s, false
	}
	return strings.TrimLeft(t[1:], " "), true
}

// sortResponse builds the SORT or ESEARCH response for the ordered items.
func (req *sortRequest) sortResponse(items []sortItem) []byte {
	nums := make([]uint32, len(items))
	for i, it := range items {
		nums[i] = it.seq
		if req.uid {
			nums[i] = it.uid
		}
	}
	var b strings.Builder
	if req.ret == nil {
		b.WriteString("* SORT")
		for _, n := range nums {
			b.WriteString(" " + strconv.FormatUint(uint64(n), 10))
		}
		b.WriteString("\r\n")
		return []byte(b.String())
	}
	// ESORT (RFC 5267 §3.2): MIN and MAX are the first and last in sort
	// order; ALL keeps the sort order.
	return req.esearchResponse(nums)
}

// orderedSet writes numbers in their order, runs of consecutive ascending
// numbers as ranges.
func orderedSet(nums []uint32) string {
	var parts []string
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d:%d", nums[i], nums[j]))
		} else {
			parts = append(parts, strconv.FormatUint(uint64(nums[i]), 10))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// orderResults orders the matching messages (seqs, ascending) for a SORT
// or THREAD request, leaves its response in req.result and returns them
// in sort order (SORT).
func (s *session) orderResults(req *sortRequest, items []store.Item, seqs []uint32) ([]sortItem, error) {
	match := make(map[uint32]bool, len(seqs))
	for _, q := range seqs {
		match[q] = true
	}
	sel := make([]sortItem, 0, len(seqs))
	for _, it := range items {
		if !match[it.Seq] {
			continue
		}
		si, err := newSortItem(it)
		if err != nil {
			return nil, err
		}
		sel = append(sel, si)
	}
	if req.thread != "" {
		req.result = req.threadResponse(sel)
		return nil, nil
	}
	sortItems(sel, req.keys)
	req.result = req.sortResponse(sel)
	return sel, nil
}

// tnode is a THREAD container (RFC 5256 §4): a message, or a dummy for a
// message only referenced.
type tnode struct {
	msg      *sortItem
	parent   *tnode
	children []*tnode
}

func (n *tnode) hasDescendant(d *tnode) bool {
	for x := d; x != nil; x = x.parent {
		if x == n {
			return true
		}
	}
	return false
}

func (n *tnode) unlink() {
	if p := n.parent; p != nil {
		p.children = slices.DeleteFunc(p.children, func(c *tnode) bool { return c == n })
		n.parent = nil
	}
}

func (n *tnode) link(child *tnode) {
	child.unlink()
	child.parent = n
	n.children = append(n.children, child)
}

// date is the sent date a container sorts by: its message's, or for a
// dummy its first child's.
func (n *tnode) date() (time.Time, uint32) {
	if n.msg != nil {
		return n.msg.date, n.msg.seq
	}
	if len(n.children) > 0 {
		return n.children[0].date()
	}
	return time.Time{}, 0
}

func sortNodes(ns []*tnode) {
	for _, n := range ns {
		sortNodes(n.children)
	}
	slices.SortStableFunc(ns, func(a, b *tnode) int {
		da, sa := a.date()
		db, sb := b.date()
		if c := da.Compare(db); c != 0 {
			return c
		}
		return cmpInt(int64(sa), int64(sb))
	})
}

var msgIDs = regexp.MustCompile(`<[^<>]+>`)

// threadRoots builds the threads of the items by the REFERENCES or
// ORDEREDSUBJECT algorithm (RFC 5256 §4), sorted.
func threadRoots(items []sortItem, alg string) []*tnode {
	if alg == "ORDEREDSUBJECT" {
		sorted := slices.Clone(items)
		sortItems(sorted, []sortKey{{name: "SUBJECT"}, {name: "DATE"}})
		var roots []*tnode
		var cur *tnode
		curSubj := ""
		for i := range sorted {
			n := &tnode{msg: &sorted[i]}
			s := asciiFold(baseSubject(sorted[i].msg.Subject))
			if cur != nil && s == curSubj {
				cur.link(n)
				continue
			}
			cur, curSubj = n, s
			roots = append(roots, n)
		}
		// Threads in order of their first message's date; children keep
		// their date order.
		slices.SortStableFunc(roots, func(a, b *tnode) int {
			da, sa := a.date()
			db, sb := b.date()
			if c := da.Compare(db); c != 0 {
				return c
			}
			return cmpInt(int64(sa), int64(sb))
		})
		return roots
	}
	byID := map[string]*tnode{}
	var all []*tnode
	node := func(id string) *tnode {
		if n, ok := byID[id]; ok {
			return n
		}
		n := &tnode{}
		byID[id] = n
		all = append(all, n)
		return n
	}
	for i := range items {
		it := &items[i]
		h := it.msg.Header()
		id := strings.ToLower(strings.TrimSpace(h.Get("Message-Id")))
		var n *tnode
		if m := msgIDs.FindString(id); m != "" {
			if ex, ok := byID[m]; ok && ex.msg == nil {
				n = ex
			} else if !ok {
				n = node(m)
			}
		}
		if n == nil { // no Message-ID, or a duplicate: a unique one
			n = &tnode{}
			all = append(all, n)
		}
		n.msg = it
		refs := msgIDs.FindAllString(strings.ToLower(h.Get("References")), -1)
		if len(refs) == 0 {
			if m := msgIDs.FindString(strings.ToLower(h.Get("In-Reply-To"))); m != "" {
				refs = []string{m}
			}
		}
		// (1B) link the references in order, without loops and without
		// changing a parent already known.
		var prev *tnode
		for _, r := range refs {
			rn := node(r)
			if prev != nil && rn.parent == nil && rn != prev && !rn.hasDescendant(prev) {
				prev.link(rn)
			}
			prev = rn
		}
		// (1C) the message's parent is its last reference.
		if prev != nil && prev != n && !n.hasDescendant(prev) {
			prev.link(n)
		} else if prev == nil || prev == n {
			n.unlink()
		}
	}
	// (2) root set; (3) prune dummies.
	var prune func(ns []*tnode, root bool) []*tnode
	prune = func(ns []*tnode, root bool) []*tnode {
		var out []*tnode
		for _, n := range ns {
			n.children = prune(n.children, false)
			for _, c := range n.children {
				c.parent = n
			}
			if n.msg == nil {
				if len(n.children) == 0 {
					continue
				}
				if !root || len(n.children) == 1 {
					for _, c := range n.children {
						c.parent = nil
					}
					out = append(out, prune(n.children, root)...)
					continue
				}
			}
			out = append(out, n)
		}
		return out
	}
	var roots []*tnode
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	roots = prune(roots, true)
	for _, r := range roots {
		r.parent = nil
	}
	// (4) sort; (5) gather threads by base subject.
	sortNodes(roots)
	subjectOf := func(n *tnode) (string, bool) {
		m := n.msg
		if m == nil && len(n.children) > 0 {
			m = n.children[0].msg
		}
		if m == nil {
			return "", false
		}
		raw := strings.Join(strings.FieldsFunc(m.msg.Subject, unicode.IsSpace), " ")
		base := baseSubject(m.msg.Subject)
		return asciiFold(base), base != raw
	}
	table := map[string]*tnode{}
	for _, r := range roots {
		s, reply := subjectOf(r)
		if s == "" {
			continue
		}
		old, ok := table[s]
		if !ok {
			table[s] = r
			continue
		}
		_, oldReply := subjectOf(old)
		if (old.msg != nil && r.msg == nil) || (old.msg != nil && r.msg != nil && oldReply && !reply) {
			table[s] = r
		}
	}
	var out []*tnode
	for i := 0; i < len(roots); i++ {
		r := roots[i]
		s, reply := subjectOf(r)
		t, ok := table[s]
		if s == "" || !ok || t == r {
			out = append(out, r)
			continue
		}
		_, tReply := subjectOf(t)
		switch {
		case t.msg == nil && r.msg == nil:
			for _, c := range slices.Clone(r.children) {
				t.link(c)
			}
		case t.msg == nil || (t.msg != nil && reply && !tReply):
			t.link(r)
		default:
			d := &tnode{}
			idx := slices.Index(out, t)
			d.link(t)
			d.link(r)
			if idx >= 0 {
				out[idx] = d
			} else {
				roots = slices.Replace(roots, slices.Index(roots, t), slices.Index(roots, t)+1, d)
			}
			table[s] = d
		}
	}
	// (6) sort again, merged threads included.
	sortNodes(out)
	return out
}

// threadResponse writes "* THREAD (1 2)(3 (4)(5))".
func (req *sortRequest) threadResponse(items []sortItem) []byte {
	var b strings.Builder
	b.WriteString("* THREAD")
	num := func(n *tnode) string {
		if req.uid {
			return strconv.FormatUint(uint64(n.msg.uid), 10)
		}
		return strconv.FormatUint(uint64(n.msg.seq), 10)
	}
	var write func(n *tnode)
	write = func(n *tnode) {
		first := true
		for {
			if n.msg != nil {
				if !first {
					b.WriteByte(' ')
				}
				b.WriteString(num(n))
				first = false
				if len(n.children) == 1 {
					n = n.children[0]
					continue
				}
				if len(n.children) > 0 {
					b.WriteByte(' ')
				}
			}
			for _, c := range n.children {
				b.WriteByte('(')
				write(c)
				b.WriteByte(')')
			}
			return
		}
	}
	if len(items) > 0 {
		b.WriteByte(' ')
	}
	for _, r := range threadRoots(items, req.thread) {
		b.WriteByte('(')
		write(r)
		b.WriteByte(')')
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}
