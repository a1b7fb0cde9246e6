// Package ingest reads a mail server's own logs — syslog received over
// UDP, TCP or TLS (RFC 3164 and RFC 5424; on TCP octet-counting and
// newline framing, RFC 6587, told apart per message), or a log file
// followed like tail -F — and turns the Dovecot and Postfix lines into
// audit events with mailsim/dovecot's parser, so that the detection rules
// judge a remote server on its own telemetry. Lines it cannot use are
// counted and a few are kept to be shown: nothing is dropped silently.
package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/dovecot"
)

// Config says what an Ingester listens to and how it parses.
type Config struct {
	// Syslog is where to receive syslog: "HOST:PORT" listens on TCP and
	// UDP at that address (port 0: a free port, the same for both);
	// "udp://HOST:PORT", "tcp://HOST:PORT" or "tls://HOST:PORT" pick one
	// transport. "" receives no syslog.
	Syslog string
	// TLS is the server configuration of a tls:// listener.
	TLS *tls.Config
	// File is a log file to follow, like tail -F: from its end (or its
	// start with FromStart), through rotation and truncation, waiting
	// for it if it does not exist yet. "" follows none.
	File      string
	FromStart bool
	// Marker, when set, sees every message (a syslog message's text or a
	// file line) before the parser: a message it returns true for is a
	// marker of the sender's own (a log barrier), consumed — never parsed
	// into an event, never counted as not understood — and counted in
	// Stats.Markers.
	Marker func(text string) bool
	// Parser shapes the Dovecot/Postfix parser. Its Now and Location also
	// give RFC 3164 timestamps their year and zone.
	Parser dovecot.Options
}

// Stats counts what an Ingester received and made of it.
type Stats struct {
	// Lines is every message received: a syslog message or a file line.
	Lines int64
	// Events is the audit events the lines gave.
	Events int64
	// Unparsed is the lines that gave no event and that the parser did
	// not understand: not syslog at all (Malformed counts those), a
	// program other than Dovecot or Postfix, or a message the parser does
	// not know. UnparsedSamples holds the first few, each prefixed by its
	// source and, for malformed ones, why.
	Unparsed  int64
	Malformed int64
	// Markers is the lines Config.Marker consumed.
	Markers         int64
	UnparsedSamples []string
	// Sources counts per source: "udp", "tcp", "tls", "file".
	Sources map[string]SourceStats
	// Connections is the TCP/TLS connections accepted; ConnErrors those
	// that ended on an error (a failed TLS handshake, a broken frame),
	// with the first few in ErrorSamples.
	Connections  int64
	ConnErrors   int64
	ErrorSamples []string
	// UDPDropped is the datagrams the kernel dropped because the UDP
	// socket's buffer was full (Linux; UDP has no flow control). They
	// never reached maildrill: they are not in Lines.
	UDPDropped int64
	// Rotations and Truncations count how often the followed file was
	// replaced or shrank (and was then read from its start). A file
	// truncated and written past its old size between two looks is not
	// seen as truncated, as with tail -F.
	Rotations, Truncations int64
	// FilesOpened counts the opens of the followed file (the first, and
	// one per rotation or re-creation).
	FilesOpened int64
	// Hints say how to make lines that were not understood readable,
	// once each (e.g. Postfix lines whose tag lost its daemon name).
	Hints []string
}

// hintPostfixTag is shown when Postfix messages arrive tagged "postfix"
// alone: rsyslog cuts the tag at "/" unless told otherwise.
const hintPostfixTag = `Postfix messages arrive without their daemon ("postfix" instead of "postfix/smtpd"): ` +
	`in rsyslog set global(parser.permitSlashInProgramName="on") on the sending side`

// SourceStats counts one source's lines.
type SourceStats struct {
	Lines, Events, Unparsed int64
}

// MaxSamples bounds Stats.UnparsedSamples and Stats.ErrorSamples.
const MaxSamples = 10

const maxSampleLen = 300

// drainIdle is how long a connection may stay silent during Close before
// it is deemed drained.
const drainIdle = 100 * time.Millisecond

type item struct {
	src  string
	text string
	raw  bool   // a file line, not a syslog message
	bad  string // why the message could not be read (too long)
}

