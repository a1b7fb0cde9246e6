package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/dovecot"
)

// Format is the syslog format a message came in.
type Format string

// The formats ParseSyslog tells apart.
const (
	RFC5424 Format = "rfc5424"
	RFC3164 Format = "rfc3164"
)

// Message is one syslog message taken apart.
type Message struct {
	Format   Format
	Facility int
	Severity int
	// Time is the message's timestamp; zero when it has none ("-" in RFC
	// 5424, or an RFC 3164 message without one). HasZone says the
	// timestamp named its offset (RFC 5424, or an RFC 3339 timestamp in
	// an RFC 3164 header); otherwise it was read in the location given
	// to ParseSyslog, with the year from now.
	Time    time.Time
	HasZone bool
	Host    string
	App     string // RFC 5424 APP-NAME, RFC 3164 tag without its [pid]
	ProcID  string
	MsgID   string
	// Msg is the free text: in RFC 3164 what follows "tag: ", in RFC 5424
	// MSG with a leading byte order mark removed.
	Msg string
}

// Tag is the program as a traditional log line names it: "app[procid]",
// or "app" when there is no process id.
func (m *Message) Tag() string {
	if m.ProcID == "" || m.ProcID == "-" {
		return m.App
	}
	return m.App + "[" + m.ProcID + "]"
}

// MaxMessage bounds a syslog message (a frame on TCP, a datagram on UDP).
const MaxMessage = 64 << 10

// ErrSyslog marks a message that is not syslog: ParseSyslog's errors wrap it.
var ErrSyslog = errors.New("not a syslog message")

func bad(why string, args ...any) error {
	return fmt.Errorf("%w: "+why, append([]any{ErrSyslog}, args...)...)
}

// ParseSyslog takes one syslog message apart: RFC 5424 ("<PRI>1 TIMESTAMP
// HOST APP PROCID MSGID SD MSG") or RFC 3164 ("<PRI>Mmm dd hh:mm:ss HOST
// tag[pid]: msg", also with an RFC 3339 timestamp as rsyslog's
// RSYSLOG_ForwardFormat writes it, and without host or timestamp). Trailing
// CR, LF and NUL are ignored. RFC 3164 timestamps have no year and no
// zone: they are read in loc, in the latest year that does not put them
// more than a week after now (dovecot.InYear).
func ParseSyslog(b []byte, now time.Time, loc *time.Location) (Message, error) {
	var m Message
	s := strings.TrimRight(string(b), "\r\n\x00")
	if len(s) > MaxMessage {
		return m, bad("longer than %d bytes", MaxMessage)
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if !strings.HasPrefix(s, "<") {
		return m, bad("does not start with <PRI>")
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return m, bad("PRI is not 1 to 3 digits in <>")
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri < 0 || pri > 191 || (len(s[1:end]) > 1 && s[1] == '0') {
		return m, bad("PRI %q is not a number from 0 to 191", s[1:end])
	}
	m.Facility, m.Severity = pri/8, pri%8
	rest := s[end+1:]
	if strings.HasPrefix(rest, "1 ") {
		m.Format = RFC5424
		return m, parse5424(&m, rest[2:])
	}
	m.Format = RFC3164
	return m, parse3164(&m, rest, now, loc)
}

// field cuts the next space-separated field.
func field(s string) (f, rest string, ok bool) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, "", s != ""
	}
	return s[:i], s[i+1:], i > 0
}

// parseRFC3339 reads an RFC 3339 timestamp. Year 0000 parses, but no
// event can be placed before year 1 in UTC (its events would carry no
// time at all), nor at its first instant (Go's zero time, which stands for
// none): both are refused. 0001-01-01T00:00:00+01:00 is in year 0 in UTC.
func parseRFC3339(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	switch {
	case err != nil:
		return time.Time{}, errors.New("is not RFC 3339")
	case t.UTC().Year() < 1:
		return time.Time{}, errors.New("is in year 0")
	case t.IsZero():
		return time.Time{}, errors.New("is 0001-01-01T00:00:00Z, which stands for no time")
	case t.Before(clock.MinTime) || t.After(clock.MaxTime):
		return time.Time{}, fmt.Errorf("is out of range: from %d to %d", clock.MinTime.Year()+1, clock.MaxTime.Year()-1)
	}
	return t, nil
}

