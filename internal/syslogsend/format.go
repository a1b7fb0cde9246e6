package syslogsend

import (
	"strconv"
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

// appendField appends s as an RFC 5424 header field: printable US-ASCII,
// at most n bytes, "-" when empty.
func appendField(b []byte, s string, n int) []byte {
	if s == "" {
		return append(b, '-')
	}
	if len(s) > n {
		s = s[:n]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
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
	b := make([]byte, 0, len(m.Msg)+len(m.Host)+len(m.App)+len(m.ProcID)+48)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(facility*8+sev), 10)
	b = append(b, ">1 "...)
	if m.Time.IsZero() {
		b = append(b, '-')
	} else {
		b = m.Time.AppendFormat(b, rfc5424Stamp)
	}
	b = append(b, ' ')
	b = appendField(b, m.Host, maxHostLen)
	b = append(b, ' ')
	b = appendField(b, m.App, maxAppLen)
	b = append(b, ' ')
	b = appendField(b, m.ProcID, maxProcIDLen)
	b = append(b, " - -"...)
	if m.Msg != "" {
		b = append(b, ' ')
		b = append(b, m.Msg...)
	}
	return b
}

// appendFrame appends msg to dst with RFC 6587 octet-counting framing:
// MSG-LEN SP SYSLOG-MSG.
func appendFrame(dst, msg []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(msg)), 10)
	dst = append(dst, ' ')
	return append(dst, msg...)
}