// Ingester receives log lines and delivers the events they give.
type Ingester struct {
	cfg     Config
	out     func(*audit.Event)
	parser  *dovecot.Parser
	lines   chan item
	tcp     net.Listener
	rawTCP  *net.TCPListener // under tcp (the TLS listener's too), for deadlines
	tcpAddr net.Addr
	udp     *net.UDPConn
	udpNode string // the UDP socket's inode, for its drop count
	tlsOn   bool

	closing   chan struct{}
	closeOnce sync.Once
	readers   sync.WaitGroup
	parsed    chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	stats Stats
}

// Start listens and follows as cfg says and delivers every event the
// lines give to out, in the order the lines were parsed, from one
// goroutine. It stops when ctx ends or Close is called; Close waits until
// every line received before it has been parsed and delivered.
func Start(ctx context.Context, cfg Config, out func(*audit.Event)) (*Ingester, error) {
	if cfg.Syslog == "" && cfg.File == "" {
		return nil, errors.New("ingest: nothing to read: give a syslog address or a file")
	}
	if cfg.Parser.Now == nil {
		cfg.Parser.Now = time.Now
	}
	if cfg.Parser.Location == nil {
		cfg.Parser.Location = time.UTC
	}
	in := &Ingester{
		cfg: cfg, out: out, parser: dovecot.NewParser(cfg.Parser),
		lines: make(chan item, 1024), closing: make(chan struct{}), parsed: make(chan struct{}),
		conns: map[net.Conn]struct{}{},
		stats: Stats{Sources: map[string]SourceStats{}},
	}
	if cfg.Syslog != "" {
		if err := in.listen(cfg.Syslog); err != nil {
			return nil, err
		}
	}
	if in.udp != nil {
		in.udp.SetReadBuffer(4 << 20) // best effort: bursts wait in the kernel
		in.udpNode = udpInode(in.udp)
	}
	go in.parse()
	if in.tcp != nil {
		in.readers.Add(1)
		go in.acceptLoop()
	}
	if in.udp != nil {
		in.readers.Add(1)
		go in.readUDP()
	}
	if cfg.File != "" {
		in.readers.Add(1)
		go in.follow(cfg.File, cfg.FromStart)
	}
	go func() {
		select {
		case <-ctx.Done():
			in.stop()
		case <-in.closing:
		}
	}()
	return in, nil
}

// ParseAddr reads a Config.Syslog address: it returns the transports
// ("tcp", "udp", "tls") and the HOST:PORT.
func ParseAddr(s string) (transports []string, hostport string, err error) {
	hostport = s
	transports = []string{"tcp", "udp"}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		switch scheme {
		case "udp", "tcp", "tls":
			transports, hostport = []string{scheme}, rest
		default:
			return nil, "", fmt.Errorf("syslog address %q: scheme %q is not udp://, tcp:// or tls://", s, scheme)
		}
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, "", fmt.Errorf("syslog address %q: want HOST:PORT (e.g. 127.0.0.1:5514): %v", s, err)
	}
	if strings.ContainsAny(host, "/") || port == "" {
		return nil, "", fmt.Errorf("syslog address %q: want HOST:PORT (e.g. 127.0.0.1:5514)", s)
	}
	return transports, hostport, nil
}

func (in *Ingester) listen(addr string) error {
	transports, hostport, err := ParseAddr(addr)
	if err != nil {
		return err
	}
	switch transports[0] {
	case "udp":
		pc, err := net.ListenPacket("udp", hostport)
		if err != nil {
			return fmt.Errorf("syslog: %w", err)
		}
		in.udp = pc.(*net.UDPConn)
		return nil
	case "tls":
		if in.cfg.TLS == nil {
			return fmt.Errorf("syslog address %q: tls:// needs a certificate", addr)
		}
		ln, err := net.Listen("tcp", hostport)
		if err != nil {
			return fmt.Errorf("syslog: %w", err)
		}
		in.tcpAddr, in.tcp, in.tlsOn = ln.Addr(), tls.NewListener(ln, in.cfg.TLS), true
		in.rawTCP = ln.(*net.TCPListener)
		return nil
	}
	if len(transports) == 1 {
		ln, err := net.Listen("tcp", hostport)
		if err != nil {
			return fmt.Errorf("syslog: %w", err)
		}
		in.tcp, in.tcpAddr, in.rawTCP = ln, ln.Addr(), ln.(*net.TCPListener)
		return nil
	}
	// TCP and UDP on the same port; with port 0 the port TCP got must be
	// free for UDP too, which another process may have taken: try again.
	host, port, _ := net.SplitHostPort(hostport)
	for try := 0; ; try++ {
		ln, err := net.Listen("tcp", hostport)
		if err != nil {
			return fmt.Errorf("syslog: %w", err)
		}
		_, got, _ := net.SplitHostPort(ln.Addr().String())
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, got))
		if err == nil {
			in.tcp, in.tcpAddr, in.udp = ln, ln.Addr(), pc.(*net.UDPConn)
			in.rawTCP = ln.(*net.TCPListener)
			return nil
		}
		ln.Close()
		if port != "0" || try >= 20 {
			return fmt.Errorf("syslog: %w", err)
		}
	}
}

