package ingest

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)

func TestParseSyslog(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	cases := []struct {
		name string
		in   string
		loc  *time.Location
		now  time.Time
		want Message
	}{
		{
			name: "RFC 5424 with structured data (rsyslog's RSYSLOG_SyslogProtocol23Format)",
			in:   `<22>1 2026-11-27T00:54:33.123456+01:00 mail postfix/submission/smtpd 149 - [origin ip="10.0.0.1" x="a\]b"][meta seq="1"] connect from unknown[203.0.113.7]:51544` + "\n",
			want: Message{Format: RFC5424, Facility: 2, Severity: 6, Time: time.Date(2026, 11, 26, 23, 54, 33, 123456000, time.UTC), HasZone: true,
				Host: "mail", App: "postfix/submission/smtpd", ProcID: "149", Msg: "connect from unknown[203.0.113.7]:51544"},
		},
		{
			name: "RFC 5424 nil values and a BOM",
			in:   "<14>1 - - dovecot - ID47 - \uFEFFimap-login: Info: Login: user=<a@b>",
			want: Message{Format: RFC5424, Facility: 1, Severity: 6, App: "dovecot", MsgID: "ID47", Msg: "imap-login: Info: Login: user=<a@b>"},
		},
		{
			name: "RFC 5424 without a message",
			in:   "<14>1 2026-11-27T00:00:00Z h app - - -",
			want: Message{Format: RFC5424, Facility: 1, Severity: 6, Time: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), HasZone: true, Host: "h", App: "app"},
		},
		{
			name: "RFC 3164 with host and pid (RSYSLOG_TraditionalForwardFormat)",
			in:   "<22>Nov 27 00:54:33 mail postfix/smtpd[149]: connect from unknown[203.0.113.7]:51544",
			want: Message{Format: RFC3164, Facility: 2, Severity: 6, Time: time.Date(2026, 11, 27, 0, 54, 33, 0, time.UTC),
				Host: "mail", App: "postfix/smtpd", ProcID: "149", Msg: "connect from unknown[203.0.113.7]:51544"},
		},
		{
			name: "RFC 3164 read in the sender's zone",
			in:   "<22>Nov  7 00:54:33 mail dovecot: imap-login: Login",
			loc:  paris,
			want: Message{Format: RFC3164, Facility: 2, Severity: 6, Time: time.Date(2026, 11, 7, 0, 54, 33, 0, paris),
				Host: "mail", App: "dovecot", Msg: "imap-login: Login"},
		},
		{
			name: "RFC 3164 December read in January is last year's",
			in:   "<22>Dec 31 23:59:59 mail app: x",
			now:  time.Date(2027, 1, 1, 0, 0, 5, 0, time.UTC),
			want: Message{Format: RFC3164, Facility: 2, Severity: 6, Time: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), Host: "mail", App: "app", Msg: "x"},
		},
		{
			name: "RFC 3164 November read in March is last year's",
			in:   "<22>Nov 30 10:00:00 mail app: x",
			now:  time.Date(2027, 3, 2, 9, 0, 0, 0, time.UTC),
			want: Message{Format: RFC3164, Facility: 2, Severity: 6, Time: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), Host: "mail", App: "app", Msg: "x"},
		},
		{
			name: "RFC 3164 with an RFC 3339 timestamp (RSYSLOG_ForwardFormat)",
			in:   "<22>2026-11-27T00:54:33.5+00:00 mail postfix/qmgr[12]: ABCDE12345: removed",
			want: Message{Format: RFC3164, Facility: 2, Severity: 6, Time: time.Date(2026, 11, 27, 0, 54, 33, 500000000, time.UTC), HasZone: true,
				Host: "mail", App: "postfix/qmgr", ProcID: "12", Msg: "ABCDE12345: removed"},
		},
		{
			name: "RFC 3164 without host (a local sender)",
			in:   "<13>Nov 27 00:54:33 master: Info: starting up",
			want: Message{Format: RFC3164, Facility: 1, Severity: 5, Time: time.Date(2026, 11, 27, 0, 54, 33, 0, time.UTC), App: "master", Msg: "Info: starting up"},
		},
		{
			name: "RFC 3164 without timestamp",
			in:   "<13>logger[7]: hello",
			want: Message{Format: RFC3164, Facility: 1, Severity: 5, App: "logger", ProcID: "7", Msg: "hello"},
		},
		{
			name: "RFC 3164 without a tag",
			in:   "<0>just some words: here",
			want: Message{Format: RFC3164, Msg: "just some words: here"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := now
			if !c.now.IsZero() {
				n = c.now
			}
			got, err := ParseSyslog([]byte(c.in), n, c.loc)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(c.want.Time) {
				t.Errorf("time %v, want %v", got.Time, c.want.Time)
			}
			got.Time, c.want.Time = time.Time{}, time.Time{}
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseSyslogErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                                    "does not start with <PRI>",
		"Nov 27 00:54:33 mail app: x":         "does not start with <PRI>",
		"<>1 x":                               "PRI is not 1 to 3 digits",
		"<1234>x":                             "PRI is not 1 to 3 digits",
		"<192>x":                              "is not a number from 0 to 191",
		"<01>x":                               "is not a number from 0 to 191",
		"<a1>x":                               "is not a number from 0 to 191",
		"<14>1 2026-11-27T00:00:00Z host app": "RFC 5424 header ends before PROCID",
		"<14>1 yesterday host app - - - m":    "TIMESTAMP \"yesterday\" is not RFC 3339",
		"<14>1 0000-01-01T00:00:00Z h app - - - m":      "is in year 0",
		"<14>1 0001-01-01T00:30:00+01:00 h app - - - m": "is in year 0",
		"<14>1 0001-01-01T00:00:00Z h app - - - m":      "which stands for no time",
		"<14>1 2999-01-01T00:00:00Z h app - - - m":      "is out of range: from 1678 to 2261",
		"<14>1 1600-01-01T00:00:00Z h app - - - m":      "is out of range",
		"<14>1 - host app - - [sd x=\"]\" msg":          "STRUCTURED-DATA element not closed",
		"<14>1 - host app - - {} msg":                   "STRUCTURED-DATA is neither",
		"<14>" + strings.Repeat("x", MaxMessage):        "longer than",
	} {
		_, err := ParseSyslog([]byte(in), now, nil)
		if err == nil || !errors.Is(err, ErrSyslog) || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: error %v, want one saying %q", in, err, want)
		}
	}
}

