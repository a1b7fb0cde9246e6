package smtpd

import (
	"bytes"
	"errors"
	"mime"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Bounds on what ParseMessage reports, so a hostile message cannot blow up
// an audit event.
const (
	maxAttachmentNames = 100
	maxSubjectLen      = 998
	maxMessageIDLen    = 998
)

// Errors of ParseMessageLimits for a message over its structure limits.
var (
	ErrMIMETooDeep      = errors.New("smtpd: MIME nesting too deep")
	ErrMIMETooManyParts = errors.New("smtpd: too many MIME parts")
)

// MessageInfo is what the audit trail and the Outbox record about a message.
type MessageInfo struct {
	Subject   string
	MessageID string // without angle brackets
	// From is the address of the header From: (the first one), lower
	// case; what the recipient sees as the sender.
	From string
	// AttachmentCount counts parts that are attachments: a filename, or a
	// Content-Disposition of attachment, or a non-text part not marked
	// inline. Attachments lists the non-empty names, in order (at most 100).
	AttachmentCount int
	Attachments     []string
}

// ParseMessage extracts the subject, Message-ID, header From and
// attachment names of a raw RFC 5322 message with go-message, within the
// default structure limits (DefaultMaxMIMEDepth, DefaultMaxMIMEParts). It
// never fails: what cannot be parsed is left out.
func ParseMessage(raw []byte) MessageInfo {
	info, _ := ParseMessageLimits(raw, DefaultMaxMIMEDepth, DefaultMaxMIMEParts)
	return info
}

// ParseMessageLimits is ParseMessage with explicit bounds on MIME nesting
// (multipart and message/rfc822 entities inside one another) and on the
// number of entities. Past a bound it stops and returns what it found so
// far with ErrMIMETooDeep or ErrMIMETooManyParts. Its work is linear in the
// size of the message (each byte goes through at most maxDepth nested
// readers). Names are decoded (RFC 2047/2231), cleaned of control
// characters and bounded in length.
func ParseMessageLimits(raw []byte, maxDepth, maxParts int) (MessageInfo, error) {
	var info MessageInfo
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		if err == nil {
			return info, nil
		}
		// Unparseable header block: salvage what a regexp can.
		info.Subject = sanitize(rawHeader(raw, "Subject"), maxSubjectLen)
		info.MessageID = sanitize(trimMsgID(rawHeader(raw, "Message-Id")), maxMessageIDLen)
		info.From = headerFromAddress(rawHeader(raw, "From"))
		return info, nil
	}
	h := mail.Header{Header: e.Header}
	subject, err := h.Subject()
	if err != nil && subject == "" {
		subject = h.Get("Subject")
	}
	info.Subject = sanitize(subject, maxSubjectLen)
	id, err := h.MessageID()
	if err != nil || id == "" {
		id = trimMsgID(h.Get("Message-Id"))
	}
	info.MessageID = sanitize(id, maxMessageIDLen)
	if list, err := h.AddressList("From"); err == nil && len(list) > 0 {
		info.From = sanitize(strings.ToLower(list[0].Address), maxAddressLen)
	} else {
		info.From = headerFromAddress(h.Get("From"))
	}
	w := walker{info: &info, maxDepth: maxDepth, maxParts: maxParts}
	return info, w.walk(e, 0, true)
}

// walker walks a message's MIME tree, counting entities and attachments.
type walker struct {
	info     *MessageInfo
	maxDepth int
	maxParts int
	parts    int
}