// Addr returns the addresses listened on (nil for a transport not
// listened on); tls:// reports its address as tcp.
func (in *Ingester) Addr() (tcp, udp net.Addr) {
	if in.tcp != nil {
		tcp = in.tcpAddr
	}
	if in.udp != nil {
		udp = in.udp.LocalAddr()
	}
	return tcp, udp
}

// Stats returns a copy of the counts so far.
func (in *Ingester) Stats() Stats {
	in.readUDPDrops()
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.stats
	s.UnparsedSamples = append([]string(nil), s.UnparsedSamples...)
	s.ErrorSamples = append([]string(nil), s.ErrorSamples...)
	s.Hints = append([]string(nil), s.Hints...)
	s.Sources = make(map[string]SourceStats, len(in.stats.Sources))
	for k, v := range in.stats.Sources {
		s.Sources[k] = v
	}
	return s
}

// Close stops listening and following, waits until every line received
// so far (buffered in the sockets, or written to the file) has been
// parsed and its events delivered, and releases the sockets.
func (in *Ingester) Close() error {
	in.stop()
	<-in.parsed
	return nil
}

func (in *Ingester) stop() {
	in.closeOnce.Do(func() {
		close(in.closing)
		wake := time.Now().Add(drainIdle)
		if in.tcp != nil {
			// Connections waiting in the backlog were received too: the
			// accept loop takes them until the listener stays quiet.
			in.rawTCP.SetDeadline(wake)
		}
		if in.udp != nil {
			in.udp.SetReadDeadline(wake)
		}
		in.mu.Lock()
		for c := range in.conns {
			c.SetReadDeadline(wake)
		}
		in.mu.Unlock()
		go func() {
			in.readers.Wait()
			close(in.lines)
			if in.udp != nil {
				in.readUDPDrops() // the last count, before the socket goes
				in.mu.Lock()
				in.udpNode = ""
				in.mu.Unlock()
				in.udp.Close()
			}
		}()
	})
}

// readUDPDrops updates Stats.UDPDropped while the socket is open.
func (in *Ingester) readUDPDrops() {
	in.mu.Lock()
	node := in.udpNode
	in.mu.Unlock()
	if n, ok := udpDrops(node); ok {
		in.mu.Lock()
		if in.udpNode != "" {
			in.stats.UDPDropped = n
		}
		in.mu.Unlock()
	}
}

func (in *Ingester) isClosing() bool {
	select {
	case <-in.closing:
		return true
	default:
		return false
	}
}

// send hands a line to the parser; it blocks while the parser is behind
// (TCP's flow control then slows the sender; a file waits on disk).
func (in *Ingester) send(it item) {
	in.lines <- it
}

func (in *Ingester) connError(src string, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stats.ConnErrors++
	if len(in.stats.ErrorSamples) < MaxSamples {
		in.stats.ErrorSamples = append(in.stats.ErrorSamples, src+": "+err.Error())
	}
}

// parse is the one goroutine that parses and delivers.
func (in *Ingester) parse() {
	defer close(in.parsed)
	for it := range in.lines {
		if in.cfg.Marker != nil && it.bad == "" && in.cfg.Marker(it.text) {
			in.mu.Lock()
			in.stats.Markers++
			in.mu.Unlock()
			continue
		}
		evs, known, why, hint := in.parseItem(it)
		for _, e := range evs {
			in.out(e)
		}
		in.count(it, len(evs), known, why, hint)
	}
}

