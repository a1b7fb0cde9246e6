package imapd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/store"
)

// The differential transcript suite: IMAP sessions kept as text in
// testdata/transcripts/*.txt, played against mailsim always and against
// Debian's Dovecot (started on loopback by the test) when MAILDRILL_DOVECOT=1.
// The format is described in testdata/transcripts/README.md.

// transcript is one parsed file.
type transcript struct {
	path     string
	name     string
	skip     map[string]string // server -> why it is not played there
	messages map[string][]byte
	steps    []step
}

// step is one client command and what the server is expected to answer.
type step struct {
	line    int // where the command is in the file
	session int // 1-based
	cmd     string
	expect  []expectLine
}

type expectLine struct {
	line     int
	server   string // "" for both, else "mailsim" or "dovecot"
	optional bool
	pattern  string
	re       *regexp.Regexp
}

var transcriptServers = []string{"mailsim", "dovecot"}

var lineKey = regexp.MustCompile(`^([CS])([0-9]?)(\?)?(?:\[([a-z]+)\])?: ?(.*)$`)

// parseTranscript reads a transcript; errors name file:line.
func parseTranscript(path string) (*transcript, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tr := &transcript{path: path, name: strings.TrimSuffix(filepath.Base(path), ".txt"), skip: map[string]string{}, messages: map[string][]byte{}}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	errf := func(n int, col int, format string, a ...any) error {
		return fmt.Errorf("%s:%d:%d: %s", path, n, col, fmt.Sprintf(format, a...))
	}
	why := false // a "# why:" comment precedes the current server-specific block
	for i := 0; i < len(lines); i++ {
		n, l := i+1, lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			why = false
			continue
		case strings.HasPrefix(l, "# why:"):
			if strings.TrimSpace(strings.TrimPrefix(l, "# why:")) == "" {
				return nil, errf(n, 7, "empty reason")
			}
			why = true
			continue
		case strings.HasPrefix(l, "#"):
			continue
		case strings.HasPrefix(l, "skip "):
			f := strings.SplitN(strings.TrimPrefix(l, "skip "), ":", 2)
			srv := strings.TrimSpace(f[0])
			if !knownServer(srv) {
				return nil, errf(n, 6, "unknown server %q (want mailsim or dovecot)", srv)
			}
			if len(f) < 2 || strings.TrimSpace(f[1]) == "" {
				return nil, errf(n, len(l)+1, "skip needs a reason after ':'")
			}
			tr.skip[srv] = strings.TrimSpace(f[1])
			continue
		case strings.HasPrefix(l, "message "):
			name := strings.TrimSpace(strings.TrimPrefix(l, "message "))
			escaped := false
			if n, ok := strings.CutSuffix(name, " escaped"); ok {
				name, escaped = strings.TrimSpace(n), true
			}
			if name == "" || strings.ContainsAny(name, " {}") {
				return nil, errf(n, 9, "bad message name %q", name)
			}
			if _, dup := tr.messages[name]; dup {
				return nil, errf(n, 9, "message %q defined twice", name)
			}
			var body []string
			j := i + 1
			for ; j < len(lines) && lines[j] != "."; j++ {
				body = append(body, strings.TrimPrefix(lines[j], "."))
			}
			if j == len(lines) {
				return nil, errf(n, 1, "message %q has no terminating '.' line", name)
			}
			msg := strings.Join(body, "\r\n") + "\r\n"
			if escaped {
				var err error
				if msg, err = unescapeMessage(msg); err != nil {
					return nil, errf(n, 1, "message %q: %v", name, err)
				}
			}
			tr.messages[name] = []byte(msg)
			i = j
			continue
		}
		m := lineKey.FindStringSubmatch(l)
		if m == nil {
			return nil, errf(n, 1, "want 'C:', 'S:', 'S?:', 'S[server]:', 'message NAME', 'skip SERVER: why' or a '#' comment, got %q", l)
		}
		sess := 1
		if m[2] != "" {
			sess, _ = strconv.Atoi(m[2])
			if sess == 0 {
				return nil, errf(n, 2, "session numbers start at 1")
			}
		}
		if m[1] == "C" {
			if m[3] != "" || m[4] != "" {
				return nil, errf(n, 2, "'?' and '[server]' apply to S lines only")
			}
			if !strings.Contains(m[5], " ") {
				return nil, errf(n, 3, "a command needs a tag and a name: %q", m[5])
			}
			for _, ref := range msgRef.FindAllStringSubmatch(m[5], -1) {
				if _, ok := tr.messages[ref[1]]; !ok {
					return nil, errf(n, strings.Index(l, ref[0])+1, "message %q is not defined above", ref[1])
				}
			}
			tr.steps = append(tr.steps, step{line: n, session: sess, cmd: m[5]})
			continue
		}
		if len(tr.steps) == 0 {
			return nil, errf(n, 1, "server line before any command")
		}
		st := &tr.steps[len(tr.steps)-1]
		if sess != st.session {
			return nil, errf(n, 2, "server line for session %d after a command of session %d", sess, st.session)
		}
		if m[4] != "" {
			if !knownServer(m[4]) {
				return nil, errf(n, 3, "unknown server %q (want mailsim or dovecot)", m[4])
			}
			if !why {
				return nil, errf(n, 1, "a line for one server must follow a '# why:' comment saying why the servers differ")
			}
		}
		re, err := compilePattern(m[5])
		if err != nil {
			return nil, errf(n, 1, "%v", err)
		}
		st.expect = append(st.expect, expectLine{line: n, server: m[4], optional: m[3] != "", pattern: m[5], re: re})
	}
	for _, st := range tr.steps {
		tag := strings.Fields(st.cmd)[0]
		for _, srv := range transcriptServers {
			var last *expectLine
			for k := range st.expect {
				if e := &st.expect[k]; e.server == "" || e.server == srv {
					last = e
				}
			}
			if last == nil || !strings.HasPrefix(last.pattern, tag+" ") {
				return nil, errf(st.line, 1, "the last expected line of command %q (for %s) must be its tagged response", tag, srv)
			}
		}
	}
	if len(tr.steps) == 0 {
		return nil, errf(1, 1, "no commands")
	}
	return tr, nil
}

