package dovecot

import (
	"bufio"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// Options shape a Parser.
type Options struct {
	// Now stamps lines that carry no timestamp, and gives the year of
	// syslog timestamps that have none (default time.Now).
	Now func() time.Time
	// Location is the time zone of timestamps that carry none (default UTC).
	Location *time.Location
	// Stamp, when set, maps a parsed log time to the event's @timestamp
	// (e.g. wall time to scenario time for a scaled clock).
	Stamp func(time.Time) time.Time
	// SharedPrefix is the namespace prefix of other users' mailboxes
	// (default "Users/"): "Users/directeur/INBOX" is directeur's INBOX.
	SharedPrefix string
	// TeamPrefix is the namespace prefix of shared (team) mailboxes
	// (default "Shared/"): "Shared/cabinet/INBOX" is cabinet's INBOX.
	TeamPrefix string
	// Domain completes a shared mailbox owner given without a domain
	// (default: the domain of the acting user).
	Domain string
	// PostfixTLSLogged says Postfix logs its TLS handshakes
	// (smtpd_tls_loglevel ≥ 1; Debian's default is 0). Without it an SMTP
	// session's TLS is unknown (tls.unknown, and no tls.established or
	// auth.cleartext for rules to match) until the first "TLS connection
	// established" line proves the log would say so.
	PostfixTLSLogged bool
}

// Parser is stateful: it follows Dovecot sessions (session id → address,
// user, TLS) and Postfix sessions and queue ids, so that each event carries
// the fields of its session. Not safe for concurrent use.
type Parser struct {
	o        Options
	sessions map[string]*imapSession
	smtpd    map[string]*smtpSession // "postfix/submission/smtpd[123]" → open session
	queue    map[string]*queued
	smtpN    int
	last     time.Time // events never go back in time (stats lines lag)
	tlsSeen  bool      // a Postfix TLS line was seen: Postfix logs TLS
	known    bool      // the line being parsed was understood (set by the handlers)
}

type imapSession struct {
	ip, user, method string
	port, lport      int
	tls              bool
	reasons          []string // auth_verbose failure reasons, oldest first
	clientName       string
	clientVersion    string
	mailbox          string // last SELECTed/EXAMINEd mailbox (event export)
	readonly         bool
}

type smtpSession struct {
	id, service, ip, helo, user string
	port                        int
	tls                         bool
	authed                      bool
	lost                        string // "lost connection after DATA"
}

type queued struct {
	sess      *smtpSession
	from, mid string
	size      int64
	atts      []string // attachment file names (cleanup "info: header Content-Disposition" lines)
}

// NewParser returns a parser with no session known.
func NewParser(o Options) *Parser {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.SharedPrefix == "" {
		o.SharedPrefix = UsersPrefix
	}
	if o.TeamPrefix == "" {
		o.TeamPrefix = SharedPrefix
	}
	return &Parser{o: o, sessions: map[string]*imapSession{}, smtpd: map[string]*smtpSession{}, queue: map[string]*queued{}}
}

// Pending counts the Postfix queue ids whose delivery is not logged yet.
func (p *Parser) Pending() int { return len(p.queue) }

// Parse reads one log line and returns the events it stands for (often
// none). Sequence, ID and run id are left to the bus they are published on.
func (p *Parser) Parse(line string) []*audit.Event {
	evs, _ := p.ParseLine(line)
	return evs
}

// ParseLine is Parse that also says whether the line was understood: it
// gave events, or it is a line the parser knows and uses for its state (a
// Postfix queue line, an auth_verbose reason, an event export of another
// command) or knows to carry nothing. known is false for every other line
// (no "program: message" form, a program or message the parser does not
// know), so that a reader can count and show what it could not use.
func (p *Parser) ParseLine(line string) (evs []*audit.Event, known bool) {
	line = strings.TrimRight(line, "\r\n")
	ts, rest, ok := p.timestamp(line)
	if !ok {
		ts = p.o.Now()
		rest = line
	}
	prog, msg, ok := program(rest)
	if !ok {
		return nil, false
	}
	return p.message(ts, prog, msg)
}

// ParseMessage parses a message whose time and tag a syslog receiver has
// already taken apart: ts is the message's time, program its tag with the
// process id ("postfix/smtpd[123]", "imap-login", "dovecot[77]") and msg
// what follows "tag: ". Dovecot's syslog ident ("dovecot", with the
// process name in msg) is taken off as in a log line. The result is the
// one ParseLine gives for "ts host program: msg".
func (p *Parser) ParseMessage(ts time.Time, program, msg string) (evs []*audit.Event, known bool) {
	if program == "dovecot" || strings.HasPrefix(program, "dovecot[") {
		prog, m, ok := splitProgram(msg)
		if !ok {
			return nil, false
		}
		program, msg = prog, m
	} else {
		msg = stripLevel(msg)
	}
	return p.message(ts, program, msg)
}

func (p *Parser) message(ts time.Time, prog, msg string) ([]*audit.Event, bool) {
	p.known = false
	var evs []*audit.Event
	switch {
	case strings.HasPrefix(prog, "postfix"):
		evs = p.postfix(prog, msg)
	default:
		evs = p.dovecot(prog, msg, &ts)
	}
	if p.o.Stamp != nil {
		ts = p.o.Stamp(ts)
	}
	for _, e := range evs {
		if e.Timestamp.IsZero() {
			e.Timestamp = ts
		} else if p.o.Stamp != nil {
			e.Timestamp = p.o.Stamp(e.Timestamp)
		}
		// Log order is event order: a line stamped to the second (or a
		// stats line written late) never goes before the previous event.
		if e.Timestamp.Before(p.last) {
			e.Timestamp = p.last
		}
		p.last = e.Timestamp
	}
	return evs, len(evs) > 0 || p.known
}

// --- line framing -------------------------------------------------------------

var (
	reRFC3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)? `)
	reStamp   = regexp.MustCompile(`^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(\.\d+)? `)
)

// timestamp strips a leading timestamp (and a syslog host name).
func (p *Parser) timestamp(line string) (time.Time, string, bool) {
	var t time.Time
	var rest string
	if m := reRFC3339.FindString(line); m != "" {
		s := strings.Replace(strings.TrimSpace(m), " ", "T", 1)
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			if t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, p.o.Location); err != nil {
				if t, err = time.Parse("2006-01-02T15:04:05.999999999Z0700", s); err != nil {
					return time.Time{}, "", false
				}
			}
		}
		rest = line[len(m):]
	} else if m := reStamp.FindString(line); m != "" {
		var err error
		t, err = time.ParseInLocation(time.StampMicro, strings.TrimSpace(m), p.o.Location)
		if err != nil {
			if t, err = time.ParseInLocation(time.Stamp, strings.TrimSpace(m), p.o.Location); err != nil {
				return time.Time{}, "", false
			}
		}
		t = InYear(t, p.o.Now(), p.o.Location)
		rest = line[len(m):]
	} else {
		return time.Time{}, "", false
	}
	// A syslog host name stands before the program unless the line comes
	// from Dovecot's own log file or Postfix's maillog_file (no host).
	if i := strings.IndexByte(rest, ' '); i > 0 && !strings.HasSuffix(rest[:i], ":") {
		rest = rest[i+1:]
	}
	return t, rest, true
}

var levels = []string{"Info: ", "Warning: ", "Error: ", "Debug: ", "Fatal: ", "Panic: "}

// program splits "prog: message" after the timestamp, with Dovecot's
// "dovecot: " syslog tag and its log level removed.
func program(rest string) (prog, msg string, ok bool) {
	rest = strings.TrimPrefix(rest, "dovecot: ")
	if strings.HasPrefix(rest, "dovecot[") { // "dovecot[123]: " (journald)
		if i := strings.Index(rest, "]: "); i > 0 {
			rest = rest[i+3:]
		}
	}
	return splitProgram(rest)
}

// splitProgram splits "prog: Level: message" into prog and message.
func splitProgram(rest string) (prog, msg string, ok bool) {
	i := strings.Index(rest, ": ")
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], stripLevel(rest[i+2:]), true
}

func stripLevel(msg string) string {
	for _, l := range levels {
		if strings.HasPrefix(msg, l) {
			return msg[len(l):]
		}
	}
	return msg
}

// ParseAll parses every line of r.
func ParseAll(r io.Reader, p *Parser) ([]*audit.Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []*audit.Event
	for sc.Scan() {
		out = append(out, p.Parse(sc.Text())...)
	}
	return out, sc.Err()
}