func parse5424(m *Message, s string) error {
	names := []string{"TIMESTAMP", "HOSTNAME", "APP-NAME", "PROCID", "MSGID"}
	var f [5]string
	for i, name := range names {
		var ok bool
		if f[i], s, ok = field(s); !ok {
			return bad("RFC 5424 header ends before %s", name)
		}
	}
	if f[0] != "-" {
		t, err := parseRFC3339(f[0])
		if err != nil {
			return bad("RFC 5424 TIMESTAMP %q %v", f[0], err)
		}
		m.Time, m.HasZone = t, true
	}
	nil5424 := func(v string) string {
		if v == "-" {
			return ""
		}
		return v
	}
	m.Host, m.App, m.ProcID, m.MsgID = nil5424(f[1]), nil5424(f[2]), nil5424(f[3]), nil5424(f[4])
	// STRUCTURED-DATA: "-" or one or more [id param="value" ...] elements,
	// in which "\]" and "\"" are escaped.
	switch {
	case s == "-" || strings.HasPrefix(s, "- "):
		s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), " ")
	case strings.HasPrefix(s, "["):
		i, err := skipSD(s)
		if err != nil {
			return err
		}
		s = strings.TrimPrefix(s[i:], " ")
	default:
		return bad("RFC 5424 STRUCTURED-DATA is neither - nor [...]")
	}
	m.Msg = strings.TrimPrefix(s, "\uFEFF")
	return nil
}

// skipSD returns the length of the STRUCTURED-DATA at the start of s.
func skipSD(s string) (int, error) {
	i := 0
	for i < len(s) && s[i] == '[' {
		inQuote := false
		j := i + 1
		for ; j < len(s); j++ {
			c := s[j]
			if c == '\\' && inQuote {
				j++
				continue
			}
			if c == '"' {
				inQuote = !inQuote
			}
			if c == ']' && !inQuote {
				break
			}
		}
		if j >= len(s) {
			return 0, bad("RFC 5424 STRUCTURED-DATA element not closed by ]")
		}
		i = j + 1
	}
	return i, nil
}

func parse3164(m *Message, s string, now time.Time, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	t, rest, zone := stamp3164(s, now, loc)
	if !t.IsZero() {
		m.Time, m.HasZone = t, zone
		s = rest
		// A host name stands before the tag, unless the sender left it
		// out ("Nov 27 00:43:44 postfix/smtpd[12]: ...").
		if h, r, ok := field(s); ok && !isTag(h) {
			m.Host, s = h, r
		}
	}
	// The tag: "prog[pid]: " or "prog: ". Anything else is content
	// without a tag, which RFC 3164 allows; the parser will not know it.
	if i := strings.Index(s, ": "); i > 0 && !strings.ContainsAny(s[:i], " ") {
		tag := s[:i]
		m.Msg = s[i+2:]
		if j := strings.IndexByte(tag, '['); j > 0 && strings.HasSuffix(tag, "]") {
			m.App, m.ProcID = tag[:j], tag[j+1:len(tag)-1]
		} else {
			m.App = tag
		}
		return nil
	}
	if strings.HasSuffix(s, ":") && !strings.ContainsAny(s, " ") { // a tag and no text
		m.App = strings.TrimSuffix(s, ":")
		return nil
	}
	m.Msg = s
	return nil
}

// isTag says whether a header field is a tag ("prog:", "prog[12]:").
func isTag(f string) bool {
	return strings.HasSuffix(f, ":")
}

// stamp3164 reads an RFC 3164 timestamp ("Mmm dd hh:mm:ss", optionally
// with fractions) or an RFC 3339 one at the start of s.
func stamp3164(s string, now time.Time, loc *time.Location) (t time.Time, rest string, zone bool) {
	if len(s) >= 16 && s[3] == ' ' && s[6] == ' ' && s[9] == ':' && s[12] == ':' {
		end := 15
		for end < len(s) && (s[end] == '.' || s[end] >= '0' && s[end] <= '9') {
			end++
		}
		if end < len(s) && s[end] != ' ' {
			return time.Time{}, s, false
		}
		v, err := time.ParseInLocation(time.Stamp, s[:end], loc)
		if err != nil {
			return time.Time{}, s, false
		}
		return dovecot.InYear(v, now, loc), strings.TrimPrefix(s[end:], " "), false
	}
	if len(s) >= 19 && s[4] == '-' && s[7] == '-' && s[10] == 'T' {
		f, r, _ := field(s)
		if v, err := parseRFC3339(f); err == nil {
			return v, r, true
		}
	}
	return time.Time{}, s, false
}
