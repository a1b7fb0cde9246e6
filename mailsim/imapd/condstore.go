package imapd

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
)

// CONDSTORE (RFC 7162 §3.1). go-imap v2's imapserver parses none of its
// syntax, so the wire shim takes it out of the commands it relays and
// tells the session what it took (condRequest); the session does the work
// and leaves what the responses need on the connection (condState), which
// the response writer adds:
//   - ENABLE CONDSTORE: "CONDSTORE" added to "* ENABLED", preceded by
//     "* OK [HIGHESTMODSEQ n]" when a mailbox is selected;
//   - SELECT/EXAMINE name (CONDSTORE): the parameter dropped;
//     "* OK [HIGHESTMODSEQ n]" before the tagged OK;
//   - STATUS name (... HIGHESTMODSEQ ...), and LIST ... RETURN (STATUS
//     (... HIGHESTMODSEQ ...)): the item dropped (replaced by UIDNEXT when
//     it was the only one); "HIGHESTMODSEQ n" added to each STATUS
//     response (and the stand-in removed);
//   - FETCH set items (CHANGEDSINCE n), the MODSEQ item: dropped (UID
//     stands in for an item list that held only MODSEQ); "MODSEQ (n)"
//     added to each FETCH response of the command;
//   - STORE set (UNCHANGEDSINCE n) ...: the modifier dropped;
//     "[MODIFIED set]" added to the tagged OK;
//   - SEARCH (and SORT) ... MODSEQ [entry type] n ...: the key relayed as
//     the header search `HEADER ":modseq" "n"` (":" cannot be in a field
//     name), which the session reads back; "(MODSEQ n)" added to
//     "* SEARCH" and "* SORT" (" MODSEQ n" to "* ESEARCH").
// Once CONDSTORE is enabled (ENABLE, or any of the commands above, which
// enable it implicitly, §3.1), FETCH responses to STORE and unsolicited
// ones carry MODSEQ too.

// modseqSearchKey is the header name that carries a SEARCH MODSEQ key
// through go-imap's parser.
const modseqSearchKey = ":modseq"

// condRequest is what the shim took out of the command being relayed.
type condRequest struct {
	tag string
	// enable: ENABLE names CONDSTORE.
	enable bool
	// selectCond: SELECT/EXAMINE (CONDSTORE).
	selectCond bool
	// status: STATUS (or LIST ... RETURN (STATUS ...), listStatus) asks
	// for HIGHESTMODSEQ; statusStandIn: UIDNEXT was added for it (the list
	// held nothing else) and must be removed.
	status, statusStandIn, listStatus bool
	// fetchModSeq: FETCH asks for MODSEQ (or CHANGEDSINCE, which implies
	// it); changedSince is set by CHANGEDSINCE.
	fetchModSeq  bool
	changedSince *uint64
	// unchangedSince is STORE's UNCHANGEDSINCE.
	unchangedSince *uint64
	// searchModSeq: SEARCH uses the MODSEQ key.
	searchModSeq bool
	// QRESYNC (RFC 7162 §3.2), see qresync.go: enableCondstore and
	// enableQresync tell which ENABLE named; resync is SELECT/EXAMINE's
	// QRESYNC parameter; vanished is UID FETCH's VANISHED modifier.
	enableCondstore, enableQresync bool
	resync                         *resyncParam
	vanished                       bool
}