func knownServer(s string) bool { return s == "mailsim" || s == "dovecot" }

var uidWord = regexp.MustCompile(`(?i)\bUID\b`)

// msgRef is "{NAME}" (a literal) or "~{NAME}" (a literal8, RFC 3516).
var msgRef = regexp.MustCompile(`~?\{([A-Za-z0-9_.-]+)\}`)

// unescapeMessage turns \xNN into the byte and \\ into a backslash.
func unescapeMessage(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case i+3 < len(s) && s[i+1] == 'x':
			n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				return "", fmt.Errorf("bad escape %q", s[i:i+4])
			}
			b.WriteByte(byte(n))
			i += 3
		default:
			return "", fmt.Errorf("a backslash must start \\xNN or \\\\")
		}
	}
	return b.String(), nil
}

// compilePattern turns an expected line into a regexp: the text matches
// itself, {*} any text, {n} a number.
func compilePattern(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for len(p) > 0 {
		switch {
		case strings.HasPrefix(p, "{*}"):
			b.WriteString(".*")
			p = p[3:]
		case strings.HasPrefix(p, "{n}"):
			b.WriteString("[0-9]+")
			p = p[3:]
		default:
			k := strings.IndexByte(p[1:], '{') + 1
			if k == 0 {
				k = len(p)
			}
			b.WriteString(regexp.QuoteMeta(p[:k]))
			p = p[k:]
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// --- reading responses -----------------------------------------------------

// respReader reads logical response lines: a literal is read and put
// inline as a quoted string.
type respReader struct {
	br *bufio.Reader
}

var literalTail = regexp.MustCompile(`~?\{([0-9]+)\}$`)

func (r *respReader) readLine() (string, error) {
	var out strings.Builder
	for {
		l, err := r.br.ReadString('\n')
		if err != nil {
			return out.String() + l, err
		}
		l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
		m := literalTail.FindStringSubmatchIndex(l)
		if m == nil {
			out.WriteString(l)
			return out.String(), nil
		}
		n, _ := strconv.Atoi(l[m[2]:m[3]])
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.br, buf); err != nil {
			return out.String(), err
		}
		out.WriteString(l[:m[0]])
		out.WriteString(quoteNorm(string(buf)))
	}
}

// quoteNorm renders a string the way normalised lines show every string.
func quoteNorm(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// --- normalisation -----------------------------------------------------------

var statusLine = regexp.MustCompile(`^(\S+) (OK|NO|BAD|BYE|PREAUTH)(?: \[([^\]]*)\])?`)

// normalise rewrites a response line so that what legitimately differs
// between servers compares equal: the human-readable text of status
// responses, capability lists, UIDVALIDITY values, the order of FETCH
// items, of flags and of STATUS items, quoted strings versus atoms.
func normalise(l string, keepUID bool) string {
	if m := statusLine.FindStringSubmatch(l); m != nil {
		out := m[1] + " " + m[2]
		if m[3] != "" || strings.Contains(m[0], "[") {
			out += " [" + normaliseCode(m[3]) + "]"
		}
		return out
	}
	toks, err := tokenize(l)
	if err != nil {
		return l
	}
	v := parseValues(&toks)
	// * n FETCH (...), * STATUS box (...), * FLAGS (...), * LIST (...) ...
	if len(v) >= 4 && v[0].atom == "*" && strings.EqualFold(v[2].atom, "FETCH") && v[3].isList {
		v[3].list = sortPairs(v[3].list)
		if !keepUID {
			v[3].list = dropPair(v[3].list, "UID")
		}
	} else if len(v) >= 4 && v[0].atom == "*" && strings.EqualFold(v[1].atom, "STATUS") && v[3].isList {
		v[3].list = sortPairs(v[3].list)
		for i := 0; i+1 < len(v[3].list); i += 2 {
			if strings.EqualFold(v[3].list[i].atom, "UIDVALIDITY") {
				v[3].list[i+1] = value{atom: "$UV"}
			}
		}
	} else if len(v) >= 3 && v[0].atom == "*" && (strings.EqualFold(v[1].atom, "FLAGS") || strings.EqualFold(v[1].atom, "LIST") || strings.EqualFold(v[1].atom, "LSUB")) && v[2].isList {
		sortAtoms(v[2].list)
	}
	return renderValues(v)
}

func normaliseCode(code string) string {
	f := strings.SplitN(code, " ", 2)
	name := strings.ToUpper(f[0])
	switch name {
	case "CAPABILITY":
		return "CAPABILITY"
	case "UIDVALIDITY":
		return "UIDVALIDITY $UV"
	case "APPENDUID", "COPYUID":
		if len(f) == 2 {
			g := strings.SplitN(f[1], " ", 2)
			if len(g) == 2 {
				return name + " $UV " + g[1]
			}
		}
	case "PERMANENTFLAGS":
		if len(f) == 2 {
			toks, err := tokenize(f[1])
			if err == nil {
				v := parseValues(&toks)
				if len(v) == 1 && v[0].list != nil {
					sortAtoms(v[0].list)
					return name + " " + renderValues(v)
				}
			}
		}
	}
	return code
}

type token struct {
	kind byte // '(' ')' 'a' atom, 's' string
	text string
}

// tokenize splits a response line; an atom may hold a [...] section with
// spaces and parentheses inside (BODY[HEADER.FIELDS (FROM)]).
func tokenize(l string) ([]token, error) {
	var out []token
	for i := 0; i < len(l); {
		c := l[i]
		switch {
		case c == ' ':
			i++
		case c == '(' || c == ')':
			out = append(out, token{kind: c})
			i++
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(l) && l[j] != '"'; j++ {
				if l[j] == '\\' && j+1 < len(l) {
					j++
					switch l[j] {
					case 'r':
						b.WriteByte('\r')
						continue
					case 'n':
						b.WriteByte('\n')
						continue
					case 'x':
						if j+2 < len(l) {
							if n, err := strconv.ParseUint(l[j+1:j+3], 16, 8); err == nil {
								b.WriteByte(byte(n))
								j += 2
								continue
							}
						}
					}
				}
				b.WriteByte(l[j])
			}
			if j >= len(l) {
				return nil, fmt.Errorf("unterminated string")
			}
			out = append(out, token{kind: 's', text: b.String()})
			i = j + 1
		default:
			j, depth := i, 0
			for ; j < len(l); j++ {
				if l[j] == '[' {
					depth++
				} else if l[j] == ']' {
					depth--
				} else if depth == 0 && (l[j] == ' ' || l[j] == '(' || l[j] == ')') {
					break
				}
			}
			out = append(out, token{kind: 'a', text: l[i:j]})
			i = j
		}
	}
	return out, nil
}

type value struct {
	atom   string
	str    *string
	list   []value
	isList bool
}

func parseValues(toks *[]token) []value {
	var out []value
	for len(*toks) > 0 {
		t := (*toks)[0]
		*toks = (*toks)[1:]
		switch t.kind {
		case '(':
			l := parseValues(toks)
			if l == nil {
				l = []value{}
			}
			out = append(out, value{list: l, isList: true})
		case ')':
			return out
		case 's':
			s := t.text
			out = append(out, value{str: &s})
		default:
			out = append(out, value{atom: t.text})
		}
	}
	return out
}

// isAtomText says whether a quoted string could have been sent as an atom
// with the same meaning.
func isAtomText(s string) bool {
	if s == "" || strings.EqualFold(s, "NIL") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`(){%*"\]`, r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func renderValue(v value) string {
	switch {
	case v.isList:
		return "(" + renderValues(v.list) + ")"
	case v.str != nil:
		s := *v.str
		if isAtomText(s) {
			return s
		}
		if dateDayFixed.MatchString(s) {
			s = "0" + s[1:] // date-day-fixed: " 1-Dec-2025" is "01-Dec-2025"
		}
		return quoteNorm(s)
	}
	if strings.Contains(v.atom, "[") {
		// A section's header field names may be quoted or atoms.
		return sectionQuoted.ReplaceAllString(v.atom, "$1")
	}
	return v.atom
}

var (
	dateDayFixed  = regexp.MustCompile(`^ [1-9]-[A-Z][a-z]{2}-[0-9]{4} `)
	sectionQuoted = regexp.MustCompile(`"([A-Za-z0-9-]+)"`)
)

func renderValues(vs []value) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = renderValue(v)
	}
	return strings.Join(parts, " ")
}

// sortPairs sorts a "key value key value" list by key.
func sortPairs(l []value) []value {
	if len(l)%2 != 0 {
		return l
	}
	type pair struct{ k, v value }
	ps := make([]pair, 0, len(l)/2)
	for i := 0; i < len(l); i += 2 {
		if strings.EqualFold(l[i].atom, "FLAGS") && l[i+1].isList {
			sortAtoms(l[i+1].list)
		}
		ps = append(ps, pair{l[i], l[i+1]})
	}
	sort.SliceStable(ps, func(i, j int) bool { return strings.ToUpper(ps[i].k.atom) < strings.ToUpper(ps[j].k.atom) })
	out := make([]value, 0, len(l))
	for _, p := range ps {
		out = append(out, p.k, p.v)
	}
	return out
}

// dropPair removes key and its value from a "key value" list.
func dropPair(l []value, key string) []value {
	for i := 0; i+1 < len(l); i += 2 {
		if strings.EqualFold(l[i].atom, key) {
			return append(l[:i:i], l[i+2:]...)
		}
	}
	return l
}

func sortAtoms(l []value) {
	sort.SliceStable(l, func(i, j int) bool { return strings.ToUpper(renderValue(l[i])) < strings.ToUpper(renderValue(l[j])) })
}

// --- playing -------------------------------------------------------------------

// target is a server a transcript is played against.
type target struct {
	name string
	addr string
	// login returns the user and password for session s of transcript tr.
	user, pass string
}

type tsession struct {
	c  net.Conn
	rr *respReader
	w  *bufio.Writer
}

func (ts *tsession) send(s string) error {
	ts.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := ts.w.WriteString(s); err != nil {
		return err
	}
	return ts.w.Flush()
}

func (ts *tsession) read() (string, error) {
	ts.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	return ts.rr.readLine()
}

func dialTranscript(tg target) (*tsession, error) {
	c, err := net.DialTimeout("tcp", tg.addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	s := &tsession{c: c, rr: &respReader{br: bufio.NewReader(c)}, w: bufio.NewWriter(c)}
	g, err := s.read()
	if err != nil || !strings.HasPrefix(g, "* OK") {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", g, err)
	}
	if err := s.send(fmt.Sprintf("L0 LOGIN %s %s\r\n", quoteNorm(tg.user), quoteNorm(tg.pass))); err != nil {
		c.Close()
		return nil, err
	}
	for {
		l, err := s.read()
		if err != nil {
			c.Close()
			return nil, err
		}
		if strings.HasPrefix(l, "L0 ") {
			if !strings.HasPrefix(l, "L0 OK") {
				c.Close()
				return nil, fmt.Errorf("login as %s: %s", tg.user, l)
			}
			return s, nil
		}
	}
}

// run plays every step of tr against tg; it returns one message per
// mismatch (file:line, expected, got).
func (tr *transcript) run(tg target) []string {
	sessions := map[int]*tsession{}
	defer func() {
		for _, s := range sessions {
			s.send("Z LOGOUT\r\n")
			s.c.Close()
		}
	}()
	var fails []string
	for _, st := range tr.steps {
		s := sessions[st.session]
		if s == nil {
			var err error
			if s, err = dialTranscript(tg); err != nil {
				return append(fails, fmt.Sprintf("%s:%d: session %d: %v", tr.path, st.line, st.session, err))
			}
			sessions[st.session] = s
		}
		got, err := s.exchange(tr, st.cmd)
		if err != nil {
			return append(fails, fmt.Sprintf("%s:%d: %s: %v (got %q)", tr.path, st.line, st.cmd, err, got))
		}
		if msg := matchStep(st, tg.name, got); msg != "" {
			fails = append(fails, fmt.Sprintf("%s:%d: %s\n%s", tr.path, st.line, st.cmd, msg))
		}
	}
	return fails
}

// exchange sends a command (its {message} references as synchronizing
// literals) and returns the normalised response lines, the tagged one last.
func (s *tsession) exchange(tr *transcript, cmd string) ([]string, error) {
	tag := strings.Fields(cmd)[0]
	// A server may add UID to FETCH responses the client did not ask it
	// in (RFC 3501 §7.4.2 lets it send more than asked); compared only
	// when the command names UID.
	keepUID := uidWord.MatchString(cmd)
	var got []string
	rest := cmd
	for {
		loc := msgRef.FindStringSubmatchIndex(rest)
		if loc == nil {
			break
		}
		body := tr.messages[rest[loc[2]:loc[3]]]
		tilde := ""
		if rest[loc[0]] == '~' {
			tilde = "~"
		}
		if err := s.send(fmt.Sprintf("%s%s{%d}\r\n", rest[:loc[0]], tilde, len(body))); err != nil {
			return got, err
		}
		l, err := s.read()
		if err != nil {
			return got, err
		}
		if !strings.HasPrefix(l, "+") {
			return append(got, normalise(l, keepUID)), fmt.Errorf("literal not accepted")
		}
		if err := s.send(string(body)); err != nil {
			return got, err
		}
		rest = rest[loc[1]:]
	}
	if err := s.send(rest + "\r\n"); err != nil {
		return got, err
	}
	for {
		l, err := s.read()
		if err != nil {
			return got, err
		}
		got = append(got, normalise(l, keepUID))
		if strings.HasPrefix(l, tag+" ") {
			return got, nil
		}
	}
}

// matchStep compares a command's response lines with the expected ones.
// Untagged lines may come in any order; the tagged line is last. Every
// line received must be expected, and every expected line not marked
// optional must be received.
func matchStep(st step, server string, got []string) string {
	var exp []expectLine
	for _, e := range st.expect {
		if e.server == "" || e.server == server {
			exp = append(exp, e)
		}
	}
	used := make([]bool, len(exp))
	var bad []string
	last := len(got) - 1
	for i, g := range got {
		found := false
		for k, e := range exp {
			if used[k] || (i == last) != (k == len(exp)-1) {
				continue
			}
			if e.re.MatchString(g) {
				used[k], found = true, true
				break
			}
		}
		if !found {
			bad = append(bad, "  unexpected: "+g)
		}
	}
	for k, e := range exp {
		if !used[k] && !e.optional {
			bad = append(bad, fmt.Sprintf("  missing (line %d): %s", e.line, e.pattern))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return strings.Join(bad, "\n") + "\n  received:\n    " + strings.Join(got, "\n    ")
}

// --- servers -------------------------------------------------------------------

// transcriptBase gives every user an empty INBOX: transcripts seed their
// own messages with APPEND, on both servers alike.
type transcriptBase struct{}

func (transcriptBase) Folders(owner string) []store.BaseFolder {
	return []store.BaseFolder{{Name: "INBOX", UIDValidity: 1}}
}

func (transcriptBase) Message(owner, folder string, uid uint32) (store.BaseMessage, error) {
	return store.BaseMessage{}, fmt.Errorf("no base messages")
}

type transcriptDir struct{}

func (transcriptDir) Authenticate(u, p string) (string, error) {
	if !strings.HasPrefix(u, "t-") || p != "pw" {
		return "", ErrInvalidCredentials
	}
	return strings.ToLower(u), nil
}

func (transcriptDir) Account(addr string) (Account, bool) {
	if !strings.HasPrefix(addr, "t-") {
		return Account{}, false
	}
	return Account{Address: addr, Kind: "person"}, true
}

func (transcriptDir) AccessibleBy(string) []Account { return nil }

func startTranscriptMailsim(t *testing.T) string {
	t.Helper()
	clk := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	bus := audit.NewBus(clk, audit.BusOptions{RunID: "transcripts"})
	st := store.New(transcriptBase{}, clk, store.Options{})
	srv, err := New(Config{Store: st, Directory: transcriptDir{}, Bus: bus, AllowInsecureAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		bus.Close()
	})
	return ln.Addr().String()
}

func loadTranscripts(t *testing.T) []*transcript {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "transcripts", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no transcripts in testdata/transcripts")
	}
	var out []*transcript
	for _, f := range files {
		tr, err := parseTranscript(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tr)
	}
	return out
}

// TestTranscripts plays every transcript against mailsim, each on a fresh
// server; with MAILDRILL_DOVECOT=1, against Debian's Dovecot too.
func TestTranscripts(t *testing.T) {
	trs := loadTranscripts(t)
	servers := []string{"mailsim"}
	var dovecotAddr string
	if os.Getenv("MAILDRILL_DOVECOT") == "1" {
		var users []string
		for _, tr := range trs {
			users = append(users, "t-"+tr.name)
		}
		dovecotAddr = startTranscriptDovecot(t, users)
		servers = append(servers, "dovecot")
	}
	for _, srv := range servers {
		t.Run(srv, func(t *testing.T) {
			for _, tr := range trs {
				t.Run(tr.name, func(t *testing.T) {
					if why, ok := tr.skip[srv]; ok {
						t.Skipf("%s: not played on %s: %s", tr.path, srv, why)
					}
					tg := target{name: srv, user: "t-" + tr.name, pass: "pw"}
					if srv == "mailsim" {
						tg.addr = startTranscriptMailsim(t)
					} else {
						tg.addr = dovecotAddr
					}
					for _, f := range tr.run(tg) {
						t.Error(f)
					}
				})
			}
		})
	}
}

// TestTranscriptHarness holds the harness itself to account: bad files are
// refused with file:line:col, normalisation is what the README says, and a
// response that differs from the transcript fails.
func TestTranscriptHarness(t *testing.T) {
	dir := t.TempDir()
	bad := map[string]string{
		"S: a1 OK\n": ":1:1: server line before any command",
		"C: a1 NOOP\nS[dovecot]: a1 OK\nS: a1 OK\n":     ":2:1: a line for one server must follow a '# why:'",
		"C: a1 APPEND INBOX {m}\nS: a1 OK\n":            ":1:20: message \"m\" is not defined above",
		"C: a1 NOOP\nS: * OK\n":                         ":1:1: the last expected line of command \"a1\"",
		"message m\nFrom: a@b\n":                        ":1:1: message \"m\" has no terminating '.' line",
		"skip exchange: no\nC: a1 NOOP\nS: a1 OK\n":     ":1:6: unknown server \"exchange\"",
		"C: a1 NOOP\nX: a1 OK\n":                        ":2:1: want 'C:'",
		"C: a1 NOOP\n# why: test\nS[qmail]: a1 OK\n":    ":3:3: unknown server \"qmail\"",
		"C: a1 NOOP\nS: a1 OK\nC2: b1 NOOP\nS: b1 OK\n": ":4:2: server line for session 1 after a command of session 2",
		"message m escaped\nSubject: \\q\n.\n":          ":1:1: message \"m\": a backslash must start",
		"message m escaped\nSubject: \\xZZ\n.\n":        ":1:1: message \"m\": bad escape",
	}
	i := 0
	for src, want := range bad {
		i++
		p := filepath.Join(dir, fmt.Sprintf("bad%d.txt", i))
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := parseTranscript(p)
		if err == nil || !strings.Contains(err.Error(), p+want) {
			t.Errorf("%q: error %v, want %s%s", src, err, p, want)
		}
	}
	for in, want := range map[string]string{
		`a3 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).`: `a3 OK [READ-WRITE]`,
		`* OK [UIDVALIDITY 1764870000] UIDs valid`:                  `* OK [UIDVALIDITY $UV]`,
		`a1 OK [APPENDUID 17 4] Append completed.`:                  `a1 OK [APPENDUID $UV 4]`,
		`L0 OK [CAPABILITY IMAP4rev1 IDLE] Logged in`:               `L0 OK [CAPABILITY]`,
		`* 2 FETCH (UID 7 FLAGS (\Seen \Answered) RFC822.SIZE 12)`:  `* 2 FETCH (FLAGS (\Answered \Seen) RFC822.SIZE 12)`,
		`* 1 FETCH (INTERNALDATE " 1-Dec-2025 10:00:00 +0000")`:     `* 1 FETCH (INTERNALDATE "01-Dec-2025 10:00:00 +0000")`,
		`* STATUS "a b" (UIDVALIDITY 9 MESSAGES 2)`:                 `* STATUS "a b" (MESSAGES 2 UIDVALIDITY $UV)`,
		`* LIST (\HasNoChildren \Marked) "/" "INBOX"`:               `* LIST (\HasNoChildren \Marked) / INBOX`,
	} {
		if got := normalise(in, false); got != want {
			t.Errorf("normalise(%q) = %q, want %q", in, got, want)
		}
	}
	if got := normalise(`* 2 FETCH (UID 7 FLAGS ())`, true); got != `* 2 FETCH (FLAGS () UID 7)` {
		t.Errorf("UID kept: %q", got)
	}
	p := filepath.Join(dir, "ok.txt")
	os.WriteFile(p, []byte("C: a1 NOOP\nS: * {n} EXISTS\nS?: * {n} RECENT\nS: a1 OK\n"), 0o644)
	tr, err := parseTranscript(p)
	if err != nil {
		t.Fatal(err)
	}
	st := tr.steps[0]
	if msg := matchStep(st, "mailsim", []string{"* 3 EXISTS", "a1 OK"}); msg != "" {
		t.Errorf("a matching response failed: %s", msg)
	}
	for _, got := range [][]string{
		{"a1 OK"},                              // a line missing
		{"* 3 EXISTS", "* 1 EXPUNGE", "a1 OK"}, // a line not expected
		{"* 3 EXISTS", "a1 NO"},                // another verdict
		{"a1 OK", "* 3 EXISTS"},                // tagged line not last
	} {
		if matchStep(st, "mailsim", got) == "" {
			t.Errorf("%q matched %s", got, p)
		}
	}
}

// capabilitiesAfterLogin asks a server its CAPABILITY list after login.
func capabilitiesAfterLogin(t *testing.T, tg target) []string {
	t.Helper()
	s, err := dialTranscript(tg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.c.Close()
	if err := s.send("c1 CAPABILITY\r\n"); err != nil {
		t.Fatal(err)
	}
	var caps []string
	for {
		l, err := s.read()
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := strings.CutPrefix(l, "* CAPABILITY "); ok {
			caps = strings.Fields(strings.ToUpper(f))
		}
		if strings.HasPrefix(l, "c1 ") {
			break
		}
	}
	sort.Strings(caps)
	return caps
}

// readmeCapabilities reads the README's table of IMAP capabilities: the
// capabilities marked in the column of server (1: mailsim, 2: Dovecot).
func readmeCapabilities(t *testing.T, col int) []string {
	t.Helper()
	const path = "../../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for n, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "#"):
			in = strings.Contains(l, "IMAP capabilities")
			continue
		case !in || !strings.HasPrefix(l, "| `"):
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		if len(cells) < 3 {
			t.Fatalf("%s:%d: a row of the capability table has %d cells, want 4", path, n+1, len(cells))
		}
		mark := strings.TrimSpace(cells[col])
		if mark != "yes" && mark != "—" {
			t.Fatalf("%s:%d:%d: want yes or — in the %s column, got %q", path, n+1, strings.Index(l, cells[col])+1, []string{"", "mailsim", "Dovecot"}[col], mark)
		}
		if mark == "yes" {
			out = append(out, strings.ToUpper(strings.Trim(strings.TrimSpace(cells[0]), "`")))
		}
	}
	sort.Strings(out)
	return out
}

// TestCapabilityTable holds the README's capability table to what the
// running servers advertise after login: mailsim always, Dovecot 2.3 under
// MAILDRILL_DOVECOT=1.
func TestCapabilityTable(t *testing.T) {
	got := capabilitiesAfterLogin(t, target{name: "mailsim", addr: startTranscriptMailsim(t), user: "t-caps", pass: "pw"})
	if want := readmeCapabilities(t, 1); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("mailsim advertises\n  %s\nREADME says\n  %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	if os.Getenv("MAILDRILL_DOVECOT") != "1" {
		return
	}
	addr := startTranscriptDovecot(t, []string{"t-caps"})
	got = capabilitiesAfterLogin(t, target{name: "dovecot", addr: addr, user: "t-caps", pass: "pw"})
	if want := readmeCapabilities(t, 2); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Dovecot advertises\n  %s\nREADME says\n  %s", strings.Join(got, " "), strings.Join(want, " "))
	}
}
