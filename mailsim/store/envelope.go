package store

import (
	"mime"
	netmail "net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// envelope is go-imap's envelope with RFC 5322 group syntax kept in the
// address lists ("undisclosed-recipients:;", "Team: a@x, b@y;"), which
// go-imap flattens or drops. RFC 3501 §7.4.2 / RFC 9051 §7.5.2: a group
// is a start marker (NIL NIL "name" NIL), its members, and an end marker
// (NIL NIL NIL NIL); an empty group is the two markers.
func envelope(h textproto.Header) *imap.Envelope {
	mh := mail.Header{Header: message.Header{Header: h}}
	subject, _ := mh.Subject()
	inReplyTo, _ := mh.MsgIDList("In-Reply-To")
	messageID, _ := mh.MessageID()
	env := &imap.Envelope{Date: parseDate(h.Get("Date")), Subject: subject, InReplyTo: inReplyTo, MessageID: messageID}
	for _, f := range []struct {
		key  string
		list *[]imap.Address
	}{
		{"From", &env.From}, {"Sender", &env.Sender}, {"Reply-To", &env.ReplyTo},
		{"To", &env.To}, {"Cc", &env.Cc}, {"Bcc", &env.Bcc},
	} {
		v := h.Get(f.key)
		if l, ok := groupAddressList(v); ok {
			*f.list = l
			continue
		}
		// go-imap's reading (imapserver.ExtractEnvelope).
		addrs, _ := mh.AddressList(f.key)
		for _, a := range addrs {
			if mailbox, host, ok := strings.Cut(a.Address, "@"); ok {
				*f.list = append(*f.list, imap.Address{Name: a.Name, Mailbox: mailbox, Host: host})
			}
		}
		if len(*f.list) == 0 && strings.ContainsRune(v, '(') {
			// Comments inside an address ("<user (x)@ (y) domain.org>",
			// RFC 5322 §3.4.1 CFWS) defeat the address parser.
			*f.list = parseAddresses(StripComments(v))
		}
	}
	return env
}

// dateLayout is the usual form of a Date field, the mail generator's and
// most clients'. net/mail tries its layouts without a day of the week
// first, and each failure allocates an error: a dozen per message.
const dateLayout = "Mon, 2 Jan 2006 15:04:05 -0700"

// parseDate is mail.Header.Date's reading of a Date field (zero when
// empty or unreadable), the usual form tried first: net/mail's first
// layout that reads it is that one.
func parseDate(v string) time.Time {
	if v == "" {
		return time.Time{}
	}
	if t, err := time.Parse(dateLayout, v); err == nil {
		return t
	}
	t, _ := netmail.ParseDate(v)
	return t
}

func parseAddresses(text string) []imap.Address {
	var out []imap.Address
	addrs, _ := mail.ParseAddressList(text)
	for _, a := range addrs {
		mailbox, host, ok := strings.Cut(a.Address, "@")
		if ok {
			out = append(out, imap.Address{Name: a.Name, Mailbox: mailbox, Host: host})
		}
	}
	return out
}

var (
	spaceAroundAt    = regexp.MustCompile(`\s*@\s*`)
	spaceInAngles    = regexp.MustCompile(`<\s+|\s+>`)
	spaceAroundDot   = regexp.MustCompile(`\s*\.\s*`)
	spaceRuns        = regexp.MustCompile(`\s+`)
	addrSpecInAngles = regexp.MustCompile(`<[^<>"]*>`)
)

// StripComments removes the comments of a structured header value (outside
// quoted strings, nested ones included) and the folding white space that
// RFC 5322 §3.4.1 allows around an address's "@" and dots, so that
// "<user (comment)@ (comment) domain.org>" reads "<user@domain.org>".
func StripComments(s string) string {
	var b strings.Builder
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case inQuote:
			b.WriteByte(ch)
			if ch == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			} else if ch == '"' {
				inQuote = false
			}
		case depth > 0:
			if ch == '\\' {
				i++
			} else if ch == '(' {
				depth++
			} else if ch == ')' {
				depth--
			}
		case ch == '(':
			depth++
			b.WriteByte(' ')
		case ch == '"':
			inQuote = true
			b.WriteByte(ch)
		default:
			b.WriteByte(ch)
		}
	}
	out := spaceAroundAt.ReplaceAllString(b.String(), "@")
	out = spaceInAngles.ReplaceAllStringFunc(out, strings.TrimSpace)
	out = addrSpecInAngles.ReplaceAllStringFunc(out, func(a string) string { return spaceAroundDot.ReplaceAllString(a, ".") })
	return strings.TrimSpace(spaceRuns.ReplaceAllString(out, " "))
}

// addrItem is a top-level item of an address list: an address (text) or
// a group (name and the text of its members).
type addrItem struct {
	text    string
	group   bool
	name    string
	members string
}

// splitAddressList splits an address header at its top-level commas,
// recognising groups (a display name, ":", members, ";"), outside quoted
// strings, comments and angle brackets.
func splitAddressList(s string) []addrItem {
	var out []addrItem
	depth, inQuote, inAngle, inGroup := 0, false, false, false
	start, memberStart := 0, 0
	var name string
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case inQuote:
			if ch == '\\' {
				i++
			} else if ch == '"' {
				inQuote = false
			}
			continue
		case depth > 0:
			if ch == '\\' {
				i++
			} else if ch == '(' {
				depth++
			} else if ch == ')' {
				depth--
			}
			continue
		}
		switch ch {
		case '"':
			inQuote = true
		case '(':
			depth++
		case '<':
			inAngle = true
		case '>':
			inAngle = false
		case ':':
			if !inAngle && !inGroup {
				inGroup, name, memberStart = true, s[start:i], i+1
			}
		case ';':
			if inGroup && !inAngle {
				out = append(out, addrItem{group: true, name: name, members: s[memberStart:i]})
				inGroup = false
				start = i + 1
				// What follows up to the next comma belongs to nothing.
				for start < len(s) && s[start] != ',' {
					start++
				}
				i = start
				start++
			}
		case ',':
			if !inGroup && !inAngle {
				if t := strings.TrimSpace(s[start:i]); t != "" {
					out = append(out, addrItem{text: t})
				}
				start = i + 1
			}
		}
	}
	if inGroup { // no closing ";": the group runs to the end
		out = append(out, addrItem{group: true, name: name, members: s[memberStart:]})
	} else if start < len(s) {
		if t := strings.TrimSpace(s[start:]); t != "" {
			out = append(out, addrItem{text: t})
		}
	}
	return out
}

// groupAddressList parses an address header that holds a group; ok is
// false when it holds none (go-imap's parse then stands).
func groupAddressList(v string) ([]imap.Address, bool) {
	if !strings.ContainsAny(v, ":;") {
		return nil, false
	}
	items := splitAddressList(v)
	hasGroup := false
	for _, it := range items {
		hasGroup = hasGroup || it.group
	}
	if !hasGroup {
		return nil, false
	}
	var out []imap.Address
	add := func(text string) {
		out = append(out, parseAddresses(text)...)
	}
	for _, it := range items {
		if !it.group {
			add(it.text)
			continue
		}
		out = append(out, imap.Address{Mailbox: groupName(it.name)})
		if strings.TrimSpace(it.members) != "" {
			add(it.members)
		}
		out = append(out, imap.Address{})
	}
	return out, true
}

// groupName decodes a group's display name: a phrase of atoms, quoted
// strings and encoded words.
func groupName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			s = u
		} else {
			s = s[1 : len(s)-1]
		}
	}
	if d, err := (&mime.WordDecoder{}).DecodeHeader(s); err == nil {
		s = d
	}
	return s
}
