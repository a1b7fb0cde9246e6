package store

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"mime"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// encodeNULParts returns raw with every MIME leaf part whose body holds a
// NUL byte re-encoded in base64, as Dovecot stores such a message: IMAP4rev1
// literals cannot carry NUL (RFC 3501 §4.3, RFC 9051 §4.3), so a message
// APPENDed through a literal8 (RFC 3516 §4.2) must be kept in a form that
// BODY[] can return. Everything else is kept byte for byte. A message with
// no NUL is returned as is.
func encodeNULParts(raw []byte, maxDepth int) []byte {
	if bytes.IndexByte(raw, 0) < 0 {
		return raw
	}
	return encodeEntity(raw, maxDepth)
}

// encodeEntity handles one entity (header and body).
func encodeEntity(raw []byte, depth int) []byte {
	if depth <= 0 || bytes.IndexByte(raw, 0) < 0 {
		return raw
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return raw
	}
	headerLen := len(raw) - br.Buffered()
	body := raw[headerLen:]
	mediaType, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	switch {
	case strings.HasPrefix(mediaType, "multipart/") && params["boundary"] != "":
		return append(raw[:headerLen:headerLen], encodeMultipart(body, params["boundary"], depth)...)
	case mediaType == "message/rfc822" || mediaType == "message/global":
		return append(raw[:headerLen:headerLen], encodeEntity(body, depth-1)...)
	}
	// A leaf: its header as it was but for Content-Transfer-Encoding, its
	// body in base64, lines of 76 characters (RFC 2045 §6.8).
	var out bytes.Buffer
	out.Write(withBase64CTE(raw[:headerLen]))
	enc := base64.StdEncoding.EncodeToString(body)
	for len(enc) > 76 {
		out.WriteString(enc[:76])
		out.WriteString("\r\n")
		enc = enc[76:]
	}
	out.WriteString(enc)
	out.WriteString("\r\n")
	return out.Bytes()
}

// encodeMultipart handles the parts of a multipart body, keeping its
// preamble, delimiter lines and epilogue as they are.
func encodeMultipart(body []byte, boundary string, depth int) []byte {
	delim := []byte("--" + boundary)
	var out []byte
	pos := 0
	partStart := -1
	for pos < len(body) {
		end := bytes.IndexByte(body[pos:], '\n')
		lineEnd := len(body)
		if end >= 0 {
			lineEnd = pos + end + 1
		}
		line := body[pos:lineEnd]
		if bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				if partStart >= 0 {
					// The CRLF before a delimiter belongs to it (RFC 2046 §5.1.1).
					part := body[partStart:pos]
					crlf := 0
					if bytes.HasSuffix(part, []byte("\r\n")) {
						crlf = 2
					} else if bytes.HasSuffix(part, []byte("\n")) {
						crlf = 1
					}
					out = append(out, bytes.TrimSuffix(encodeEntity(part[:len(part)-crlf], depth-1), []byte("\r\n"))...)
					out = append(out, part[len(part)-crlf:]...)
				} else {
					out = append(out, body[:pos]...) // the preamble
				}
				out = append(out, line...)
				if len(rest) == 2 { // the close delimiter: the epilogue follows
					return append(out, body[lineEnd:]...)
				}
				partStart = lineEnd
			}
		}
		pos = lineEnd
	}
	if partStart < 0 {
		return body
	}
	// No close delimiter: the last part runs to the end.
	return append(out, encodeEntity(body[partStart:], depth-1)...)
}

// withBase64CTE returns a header block (fields and the empty line ending
// it) without its Content-Transfer-Encoding fields and with
// "Content-Transfer-Encoding: base64" as its last field.
func withBase64CTE(hdr []byte) []byte {
	var out []byte
	skip := false
	for len(hdr) > 0 {
		i := bytes.IndexByte(hdr, '\n')
		line := hdr
		if i >= 0 {
			line = hdr[:i+1]
		}
		hdr = hdr[len(line):]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the empty line
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !skip {
				out = append(out, line...)
			}
			continue
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		skip = strings.EqualFold(strings.TrimSpace(string(name)), "Content-Transfer-Encoding")
		if !skip {
			out = append(out, line...)
		}
	}
	return append(out, "Content-Transfer-Encoding: base64\r\n\r\n"...)
}
