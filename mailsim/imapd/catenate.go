package imapd

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/maildrill/maildrill/mailsim/store"
)

// CATENATE (RFC 4469): APPEND mailbox [flags] [date] CATENATE (TEXT
// literal / URL "imap-url" ...). go-imap's imapserver knows none of it, so
// the shim reads the whole command (answering the client's synchronizing
// literals itself), and sends the server an APPEND whose message literal
// holds the parts, encoded; the session's Append, told so by the shim,
// resolves the URLs (RFC 5092, this user's own mailboxes only) and adds
// the message they make. Inside a MULTIAPPEND it is refused.

// Bounds of a CATENATE command.
const maxCatenateParts = 100

// catenateAt returns where " CATENATE (" starts in an APPEND's arguments,
// -1 when it is not there.
func catenateAt(rest []byte) int {
	return bytes.Index(bytes.ToUpper(rest), []byte(" CATENATE ("))
}

// readCatenate reads a CATENATE APPEND's parts from the client. It returns
// the APPEND line for the server and the encoded parts, or a nil line when
// it answered the client itself.
func (c *conn) readCatenate(tag string, line []byte) ([]byte, []byte, error) {
	_, _, rest, _ := splitCommand(line)
	prefix := bytes.TrimRight(rest[:catenateAt(rest)], " ")
	s := line[catenateAt(line)+len(" CATENATE ("):]
	cmd := &relayed{tag: tag, name: "APPEND"}
	var payload []byte
	parts := 0
	refuse := func(why string) ([]byte, []byte, error) {
		reason := "syntax_error"
		if strings.Contains(why, "MULTIAPPEND") {
			reason = "catenate_in_multiappend"
		}
		c.srv.auditRefusal(c.info, "APPEND", reason)
		return nil, nil, c.writeClient(tag + " BAD " + why + "\r\n")
	}
	for {
		s = bytes.TrimLeft(s, " ")
		if len(s) == 0 {
			return refuse("CATENATE: missing )")
		}
		if s[0] == ')' {
			if t := bytes.TrimRight(s[1:], "\r\n"); len(t) > 0 {
				// The messages after it are read and dropped.
				if _, _, err := refuse("CATENATE in MULTIAPPEND is not supported"); err != nil {
					return nil, nil, err
				}
				if n, plus, ok := clientLiteral(s); ok && plus >= 0 {
					return nil, nil, c.discardCommand(n, c.srv.maxLine())
				}
				return nil, nil, nil
			}
			break
		}
		if parts >= maxCatenateParts {
			return nil, nil, c.bye(tag, "LIMIT", fmt.Sprintf("CATENATE over %d parts", maxCatenateParts), "limit_catenate", "APPEND")
		}
		kw, after, _ := bytes.Cut(s, []byte(" "))
		switch strings.ToUpper(string(kw)) {
		case "TEXT":
			n, plus, ok := clientLiteral(after)
			if !ok || after[0] != '{' || (plus < 0 && !bytes.HasPrefix(after[bytes.IndexByte(after, '}'):], []byte("}\r\n"))) {
				return nil, nil, c.bye(tag, "CLIENTBUG", "CATENATE: TEXT needs a literal", "syntax_error", "APPEND")
			}
			// The parts go to the server as one literal, under the
			// limit of an APPEND's message.
			if size := int64(len(payload)) + n + 24; size > c.literalLimit() {
				return nil, nil, c.bye(tag, "TOOBIG", fmt.Sprintf("CATENATE of %d bytes exceeds the limit of %d", size, c.literalLimit()), "limit_literal_size", "APPEND")
			}
			if plus < 0 {
				if err := c.writeClient("+ OK\r\n"); err != nil {
					return nil, nil, err
				}
			}
			text := make([]byte, n)
			if _, err := io.ReadFull(c.cr, text); err != nil {
				return nil, nil, err
			}
			payload = append(payload, fmt.Sprintf("T%d\n", n)...)
			payload = append(payload, text...)
			next, err := c.readCommandPart(tag, cmd, c.srv.maxLine())
			if err != nil {
				return nil, nil, err
			}
			s = next
		case "URL":
			u, tail, ok := astring(after)
			if !ok {
				return refuse("CATENATE: URL needs a string")
			}
			payload = append(payload, fmt.Sprintf("U%d\n", len(u))...)
			payload = append(payload, u...)
			if int64(len(payload)) > c.literalLimit() {
				return nil, nil, c.bye(tag, "TOOBIG", fmt.Sprintf("CATENATE of %d bytes exceeds the limit of %d", len(payload), c.literalLimit()), "limit_literal_size", "APPEND")
			}
			s = tail
		default:
			return refuse("CATENATE: expected TEXT or URL")
		}
		parts++
	}
	if parts == 0 {
		return refuse("CATENATE: no parts")
	}
	return []byte(fmt.Sprintf("%s APPEND %s {%d+}\r\n", tag, prefix, len(payload))), payload, nil
}

// astring reads a quoted string or an atom at the start of s.
func astring(s []byte) (string, []byte, bool) {
	if len(s) == 0 {
		return "", nil, false
	}
	if s[0] == '"' {
		var b []byte
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
				if i < len(s) {
					b = append(b, s[i])
				}
			case '"':
				return string(b), s[i+1:], true
			case '\r', '\n':
				return "", nil, false
			default:
				b = append(b, s[i])
			}
		}
		return "", nil, false
	}
	i := bytes.IndexAny(s, " )\r\n")
	if i <= 0 {
		return "", nil, false
	}
	return string(s[:i]), s[i:], true
}

