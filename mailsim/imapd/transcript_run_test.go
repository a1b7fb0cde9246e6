package imapd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

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
	// uv is the last UIDVALIDITY the session was sent, which "$UV" in a
	// command stands for (QRESYNC's SELECT parameter).
	uv string
}

var uidValidityCode = regexp.MustCompile(`\[UIDVALIDITY ([0-9]+)\]`)

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
	rest := strings.ReplaceAll(cmd, "$UV", s.uv)
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
		if strings.HasPrefix(l, tag+" ") {
			// The server refused the command before its literal (a
			// bad date, a name it cannot take): the command is over,
			// and the transcript says whether it should have been.
			return append(got, normalise(l, keepUID)), nil
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
		if m := uidValidityCode.FindStringSubmatch(l); m != nil {
			s.uv = m[1]
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