// condState is what the session left for the responses of the command
// being run. It is written and read on imapserver's goroutine (the
// session's methods and the response writer both run there); the mutex
// keeps the race detector informed where a reader resets it.
type condState struct {
	mu sync.Mutex
	// modseqs are the mod-sequences of the FETCH responses about to be
	// written, in order, by sequence number.
	modseqs []seqModSeq
	// selectHighest: the HIGHESTMODSEQ to report before SELECT's tagged OK.
	selectHighest uint64
	// statusHighest: HIGHESTMODSEQ for the STATUS response; listHighest
	// those of LIST-STATUS's STATUS responses, in order.
	statusHighest uint64
	listHighest   []uint64
	// searchHighest: the highest mod-sequence of the messages SEARCH found.
	searchHighest uint64
	// modified is the MODIFIED set of a conditional STORE ("" if none).
	modified string
	// appendUIDs are the UIDs a MULTIAPPEND added, for its APPENDUID.
	appendUIDs string
	// selectExtra: QRESYNC's VANISHED (EARLIER) and FETCH responses,
	// written before SELECT's tagged OK (each line ending in CRLF).
	selectExtra string
	// vanishedSent: the command sent a VANISHED response (not EARLIER),
	// so its tagged OK carries HIGHESTMODSEQ (RFC 7162 §3.2.10).
	vanishedSent bool
	// vanishedUIDs are the UIDs of the EXPUNGE responses about to be
	// written, in order, sent as VANISHED once QRESYNC is enabled.
	vanishedUIDs []uint32
}

type seqModSeq struct {
	seq    uint32
	modseq uint64
}

// pushModSeq says that the next FETCH response for seq carries modseq.
func (c *conn) pushModSeq(seq uint32, modseq uint64) {
	c.cs.mu.Lock()
	c.cs.modseqs = append(c.cs.modseqs, seqModSeq{seq, modseq})
	c.cs.mu.Unlock()
}

// condFor returns the CONDSTORE parts of the command with this tag being
// relayed, nil if none.
func (c *conn) condFor(tag string) *condRequest {
	r := c.condReq.Load()
	if r == nil || r.tag != tag {
		return nil
	}
	return r
}

// condCommand takes the CONDSTORE syntax out of a command's first line.
// It returns the line to relay and what it took, nil when the command has
// none (or is not one the shim understands: go-imap then refuses it).
func condCommand(tag, name string, line []byte, qresync bool) ([]byte, *condRequest) {
	l := bytes.TrimRight(line, "\r\n")
	if _, _, isLit := clientLiteral(line); isLit {
		return line, nil
	}
	req := &condRequest{tag: tag}
	var out string
	switch name {
	case "ENABLE":
		for _, f := range strings.Fields(string(l))[2:] {
			if strings.EqualFold(f, "CONDSTORE") {
				req.enable, req.enableCondstore = true, true
			}
			if strings.EqualFold(f, "QRESYNC") {
				// QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
				req.enable, req.enableQresync = true, true
			}
		}
		if !req.enable {
			return line, nil
		}
		return line, req
	case "SELECT", "EXAMINE":
		if o, r, ok := resyncSelect(l); ok {
			req.resync = r
			out = o
			break
		}
		const p = " (CONDSTORE)"
		if len(l) <= len(p) || !strings.EqualFold(string(l[len(l)-len(p):]), p) {
			return line, nil
		}
		req.selectCond = true
		out = string(l[:len(l)-len(p)])
	case "STATUS":
		i := bytes.LastIndexByte(l, '(')
		if i < 0 || !bytes.HasSuffix(l, []byte(")")) {
			return line, nil
		}
		var keep []string
		for _, f := range strings.Fields(string(l[i+1 : len(l)-1])) {
			if strings.EqualFold(f, "HIGHESTMODSEQ") {
				req.status = true
			} else {
				keep = append(keep, f)
			}
		}
		if !req.status {
			return line, nil
		}
		if len(keep) == 0 {
			keep, req.statusStandIn = []string{"UIDNEXT"}, true
		}
		out = string(l[:i+1]) + strings.Join(keep, " ") + ")"
	case "LIST":
		// LIST ... RETURN (... STATUS (items) ...) (RFC 5819).
		up := strings.ToUpper(string(l))
		r := strings.Index(up, " RETURN ")
		if r < 0 {
			return line, nil
		}
		i := strings.Index(up[r:], "STATUS (")
		if i < 0 {
			return line, nil
		}
		i += r + len("STATUS (")
		j := strings.IndexByte(up[i:], ')')
		if j < 0 {
			return line, nil
		}
		j += i
		var keep []string
		for _, f := range strings.Fields(string(l[i:j])) {
			if strings.EqualFold(f, "HIGHESTMODSEQ") {
				req.status = true
			} else {
				keep = append(keep, f)
			}
		}
		if !req.status {
			return line, nil
		}
		req.listStatus = true
		if len(keep) == 0 {
			keep, req.statusStandIn = []string{"UIDNEXT"}, true
		}
		out = string(l[:i]) + strings.Join(keep, " ") + string(l[j:])
	case "FETCH", "UID FETCH":
		o, ok := condFetch(req, name, l, qresync)
		if !ok {
			return line, nil
		}
		out = o
	case "STORE", "UID STORE":
		o, ok := condStore(req, name, l)
		if !ok {
			return line, nil
		}
		out = o
	case "SEARCH", "UID SEARCH":
		o, ok := condSearch(l)
		if !ok {
			return line, nil
		}
		req.searchModSeq = true
		out = o
	default:
		return line, nil
	}
	return []byte(out + "\r\n"), req
}

