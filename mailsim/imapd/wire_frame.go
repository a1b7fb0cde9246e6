package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// readLine reads one LF-terminated line of at most max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > max {
			return nil, errLineTooLong
		}
		if err == nil {
			return buf, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(buf) > 0 && errors.Is(err, io.EOF) {
			return buf, io.ErrUnexpectedEOF
		}
		return nil, err
	}
}

var errLineTooLong = errors.New("imapd: command line too long")

// literalSize returns the size of a literal announced at the end of a
// response line ("{N}", "{N+}", "~{N}"), and whether it is non-synchronizing.
func literalSize(line []byte) (n int64, nonSync bool, ok bool) {
	l := bytes.TrimRight(line, "\r\n")
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, false, false
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false, false
	}
	num := l[i+1 : len(l)-1]
	if len(num) > 0 && (num[len(num)-1] == '+' || num[len(num)-1] == '-') {
		nonSync = true
		num = num[:len(num)-1]
	}
	v, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || v < 0 {
		return 0, false, false
	}
	return v, nonSync, true
}

// statusResponse tells a server line that is a status response — a
// tagged OK, NO or BAD, an untagged OK, NO, BAD, BYE or PREAUTH — or a
// continuation request: text to its end, never a literal (RFC 9051 §7.1,
// resp-text), whatever it ends with.
func statusResponse(line []byte) bool {
	if len(line) > 0 && line[0] == '+' {
		return true
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	word := line[sp+1:]
	if i := bytes.IndexAny(word, " \r\n"); i >= 0 {
		word = word[:i]
	}
	is := func(ws ...string) bool {
		for _, w := range ws {
			if bytes.EqualFold(word, []byte(w)) {
				return true
			}
		}
		return false
	}
	if sp == 1 && line[0] == '*' {
		return is("OK", "NO", "BAD", "BYE", "PREAUTH")
	}
	return is("OK", "NO", "BAD")
}

// notLiteral ends a status response's line that looks as if it
// announced a literal ("... {2}") with a full stop, so that no client
// waits for one.
func notLiteral(line []byte) []byte {
	if _, _, ok := literalSize(line); !ok {
		return line
	}
	body := bytes.TrimRight(line, "\r\n")
	out := make([]byte, 0, len(line)+1)
	out = append(out, body...)
	out = append(out, '.')
	return append(out, line[len(body):]...)
}

// clientLiteral recognises a literal announced at the end of a client line
// exactly as go-imap's decoder does: "{" digits ["+"] "}" [SP] [CR] LF.
// plus is the index of the "+" of a non-synchronizing literal, else -1.
func clientLiteral(line []byte) (n int64, plus int, ok bool) {
	l := line
	if len(l) == 0 || l[len(l)-1] != '\n' {
		return 0, -1, false
	}
	l = l[:len(l)-1]
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	if len(l) > 0 && l[len(l)-1] == ' ' {
		l = l[:len(l)-1]
	}
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, -1, false
	}
	l = l[:len(l)-1]
	plus = -1
	if l[len(l)-1] == '+' {
		plus = len(l) - 1
		l = l[:len(l)-1]
	}
	i := len(l)
	for i > 0 && l[i-1] >= '0' && l[i-1] <= '9' {
		i--
	}
	if i == len(l) || i == 0 || l[i-1] != '{' {
		return 0, -1, false
	}
	v, err := strconv.ParseInt(string(l[i:]), 10, 64)
	if err != nil {
		return 0, -1, false
	}
	return v, plus, true
}

// bareCR reports whether line holds a CR that does not end it: go-imap's
// decoder would end the command there and read the rest as a new one.
func bareCR(line []byte) bool {
	i := bytes.IndexByte(line, '\r')
	return i >= 0 && i != len(line)-2
}

// openQuote reports whether line ends inside a quoted string: go-imap's
// decoder would read on into the next line (a quoted string cannot hold
// CR or LF in IMAP, but go-imap does not check), where the shim sees a new
// line. Outside quoted strings a '"' is never valid IMAP, so scanning
// every quote is exact for valid commands.
func openQuote(line []byte) bool {
	in := false
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; {
		case in && ch == '\\':
			i++
		case ch == '"':
			in = !in
		}
	}
	return in
}

