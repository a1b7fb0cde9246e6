package smtpd

import "bytes"

// separateHeader returns the message with an empty line inserted before
// the first line of its header section that is no header field (no colon,
// a field name with a space or a control character in it, or a folded line
// at the very start), so that the header ends where a reader would say it
// ends and the rest is body. A message whose header cannot be parsed could
// not be stored: it was refused with "451 try again later", and the client
// retried for ever. Real MTAs take such mail and treat the stray line as
// the start of the body. ok is false when nothing needed inserting (the
// message is returned as is).
func separateHeader(msg []byte) (out []byte, ok bool) {
	for pos := 0; pos < len(msg); {
		end := bytes.IndexByte(msg[pos:], '\n')
		next := len(msg)
		if end >= 0 {
			next = pos + end + 1
		}
		raw := msg[pos:next]
		if string(raw) == "\r\n" || string(raw) == "\n" {
			return msg, false // the header ends here
		}
		line := bytes.TrimSuffix(bytes.TrimSuffix(raw, []byte("\n")), []byte("\r"))
		if len(line) == 0 || !headerLine(line, pos == 0) {
			out = make([]byte, 0, len(msg)+2)
			out = append(append(append(out, msg[:pos]...), "\r\n"...), msg[pos:]...)
			return out, true
		}
		pos = next
	}
	return msg, false // a header and no body
}

// headerLine reports whether line can belong to a header section as
// go-message reads one: a field "name: value" whose name is printable
// ASCII without spaces (spaces before the colon are allowed), or a folded
// continuation line after the first.
func headerLine(line []byte, first bool) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return !first
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return false
	}
	for _, c := range bytes.TrimRight(line[:colon], " \t") {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
