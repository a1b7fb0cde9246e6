package imapd

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

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