func TestReadFrame(t *testing.T) {
	long := strings.Repeat("y", MaxMessage+10)
	stream := "<13>newline framed\n" +
		"17 <13>octet counted" + // no separator needed after a counted frame
		"\r\n\n" + // empty lines are skipped
		"24 <13>counted\nwith newline" +
		"<13>" + long + "\n" + // too long: stepped over
		"65600 " + strings.Repeat("z", 65600) + // too long, counted: stepped over
		"<13>still in step\n" +
		"<13>last without newline"
	r := bufio.NewReaderSize(strings.NewReader(stream), 4096)
	var got []string
	tooLong := 0
	for {
		b, err := ReadFrame(r)
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrTooLong) {
			tooLong++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimRight(string(b), "\n"))
	}
	want := []string{"<13>newline framed", "<13>octet counted", "<13>counted\nwith newline", "<13>still in step", "<13>last without newline"}
	if strings.Join(got, "|") != strings.Join(want, "|") || tooLong != 2 {
		t.Errorf("got %q and %d too long, want %q and 2", got, tooLong, want)
	}
	for _, bad := range []string{"12x <13>a", "1234567890 <13>a", "30 <13>short", "12"} {
		_, err := ReadFrame(bufio.NewReader(strings.NewReader(bad)))
		if !errors.Is(err, ErrFrame) {
			t.Errorf("%q: error %v, want a framing error", bad, err)
		}
	}
}