// badLine names what makes a command line unsafe to pass on.
func badLine(line []byte) (why, reason string) {
	switch {
	case bareCR(line):
		return "Bare CR in command line", "bare_cr"
	case openQuote(line):
		return "Unterminated quoted string", "unterminated_quote"
	}
	return "", ""
}

// splitCommand returns the tag and upper-cased command name of a command
// line, or ok=false when the line is not shaped like a command.
func splitCommand(line []byte) (tag, name string, rest []byte, ok bool) {
	l := bytes.TrimRight(line, "\r\n")
	sp := bytes.IndexByte(l, ' ')
	if sp <= 0 {
		return "", "", nil, false
	}
	tag = string(l[:sp])
	l = l[sp+1:]
	sp = bytes.IndexByte(l, ' ')
	if sp < 0 {
		return tag, strings.ToUpper(string(l)), nil, true
	}
	name = strings.ToUpper(string(l[:sp]))
	if name == "UID" {
		sub := l[sp+1:]
		if j := bytes.IndexByte(sub, ' '); j >= 0 {
			sub = sub[:j]
		}
		name = "UID " + strings.ToUpper(string(sub))
	}
	return tag, name, l[sp+1:], true
}

// maxBufferedLiteral is go-imap's limit on literals it reads into memory
// (every literal but an APPEND's message).
const maxBufferedLiteral = 4096

// maxContLine bounds a continuation line: go-imap reads them with a
// bufio.Reader of 4096 bytes and would take the rest as a new command.
const maxContLine = 4000

func validTag(tag string) bool {
	for i := 0; i < len(tag); i++ {
		if !imapwireAtomChar(tag[i]) || tag[i] == '+' {
			return false
		}
	}
	return tag != ""
}

// imapwireAtomChar mirrors go-imap's IsAtomChar.
func imapwireAtomChar(ch byte) bool {
	switch ch {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return ch > 0x1f && ch < 0x7f
}

// appendTail checks what follows an APPEND's message literal. go-imap
// stores the message before it checks the CRLF, and sends no response at
// all when something else follows; the shim sends the server a clean end
// of command instead and drops the rest (the message is stored either way).
func (c *conn) appendTail(part []byte, cmd *relayed) []byte {
	// APPEND ... UTF8 (~{n}) ends with ")": the literal was announced
	// after "(~" on the line before.
	utf8 := len(cmd.parts) > 0 && bytes.HasSuffix(bytes.TrimRight(literalPrefix(cmd.parts[len(cmd.parts)-1]), " "), []byte("(~"))
	t := part
	if utf8 {
		if len(t) == 0 || t[0] != ')' {
			t = nil
		} else {
			t = t[1:]
		}
	}
	switch string(t) {
	case "\r\n", "\n", " \r\n", " \n":
		return part
	}
	if n, plus, ok := clientLiteral(part); ok && plus >= 0 {
		cmd.tailDiscard = n
	}
	if utf8 {
		return []byte(")\r\n")
	}
	return []byte("\r\n")
}

// literalPrefix returns a line without the literal announced at its end.
func literalPrefix(line []byte) []byte {
	if i := bytes.LastIndexByte(line, '{'); i >= 0 {
		return line[:i]
	}
	return line
}

// discardCommand drops the rest of a command the server has already
// ended: a literal of n bytes, then lines (with their non-synchronizing
// literals) up to the end of the command.
func (c *conn) discardCommand(n int64, budget int) error {
	for {
		if _, err := io.CopyN(io.Discard, c.cr, n); err != nil {
			return err
		}
		line, err := readLine(c.cr, max(budget, 0))
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				return c.bye("", "TOOBIG", "Command line too long", "limit_line_length", "")
			}
			return err
		}
		budget -= len(line)
		m, plus, ok := clientLiteral(line)
		if !ok || plus < 0 {
			return nil
		}
		if m > c.literalLimit() {
			return c.bye("", "TOOBIG", "Literal too large", "limit_literal_size", "")
		}
		n = m
	}
}
