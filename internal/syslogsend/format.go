package syslogsend

import (
	"strconv"
	"strings"
	"time"
)

// Message is one syslog message.
type Message struct {
	Time time.Time
	// Host, App and ProcID fill RFC 5424's HOSTNAME, APP-NAME and PROCID
	// ("" is the nil value "-").
	Host, App, ProcID string
	// Severity is RFC 5424's (0 emergency … 7 debug); Informational
	// unless set with HasSeverity.
	Severity    int
	HasSeverity bool
	Msg         string
}

// Facilities and severities used by default.
const (
	FacilityMail  = 2
	SeverityInfo  = 6
	SeverityWarn  = 4
	rfc5424Stamp  = "2006-01-02T15:04:05.999999Z07:00"
	maxHostLen    = 255
	maxAppLen     = 48
	maxProcIDLen  = 128
	maxDatagram   = 65507 // the largest UDP payload over IPv4
	frameOverhead = 8     // "NNNNNN " of the octet count
)

// headerField is s as an RFC 5424 header field: printable US-ASCII, at
// most n characters, "-" when empty.
func headerField(s string, n int) string {
	if s == "" {
		return "-"
	}
	b := []byte(s)
	if len(b) > n {
		b = b[:n]
	}
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	return string(b)
}

// Format renders m as an RFC 5424 message with the given facility:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - MSG (no MSGID, no
// structured data). The timestamp keeps the message's zone offset and at
// most microseconds, as RFC 5424 allows.
func Format(m Message, facility int) []byte {
	sev := SeverityInfo
	if m.HasSeverity {
		sev = m.Severity
	}
	var b strings.Builder
	b.Grow(len(m.Msg) + 100)
	b.WriteByte('<')
	b.WriteString(strconv.Itoa(facility*8 + sev))
	b.WriteString(">1 ")
	if m.Time.IsZero() {
		b.WriteByte('-')
	} else {
		b.WriteString(m.Time.Format(rfc5424Stamp))
	}
	b.WriteByte(' ')
	b.WriteString(headerField(m.Host, maxHostLen))
	b.WriteByte(' ')
	b.WriteString(headerField(m.App, maxAppLen))
	b.WriteByte(' ')
	b.WriteString(headerField(m.ProcID, maxProcIDLen))
	b.WriteString(" - -")
	if m.Msg != "" {
		b.WriteByte(' ')
		b.WriteString(m.Msg)
	}
	return []byte(b.String())
}

// appendFrame appends msg to dst with RFC 6587 octet-counting framing:
// MSG-LEN SP SYSLOG-MSG.
func appendFrame(dst, msg []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(msg)), 10)
	dst = append(dst, ' ')
	return append(dst, msg...)
}