// commandArgs splits "tag NAME args" (or "tag UID NAME args") into the
// head (up to the space before args) and args.
func commandArgs(name string, l []byte) (head string, args string, ok bool) {
	n := 2 + strings.Count(name, " ")
	s := string(l)
	i := 0
	for k := 0; k < n; k++ {
		j := strings.IndexByte(s[i:], ' ')
		if j < 0 {
			return "", "", false
		}
		i += j + 1
	}
	return s[:i], s[i:], true
}

// condFetch handles FETCH's MODSEQ item and CHANGEDSINCE modifier.
func condFetch(req *condRequest, name string, l []byte, qresync bool) (string, bool) {
	head, args, ok := commandArgs(name, l)
	if !ok {
		return "", false
	}
	sp := strings.IndexByte(args, ' ')
	if sp < 0 {
		return "", false
	}
	set, rest := args[:sp], args[sp+1:]
	// The item list: an atom, or a parenthesised list (which may hold
	// parentheses and brackets of its own: BODY[HEADER.FIELDS (A B)]).
	var items, mods string
	if strings.HasPrefix(rest, "(") {
		depth, end := 0, -1
		for i := 0; i < len(rest) && end < 0; i++ {
			switch rest[i] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					end = i
				}
			case '"':
				return "", false // quoted strings in fetch items: not ours to parse
			}
		}
		if end < 0 {
			return "", false
		}
		items, mods = rest[:end+1], rest[end+1:]
	} else {
		sp := strings.IndexByte(rest, ' ')
		if sp < 0 {
			items = rest
		} else {
			items, mods = rest[:sp], rest[sp:]
		}
	}
	changed := false
	if mods != "" {
		m := strings.TrimSpace(mods)
		f := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(m, "("), ")"))
		if len(f) == 3 && qresync && name == "UID FETCH" {
			// (CHANGEDSINCE n VANISHED), either order (RFC 7162 §3.2.6);
			// VANISHED without CHANGEDSINCE, outside UID FETCH or before
			// ENABLE QRESYNC is refused (by go-imap, as unknown).
			switch {
			case strings.EqualFold(f[2], "VANISHED"):
				f, req.vanished = f[:2], true
			case strings.EqualFold(f[0], "VANISHED"):
				f, req.vanished = f[1:], true
			}
		}
		if !strings.HasPrefix(m, "(") || !strings.HasSuffix(m, ")") || len(f) != 2 || !strings.EqualFold(f[0], "CHANGEDSINCE") {
			return "", false // the unknown: refused by go-imap
		}
		n, err := strconv.ParseUint(f[1], 10, 63)
		if err != nil || n == 0 {
			return "", false // mod-sequence values are 1 or more (RFC 7162 §7)
		}
		req.changedSince = &n
		req.fetchModSeq = true
		changed = true
	}
	// Drop MODSEQ from the items (top level of the list, or the atom).
	var kept []string
	dropped := false
	if strings.HasPrefix(items, "(") {
		inner := items[1 : len(items)-1]
		depth, start := 0, 0
		for i := 0; i <= len(inner); i++ {
			if i < len(inner) {
				switch inner[i] {
				case '(', '[':
					depth++
					continue
				case ')', ']':
					depth--
					continue
				case ' ':
					if depth > 0 {
						continue
					}
				default:
					continue
				}
			}
			tok := inner[start:i]
			start = i + 1
			if strings.EqualFold(tok, "MODSEQ") {
				dropped = true
			} else if tok != "" {
				kept = append(kept, tok)
			}
		}
	} else if strings.EqualFold(items, "MODSEQ") {
		dropped = true
	} else {
		kept = []string{items}
	}
	if !dropped && !changed {
		return "", false
	}
	if dropped {
		req.fetchModSeq = true
	}
	if !strings.HasPrefix(items, "(") && !dropped {
		return head + set + " " + items, true // ALL, FAST, FULL or one item
	}
	if len(kept) == 0 {
		kept = []string{"UID"} // sent anyway by mailsim
	}
	return head + set + " (" + strings.Join(kept, " ") + ")", true
}