// walk visits e at depth; record says whether its leaves count as the
// message's attachments (not inside an attached message/rfc822).
func (w *walker) walk(e *message.Entity, depth int, record bool) error {
	w.parts++
	if w.parts > w.maxParts {
		return ErrMIMETooManyParts
	}
	if mr := e.MultipartReader(); mr != nil {
		if depth+1 > w.maxDepth {
			return ErrMIMETooDeep
		}
		for {
			p, err := mr.NextPart()
			if err != nil && !message.IsUnknownCharset(err) {
				return nil // io.EOF, or a broken part: stop there
			}
			if p == nil {
				return nil
			}
			if err := w.walk(p, depth+1, record); err != nil {
				return err
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if record {
		disp, _, _ := e.Header.ContentDisposition()
		var ph mail.PartHeader = &mail.AttachmentHeader{Header: e.Header}
		if disp == "inline" || (disp != "attachment" && strings.HasPrefix(t, "text/")) {
			ph = &mail.InlineHeader{Header: e.Header}
		}
		if name, isAttachment := partFilename(ph); isAttachment {
			w.info.AttachmentCount++
			if name != "" && len(w.info.Attachments) < maxAttachmentNames {
				w.info.Attachments = append(w.info.Attachments, name)
			}
		}
	}
	if t == "message/rfc822" || t == "message/global" {
		// An attached message: counted against the bounds, its own
		// attachments are not the message's.
		if depth+1 > w.maxDepth {
			return ErrMIMETooDeep
		}
		inner, err := message.Read(e.Body)
		if inner == nil || (err != nil && !message.IsUnknownCharset(err)) {
			return nil
		}
		return w.walk(inner, depth+1, false)
	}
	return nil
}

var addrRe = regexp.MustCompile(`[^\s<>"(),;:]+@[^\s<>"(),;:]+`)

// headerFromAddress finds an address in a From: value go-message could not
// parse (spoofers count on lenient readers).
func headerFromAddress(v string) string {
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if m := addrRe.FindString(v[i:]); m != "" {
			return sanitize(strings.ToLower(m), maxAddressLen)
		}
	}
	return sanitize(strings.ToLower(addrRe.FindString(v)), maxAddressLen)
}

// partFilename returns the cleaned filename of a leaf part and whether the
// part counts as an attachment.
func partFilename(h mail.PartHeader) (string, bool) {
	var mh message.Header
	_, isAttachment := h.(*mail.AttachmentHeader)
	switch t := h.(type) {
	case *mail.AttachmentHeader:
		mh = t.Header
	case *mail.InlineHeader:
		mh = t.Header
	default:
		return "", false
	}
	name := ""
	if _, params, err := mh.ContentDisposition(); err == nil {
		name = params["filename"]
	}
	if name == "" {
		if _, params, err := mh.ContentType(); err == nil {
			name = params["name"]
		}
	}
	if name == "" {
		// Malformed parameters (duplicates, bad quoting) defeat
		// mime.ParseMediaType; attackers count on that.
		name = looseParam(mh.Get("Content-Disposition"), "filename")
		if name == "" {
			name = looseParam(mh.Get("Content-Type"), "name")
		}
	}
	name = cleanFilename(name)
	return name, isAttachment || name != ""
}

var looseParamRe = map[string]*regexp.Regexp{
	"filename": regexp.MustCompile(`(?i)(?:^|;)\s*filename\*?(?:\*\d+\*?)?\s*=\s*("[^"]*"|[^;]*)`),
	"name":     regexp.MustCompile(`(?i)(?:^|;)\s*name\*?(?:\*\d+\*?)?\s*=\s*("[^"]*"|[^;]*)`),
}

// looseParam finds the first value of a parameter in a header value that
// mime.ParseMediaType rejected.
func looseParam(v, param string) string {
	m := looseParamRe[param].FindStringSubmatch(v)
	if m == nil {
		return ""
	}
	val := strings.TrimSpace(m[1])
	val = strings.Trim(val, `"`)
	// RFC 2231 extended value: charset'lang'percent-encoded.
	if i := strings.LastIndexByte(val, '\''); i >= 0 && strings.Count(val, "'") >= 2 {
		val = percentDecode(val[i+1:])
	}
	return val
}

func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// cleanFilename decodes leftover encoded words and makes a name safe to
// log: valid UTF-8, no control characters, trimmed, bounded.
func cleanFilename(name string) string {
	if strings.Contains(name, "=?") {
		var dec mime.WordDecoder
		if d, err := dec.DecodeHeader(name); err == nil {
			name = d
		}
	}
	return strings.TrimSpace(sanitize(name, maxNameLen))
}

// rawHeader finds a header field in a message go-message could not parse.
func rawHeader(raw []byte, field string) string {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = bytes.Index(raw, []byte("\n\n"))
	}
	if end < 0 {
		end = len(raw)
	}
	for _, line := range strings.Split(string(raw[:end]), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), field) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func trimMsgID(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "<")
	if i := strings.IndexByte(v, '>'); i >= 0 {
		v = v[:i]
	}
	return v
}