func (in *Ingester) parseItem(it item) (evs []*audit.Event, known bool, why, hint string) {
	if it.bad != "" {
		return nil, false, it.bad, ""
	}
	if it.raw {
		evs, known = in.parser.ParseLine(it.text)
		return evs, known, "", ""
	}
	m, err := ParseSyslog([]byte(it.text), in.cfg.Parser.Now(), in.cfg.Parser.Location)
	if err != nil {
		return nil, false, err.Error(), ""
	}
	// A relayed log line (rsyslog's imfile forwards each line of Dovecot's
	// log_path or Postfix's maillog_file as the message): its own
	// timestamp and program are the ones that count.
	if t, _, _ := stamp3164(strings.TrimLeft(m.Msg, " "), in.cfg.Parser.Now(), in.cfg.Parser.Location); !t.IsZero() {
		evs, known = in.parser.ParseLine(strings.TrimLeft(m.Msg, " "))
		return evs, known, "", ""
	}
	ts := m.Time
	if ts.IsZero() {
		ts = in.cfg.Parser.Now()
	}
	// rsyslog keeps the space after "tag:" in the message it forwards.
	evs, known = in.parser.ParseMessage(ts, m.Tag(), strings.TrimLeft(m.Msg, " "))
	if !known && m.App == "postfix" {
		hint = hintPostfixTag
	}
	return evs, known, "", hint
}

func (in *Ingester) count(it item, events int, known bool, why, hint string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := &in.stats
	if hint != "" && !slices.Contains(s.Hints, hint) {
		s.Hints = append(s.Hints, hint)
	}
	src := s.Sources[it.src]
	s.Lines++
	src.Lines++
	s.Events += int64(events)
	src.Events += int64(events)
	if events == 0 && !known {
		s.Unparsed++
		src.Unparsed++
		if why != "" {
			s.Malformed++
		}
		if len(s.UnparsedSamples) < MaxSamples {
			text := it.text
			if len(text) > maxSampleLen {
				text = text[:maxSampleLen] + "…"
			}
			sample := it.src + ": " + strings.TrimRight(text, "\r\n")
			if why != "" {
				sample = it.src + " (" + why + "): " + strings.TrimRight(text, "\r\n")
			}
			s.UnparsedSamples = append(s.UnparsedSamples, sample)
		}
	}
	s.Sources[it.src] = src
}

// Summary writes the counts for a person: lines, events, what could not
// be used with its samples, per source.
func (s Stats) Summary(w io.Writer) {
	fmt.Fprintf(w, "ingest: %d lines, %d events, %d lines not understood", s.Lines, s.Events, s.Unparsed)
	if s.Malformed > 0 {
		fmt.Fprintf(w, " (%d not syslog)", s.Malformed)
	}
	fmt.Fprintln(w)
	names := make([]string, 0, len(s.Sources))
	for k := range s.Sources {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := s.Sources[k]
		fmt.Fprintf(w, "  %-5s %d lines, %d events, %d not understood\n", k, v.Lines, v.Events, v.Unparsed)
	}
	if s.UDPDropped > 0 {
		fmt.Fprintf(w, "  udp   %d datagrams dropped by the kernel (receive buffer full): lost before they could be read\n", s.UDPDropped)
	}
	if s.Connections > 0 || s.ConnErrors > 0 {
		fmt.Fprintf(w, "  %d connections, %d ended on an error\n", s.Connections, s.ConnErrors)
	}
	if s.Rotations > 0 || s.Truncations > 0 {
		fmt.Fprintf(w, "  file: %d rotations, %d truncations\n", s.Rotations, s.Truncations)
	}
	for _, e := range s.ErrorSamples {
		fmt.Fprintf(w, "  connection error: %s\n", e)
	}
	if len(s.UnparsedSamples) > 0 {
		fmt.Fprintf(w, "  not understood (the first %d):\n", len(s.UnparsedSamples))
		for _, l := range s.UnparsedSamples {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	for _, h := range s.Hints {
		fmt.Fprintf(w, "  hint: %s\n", h)
	}
}