// condStore handles STORE's UNCHANGEDSINCE modifier.
func condStore(req *condRequest, name string, l []byte) (string, bool) {
	head, args, ok := commandArgs(name, l)
	if !ok {
		return "", false
	}
	sp := strings.IndexByte(args, ' ')
	if sp < 0 || !strings.HasPrefix(args[sp+1:], "(") {
		return "", false
	}
	set, rest := args[:sp], args[sp+1:]
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return "", false
	}
	f := strings.Fields(rest[1:end])
	if len(f) != 2 || !strings.EqualFold(f[0], "UNCHANGEDSINCE") {
		return "", false
	}
	n, err := strconv.ParseUint(f[1], 10, 63)
	if err != nil {
		return "", false
	}
	req.unchangedSince = &n
	return head + set + " " + strings.TrimLeft(rest[end+1:], " "), true
}

// searchArgs are the search keys followed by arguments, and how many.
var searchArgs = map[string]int{
	"BCC": 1, "BODY": 1, "CC": 1, "FROM": 1, "KEYWORD": 1, "SUBJECT": 1, "TEXT": 1, "TO": 1, "UNKEYWORD": 1,
	"BEFORE": 1, "ON": 1, "SINCE": 1, "SENTBEFORE": 1, "SENTON": 1, "SENTSINCE": 1, "LARGER": 1, "SMALLER": 1,
	"UID": 1, "CHARSET": 1, "OLDER": 1, "YOUNGER": 1, "HEADER": 2,
}

// condSearch relays SEARCH's MODSEQ keys as header searches (see
// modseqSearchKey). The line holds no literal.
func condSearch(l []byte) (string, bool) {
	s := string(l)
	var b strings.Builder
	found := false
	args := 0 // arguments still to skip after a key
	skipTag := 2
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '(' || c == ')':
			b.WriteByte(c)
			i++
			continue
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return "", false
			}
			b.WriteString(s[i : j+1])
			i = j + 1
			if args > 0 {
				args--
			}
			continue
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' {
			j++
		}
		tok := s[i:j]
		i = j
		switch {
		case skipTag > 0:
			skipTag--
			if skipTag == 0 && strings.EqualFold(tok, "UID") {
				skipTag = 1 // "UID SEARCH"
			}
		case args > 0:
			args--
		case strings.EqualFold(tok, "MODSEQ"):
			// MODSEQ [entry-name entry-type-req] mod-sequence-valzer
			// (RFC 7162 §3.1.5): entries are not kept apart, so the
			// message's mod-sequence stands for each (§3.1.5 allows it).
			rest := strings.TrimLeft(s[i:], " ")
			val := rest
			if strings.HasPrefix(rest, "\"") {
				k := 1
				for k < len(rest) && rest[k] != '"' {
					if rest[k] == '\\' {
						k++
					}
					k++
				}
				if k >= len(rest) {
					return "", false
				}
				after := strings.TrimLeft(rest[k+1:], " ")
				typ, more, _ := strings.Cut(after, " ")
				switch strings.ToLower(typ) {
				case "priv", "shared", "all":
				default:
					return "", false
				}
				val = strings.TrimLeft(more, " ")
			}
			e := 0
			for e < len(val) && val[e] >= '0' && val[e] <= '9' {
				e++
			}
			if e == 0 {
				return "", false
			}
			if _, err := strconv.ParseUint(val[:e], 10, 63); err != nil {
				return "", false
			}
			b.WriteString(`HEADER "` + modseqSearchKey + `" "` + val[:e] + `"`)
			i = len(s) - len(val) + e
			found = true
			continue
		default:
			args = searchArgs[strings.ToUpper(tok)]
		}
		b.WriteString(tok)
	}
	return b.String(), found
}

