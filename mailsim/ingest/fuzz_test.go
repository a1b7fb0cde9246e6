package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/maildrill/maildrill/mailsim/audit"

	"github.com/maildrill/maildrill/mailsim/dovecot"
)

// FuzzParseSyslog: any bytes either parse or give an error wrapping
// ErrSyslog, and a message that parses hands the Dovecot parser nothing it
// chokes on. The seed corpus (testdata/fuzz/FuzzParseSyslog) holds every
// format and error case.
func FuzzParseSyslog(f *testing.F) {
	for _, s := range []string{
		`<22>1 2026-11-27T00:54:33.123456+01:00 mail postfix/submission/smtpd 149 - [origin ip="10.0.0.1" x="a\]b"] connect from unknown[203.0.113.7]:51544`,
		"<14>1 - - dovecot - ID47 - \uFEFFimap-login: Info: Login: user=<a@b>, rip=1.2.3.4, session=<x>",
		"<22>Nov 27 00:54:33 mail postfix/smtpd[149]: connect from unknown[203.0.113.7]:51544",
		"<22>2026-11-27T00:54:33.5+00:00 mail postfix/qmgr[12]: ABCDE12345: removed",
		"<13>Nov 27 00:54:33 maillog: Nov 27 00:43:43 imap-login: Info: Login: user=<a@b>",
		"<13>logger[7]: hello",
		"<0>",
		"<14>1 - host app - - [sd x=\"]\" msg",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseSyslog(b, now, nil)
		if err != nil {
			if !errors.Is(err, ErrSyslog) {
				t.Fatalf("error %v does not wrap ErrSyslog", err)
			}
			return
		}
		if m.Format != RFC3164 && m.Format != RFC5424 || m.Facility > 23 || m.Severity > 7 {
			t.Fatalf("impossible message %+v", m)
		}
		if !utf8.ValidString(m.Msg) || !utf8.ValidString(m.App) {
			t.Fatalf("invalid UTF-8 in %+v", m)
		}
		p := dovecot.NewParser(dovecot.Options{Now: func() time.Time { return now }})
		ts := m.Time
		if ts.IsZero() {
			ts = now
		}
		for _, e := range append(func() []*audit.Event { evs, _ := p.ParseMessage(ts, m.Tag(), m.Msg); return evs }(), func() []*audit.Event { evs, _ := p.ParseLine(m.Msg); return evs }()...) {
			if e.Action == "" || e.Timestamp.IsZero() {
				t.Fatalf("incomplete event %+v", *e)
			}
		}
	})
}

// FuzzReadFrame: any stream is read to its end without a panic or a
// message over the bound, and every error but EOF wraps ErrFrame.
func FuzzReadFrame(f *testing.F) {
	for _, s := range []string{
		"<13>newline framed\n17 <13>octet counted\r\n\n",
		"24 <13>counted\nwith newline<13>last",
		"12x <13>a",
		"99999 <13>short",
		"1234567890 ",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(b), 16)
		for range len(b) + 1 {
			msg, err := ReadFrame(r)
			if err == io.EOF {
				return
			}
			if errors.Is(err, ErrTooLong) {
				continue
			}
			if err != nil {
				if !errors.Is(err, ErrFrame) {
					t.Fatalf("error %v does not wrap ErrFrame", err)
				}
				return
			}
			if len(msg) == 0 || len(msg) > MaxMessage+1 || strings.HasPrefix(string(msg), "\n") {
				t.Fatalf("frame %q", msg)
			}
		}
		t.Fatalf("more frames than bytes in %q", b)
	})
}
