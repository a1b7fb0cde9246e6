package smtpd

import (
	"bytes"
	"io"
	"mime"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Bounds on what ParseMessage reports, so a hostile message cannot blow up
// an audit event.
const (
	maxParts           = 1000
	maxAttachmentNames = 100
	maxSubjectLen      = 998
	maxMessageIDLen    = 998
)

// MessageInfo is what the audit trail and the Outbox record about a message.
type MessageInfo struct {
	Subject   string
	MessageID string // without angle brackets
	// AttachmentCount counts parts that are attachments: a filename, or a
	// Content-Disposition of attachment, or a non-text part not marked
	// inline. Attachments lists the non-empty names, in order (at most 100).
	AttachmentCount int
	Attachments     []string
}

// ParseMessage extracts the subject, Message-ID and attachment names of a
// raw RFC 5322 message with go-message. It never fails: what cannot be
// parsed is left out. Names are decoded (RFC 2047/2231), cleaned of control
// characters and bounded in length.
func ParseMessage(raw []byte) MessageInfo {
	var info MessageInfo
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if mr == nil {
		if err == nil {
			return info
		}
		// Unparseable header block: salvage what a regexp can.
		info.Subject = sanitize(rawHeader(raw, "Subject"), maxSubjectLen)
		info.MessageID = sanitize(trimMsgID(rawHeader(raw, "Message-Id")), maxMessageIDLen)
		return info
	}
	subject, err := mr.Header.Subject()
	if err != nil && subject == "" {
		subject = mr.Header.Get("Subject")
	}
	info.Subject = sanitize(subject, maxSubjectLen)
	id, err := mr.Header.MessageID()
	if err != nil || id == "" {
		id = trimMsgID(mr.Header.Get("Message-Id"))
	}
	info.MessageID = sanitize(id, maxMessageIDLen)

	for i := 0; i < maxParts; i++ {
		p, err := mr.NextPart()
		if p == nil {
			if err == io.EOF || err != nil {
				break
			}
			continue
		}
		name, isAttachment := partFilename(p.Header)
		if !isAttachment {
			continue
		}
		info.AttachmentCount++
		if name != "" && len(info.Attachments) < maxAttachmentNames {
			info.Attachments = append(info.Attachments, name)
		}
	}
	return info
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