// condSearchCriteria takes the MODSEQ keys the shim relayed as header
// searches back out of c (at every level), into c.ModSeq.
func condSearchCriteria(c *imap.SearchCriteria) {
	kept := c.Header[:0]
	for _, h := range c.Header {
		if h.Key != modseqSearchKey {
			kept = append(kept, h)
			continue
		}
		n, _ := strconv.ParseUint(h.Value, 10, 63)
		if c.ModSeq == nil || n > c.ModSeq.ModSeq {
			c.ModSeq = &imap.SearchCriteriaModSeq{ModSeq: n}
		}
	}
	c.Header = kept
	for i := range c.Not {
		condSearchCriteria(&c.Not[i])
	}
	for i := range c.Or {
		condSearchCriteria(&c.Or[i][0])
		condSearchCriteria(&c.Or[i][1])
	}
}

// condRewrite adds CONDSTORE's parts to a response line. It returns the
// line to write.
func (c *conn) condRewrite(l []byte) []byte {
	if v, ok := c.vanishedRewrite(l); ok {
		return v
	}
	// "* n FETCH (" gets "MODSEQ (m)" when the session said so.
	if bytes.HasPrefix(l, []byte("* ")) {
		rest := l[2:]
		sp := bytes.IndexByte(rest, ' ')
		if sp > 0 && bytes.HasPrefix(rest[sp:], []byte(" FETCH (")) {
			n, err := strconv.ParseUint(string(rest[:sp]), 10, 32)
			c.cs.mu.Lock()
			var ms uint64
			if err == nil && len(c.cs.modseqs) > 0 && c.cs.modseqs[0].seq == uint32(n) {
				ms = c.cs.modseqs[0].modseq
				c.cs.modseqs = c.cs.modseqs[1:]
			}
			c.cs.mu.Unlock()
			if ms == 0 {
				return l
			}
			at := 2 + sp + len(" FETCH (")
			item := "MODSEQ (" + strconv.FormatUint(ms, 10) + ")"
			if at < len(l) && l[at] != ')' {
				item += " "
			}
			out := make([]byte, 0, len(l)+len(item))
			out = append(out, l[:at]...)
			out = append(out, item...)
			return append(out, l[at:]...)
		}
	}
	tag, _, _ := bytes.Cut(l, []byte(" "))
	if string(tag) == "*" {
		cur := c.cur.Load()
		if cur == nil {
			return l
		}
		req := c.condFor(cur.tag)
		if req == nil {
			return l
		}
		switch {
		case req.enable && bytes.HasPrefix(l, []byte("* ENABLED")):
			out := string(l)
			if req.enableCondstore {
				out += " CONDSTORE"
			}
			if req.enableQresync {
				out += " QRESYNC"
			}
			out += "\r\n"
			if s := c.sess.Load(); s != nil {
				if !s.condstore && s.mb != nil {
					out = "* OK [HIGHESTMODSEQ " + strconv.FormatUint(s.mb.HighestModSeq(), 10) + "] Highest\r\n" + out
				}
				s.enableCondstore()
				if req.enableQresync {
					s.enableQresync()
				}
			}
			return []byte(strings.TrimSuffix(out, "\r\n"))
		case req.status && bytes.HasPrefix(l, []byte("* STATUS ")) && bytes.HasSuffix(l, []byte(")")):
			c.cs.mu.Lock()
			h := c.cs.statusHighest
			if req.listStatus {
				h = 0
				if len(c.cs.listHighest) > 0 {
					h, c.cs.listHighest = c.cs.listHighest[0], c.cs.listHighest[1:]
				}
			}
			c.cs.mu.Unlock()
			i := bytes.LastIndexByte(l, '(')
			if i < 0 || h == 0 {
				return l
			}
			items := strings.Fields(string(l[i+1 : len(l)-1]))
			if req.statusStandIn {
				for k := 0; k+1 < len(items); k += 2 {
					if strings.EqualFold(items[k], "UIDNEXT") {
						items = append(items[:k:k], items[k+2:]...)
						break
					}
				}
			}
			items = append(items, "HIGHESTMODSEQ", strconv.FormatUint(h, 10))
			return []byte(string(l[:i+1]) + strings.Join(items, " ") + ")")
		case req.searchModSeq && (bytes.Equal(l, []byte("* SEARCH")) || bytes.HasPrefix(l, []byte("* SEARCH ")) || bytes.HasPrefix(l, []byte("* ESEARCH"))):
			c.cs.mu.Lock()
			h := c.cs.searchHighest
			c.cs.mu.Unlock()
			if h == 0 {
				return l
			}
			if bytes.HasPrefix(l, []byte("* ESEARCH")) {
				return []byte(string(l) + " MODSEQ " + strconv.FormatUint(h, 10))
			}
			return []byte(string(l) + " (MODSEQ " + strconv.FormatUint(h, 10) + ")")
		}
		return l
	}
	// A tagged response ends the command: SELECT's HIGHESTMODSEQ and
	// STORE's MODIFIED are added; what was left for it is forgotten.
	c.cs.mu.Lock()
	defer c.cs.mu.Unlock()
	out := l
	if c.currentTag() == string(tag) && bytes.HasPrefix(l[len(tag):], []byte(" OK")) {
		switch {
		case c.cs.selectHighest != 0:
			out = []byte("* OK [HIGHESTMODSEQ " + strconv.FormatUint(c.cs.selectHighest, 10) + "] Highest\r\n" + c.cs.selectExtra + string(l))
		case c.cs.modified != "":
			out = []byte(string(tag) + " OK [MODIFIED " + c.cs.modified + "] Conditional STORE failed")
		case c.cs.vanishedSent && !bytes.HasPrefix(l[len(tag):], []byte(" OK [")):
			if s := c.sess.Load(); s != nil && s.view != nil {
				out = []byte(string(tag) + " OK [HIGHESTMODSEQ " + strconv.FormatUint(s.view.PolledModSeq(), 10) + "]" + string(l[len(tag)+len(" OK"):]))
			}
		}
	}
	c.cs.modseqs = c.cs.modseqs[:0]
	c.cs.vanishedUIDs = c.cs.vanishedUIDs[:0]
	c.cs.vanishedSent = false
	c.cs.selectExtra = ""
	c.cs.listHighest = nil
	c.cs.selectHighest, c.cs.statusHighest, c.cs.searchHighest, c.cs.modified, c.cs.appendUIDs = 0, 0, 0, "", ""
	return out
}

// sortModSeq adds the highest mod-sequence found to a SORT response when
// its search used MODSEQ (RFC 7162 §3.1.5: "(MODSEQ n)" after the numbers,
// " MODSEQ n" in ESORT's ESEARCH). THREAD responses carry none.
func (c *conn) sortModSeq(req *sortRequest) []byte {
	r := c.condFor(req.tag)
	if r == nil || !r.searchModSeq || req.thread != "" || len(req.result) == 0 {
		return req.result // (empty: SEARCH RETURN (SAVE CONTEXT) sends none)
	}
	c.cs.mu.Lock()
	h := c.cs.searchHighest
	c.cs.mu.Unlock()
	if h == 0 {
		return req.result
	}
	l := strings.TrimRight(string(req.result), "\r\n")
	if strings.HasPrefix(l, "* ESEARCH") {
		return []byte(l + " MODSEQ " + strconv.FormatUint(h, 10) + "\r\n")
	}
	return []byte(l + " (MODSEQ " + strconv.FormatUint(h, 10) + ")\r\n")
}