// catenated makes the message of a CATENATE APPEND from its encoded parts.
func (s *session) catenated(payload []byte) ([]byte, int, error) {
	var out []byte
	parts := 0
	for len(payload) > 0 {
		kind := payload[0]
		nl := bytes.IndexByte(payload, '\n')
		if nl < 0 {
			return nil, parts, fmt.Errorf("catenate: bad encoding")
		}
		n, err := strconv.Atoi(string(payload[1:nl]))
		if err != nil || n < 0 || nl+1+n > len(payload) {
			return nil, parts, fmt.Errorf("catenate: bad encoding")
		}
		data := payload[nl+1 : nl+1+n]
		payload = payload[nl+1+n:]
		parts++
		if kind == 'T' {
			out = append(out, data...)
		} else {
			b, err := s.resolveURL(string(data))
			if err != nil {
				return nil, parts, err
			}
			out = append(out, b...)
		}
		if int64(len(out)) > s.srv.cfg.MaxAppendBytes {
			return nil, parts, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too large"}
		}
	}
	return out, parts, nil
}

// badURL is the refusal of a URL (RFC 4469 §6).
func badURL(u string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("BADURL " + u), Text: "Invalid URL"}
}

// resolveURL returns what an IMAP URL (RFC 5092) names:
// /mailbox[;UIDVALIDITY=v]/;UID=u[/;SECTION=s], or ;UID=u[/;SECTION=s]
// relative to the selected mailbox, as Dovecot takes them. Only this user's mailboxes;
// anything else is refused with BADURL.
func (s *session) resolveURL(u string) ([]byte, error) {
	var box, rest string
	switch {
	case strings.HasPrefix(u, ";"):
		// Relative to the selected mailbox's URL.
		if s.mb == nil {
			return nil, badURL(u)
		}
		return s.resolveIn(u, s.mb, u)
	case !strings.HasPrefix(u, "/"), strings.HasPrefix(u, "/;"), strings.HasPrefix(u, "//"):
		// A server's URL (imap://...), a path without its "/" or
		// without a mailbox: Dovecot takes none of them.
		return nil, badURL(u)
	default:
		p := u[1:]
		j := strings.Index(strings.ToUpper(p), "/;UID=")
		if j < 0 {
			return nil, badURL(u)
		}
		box, rest = p[:j], p[j+1:]
	}
	name, params, _ := strings.Cut(box, ";")
	name, err := unescapeURL(name)
	if err != nil || name == "" {
		return nil, badURL(u)
	}
	mb, owner, err := s.mailbox(name)
	if err != nil || owner != s.user {
		return nil, badURL(u)
	}
	if params != "" {
		k, v, _ := strings.Cut(params, "=")
		uv, err := strconv.ParseUint(v, 10, 32)
		if !strings.EqualFold(k, "UIDVALIDITY") || err != nil || uint32(uv) != mb.UIDValidity() {
			return nil, badURL(u)
		}
	}
	return s.resolveIn(u, mb, rest)
}

// resolveIn resolves ;UID=u[/;SECTION=s] in mb.
func (s *session) resolveIn(u string, mb *store.Mailbox, rest string) ([]byte, error) {
	uidPart, section, hasSection := strings.Cut(rest, "/")
	k, v, _ := strings.Cut(uidPart, "=")
	uid, err := strconv.ParseUint(v, 10, 32)
	if !strings.EqualFold(k, ";UID") || err != nil || uid == 0 {
		return nil, badURL(u)
	}
	it, ok := mb.ItemByUID(uint32(uid))
	if !ok {
		return nil, badURL(u)
	}
	m, err := it.Load()
	if err != nil {
		return nil, badURL(u)
	}
	if !hasSection {
		return m.Raw, nil
	}
	k, v, _ = strings.Cut(section, "=")
	if !strings.EqualFold(k, ";SECTION") || v == "" {
		return nil, badURL(u)
	}
	bs, ok := parseURLSection(v)
	if !ok {
		return nil, badURL(u)
	}
	return imapserver.ExtractBodySection(bytes.NewReader(m.Raw), bs), nil
}

// parseURLSection parses a URL's section: part numbers, then HEADER, TEXT
// or MIME (HEADER.FIELDS is not taken).
func parseURLSection(v string) (*imap.FetchItemBodySection, bool) {
	bs := &imap.FetchItemBodySection{}
	for _, f := range strings.Split(v, ".") {
		if n, err := strconv.Atoi(f); err == nil && n > 0 && bs.Specifier == imap.PartSpecifierNone {
			bs.Part = append(bs.Part, n)
			continue
		}
		if bs.Specifier != imap.PartSpecifierNone {
			return nil, false
		}
		switch strings.ToUpper(f) {
		case "HEADER":
			bs.Specifier = imap.PartSpecifierHeader
		case "TEXT":
			bs.Specifier = imap.PartSpecifierText
		case "MIME":
			if len(bs.Part) == 0 {
				return nil, false
			}
			bs.Specifier = imap.PartSpecifierMIME
		default:
			return nil, false
		}
	}
	return bs, true
}

// unescapeURL undoes a URL's %-escapes.
func unescapeURL(s string) (string, error) {
	return url.PathUnescape(s)
}
