package syslogsend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultBuffer       = 10000
	DefaultDrainTimeout = 5 * time.Second
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
	DefaultDialTimeout  = 5 * time.Second
	DefaultWriteTimeout = 30 * time.Second
	batchBytes          = 64 << 10
)

// Config says where and how to send.
type Config struct {
	// URL is udp://, tcp:// or tls://HOST:PORT.
	URL string
	// CAFile is the PEM file of the CAs a TLS receiver's certificate must
	// chain to (default: the system's). Insecure skips the check; one or
	// the other, and only with tls://.
	CAFile   string
	Insecure bool
	// Buffer bounds the messages waiting for the receiver (default
	// DefaultBuffer). When it is full the oldest is dropped and counted.
	Buffer int
	// Facility is RFC 5424's (default FacilityMail).
	Facility int
	// DrainTimeout bounds how long Close waits for the buffer to empty
	// (default DefaultDrainTimeout); what is left is counted as lost.
	DrainTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between connection
	// attempts, doubling from one to the other.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout and WriteTimeout bound one connection attempt and one
	// write to a receiver that stopped reading.
	DialTimeout, WriteTimeout time.Duration
	// Notify, when set, is told as it happens when the receiver cannot
	// be reached, when the connection is lost and when it is back; it is
	// called from the sender's own goroutine.
	Notify func(string)
}

// ConfigError is a bad Config field: Field is url, ca, insecure or buffer.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Stats count the messages handed to a Sender and what became of them.
type Stats struct {
	Endpoint string
	// Sent = Delivered + Lost + Queued.
	Sent, Delivered, Lost, Queued int64
	// The losses by reason: dropped from a full buffer, still waiting when
	// Close gave up, too large for a UDP datagram.
	LostBufferFull, LostUnsent, LostTooLarge int64
	// Connections is how many connections were made (more than one:
	// reconnections); LastError is the last connection or write error.
	Connections int
	LastError   string
}

// String is the one-line account printed at the end of a run, e.g.
// "syslog-to tcp://127.0.0.1:514: 6912 lines delivered, 0 lost".
func (s Stats) String() string {
	line := fmt.Sprintf("syslog-to %s: %d lines delivered, %d lost", s.Endpoint, s.Delivered, s.Lost)
	var why []string
	if s.LostBufferFull > 0 {
		why = append(why, fmt.Sprintf("%d dropped from the full buffer", s.LostBufferFull))
	}
	if s.LostUnsent > 0 {
		why = append(why, fmt.Sprintf("%d still buffered when sending stopped", s.LostUnsent))
	}
	if s.LostTooLarge > 0 {
		why = append(why, fmt.Sprintf("%d too large for a UDP datagram", s.LostTooLarge))
	}
	if s.Queued > 0 {
		why = append(why, fmt.Sprintf("%d waiting", s.Queued))
	}
	switch {
	case s.Connections == 2:
		why = append(why, "reconnected once")
	case s.Connections > 2:
		why = append(why, fmt.Sprintf("reconnected %d times", s.Connections-1))
	}
	if s.LastError != "" && (s.Lost > 0 || s.Connections != 1) {
		why = append(why, "last error: "+s.LastError)
	}
	if len(why) > 0 {
		line += " (" + strings.Join(why, "; ") + ")"
	}
	return line
}

// Sender sends messages in the background. Send never blocks; Close
// drains what it can and returns the final Stats. It is safe for
// concurrent use.
type Sender struct {
	ep       Endpoint
	cfg      Config
	tls      *tls.Config
	ctx      context.Context // cancelled when Close gives up draining
	giveUp   context.CancelFunc
	wake     chan struct{}
	done     chan struct{}
	closeOne sync.Once

	mu       sync.Mutex
	queue    [][]byte // ring of formatted messages, oldest at head
	head, n  int
	inflight int64
	closing  bool
	drainBy  time.Time // when Close gives up
	conn     net.Conn
	st       Stats
}

// Open checks the configuration and starts the sender; it connects in the
// background (a receiver that is not there yet is retried with back-off).
func Open(c Config) (*Sender, error) {
	ep, err := ParseURL(c.URL)
	if err != nil {
		return nil, &ConfigError{"url", err}
	}
	if c.Buffer < 0 {
		return nil, &ConfigError{"buffer", fmt.Errorf("%d: want a positive number of messages", c.Buffer)}
	}
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	if c.Facility == 0 {
		c.Facility = FacilityMail
	}
	if c.Facility < 0 || c.Facility > 23 {
		return nil, &ConfigError{"facility", fmt.Errorf("%d: want 0 to 23", c.Facility)}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DrainTimeout, DefaultDrainTimeout)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	s := &Sender{ep: ep, cfg: c, queue: make([][]byte, c.Buffer), wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.st.Endpoint = ep.String()
	switch {
	case ep.Scheme != "tls" && c.CAFile != "":
		return nil, &ConfigError{"ca", fmt.Errorf("a CA file is for tls:// destinations, not %s://", ep.Scheme)}
	case ep.Scheme != "tls" && c.Insecure:
		return nil, &ConfigError{"insecure", fmt.Errorf("skipping certificate checks is for tls:// destinations, not %s://", ep.Scheme)}
	case c.CAFile != "" && c.Insecure:
		return nil, &ConfigError{"insecure", errors.New("give a CA file or skip the checks, not both")}
	case ep.Scheme == "tls":
		s.tls = &tls.Config{ServerName: ep.Host, InsecureSkipVerify: c.Insecure, MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, &ConfigError{"ca", err}
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, &ConfigError{"ca", fmt.Errorf("%s holds no PEM certificate", c.CAFile)}
			}
			s.tls.RootCAs = pool
		}
	}
	s.ctx, s.giveUp = context.WithCancel(context.Background())
	go s.loop()
	return s, nil
}

// Endpoint is where the sender sends.
func (s *Sender) Endpoint() Endpoint { return s.ep }

// Send queues m; it never blocks. When the buffer is full (counting the
// messages being written) the oldest waiting message is dropped and
// counted as lost.
func (s *Sender) Send(m Message) {
	b := Format(m, s.cfg.Facility)
	s.mu.Lock()
	s.st.Sent++
	switch {
	case s.closing:
		s.st.Lost++
		s.st.LostUnsent++
	case s.ep.Scheme == "udp" && len(b) > maxDatagram:
		s.st.Lost++
		s.st.LostTooLarge++
	case int64(s.n)+s.inflight >= int64(len(s.queue)) && s.n == 0:
		// Everything held is being written: the new one is dropped.
		s.st.Lost++
		s.st.LostBufferFull++
	default:
		if int64(s.n)+s.inflight >= int64(len(s.queue)) {
			s.queue[s.head] = nil
			s.head = (s.head + 1) % len(s.queue)
			s.n--
			s.st.Lost++
			s.st.LostBufferFull++
		}
		s.queue[(s.head+s.n)%len(s.queue)] = b
		s.n++
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats is the account so far.
func (s *Sender) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Queued = int64(s.n) + s.inflight
	return st
}

// Close stops accepting messages, sends what is buffered (waiting at most
// DrainTimeout for a receiver that is slow or away), closes the
// connection and returns the final account: what could not be sent is
// counted as lost.
func (s *Sender) Close() Stats {
	s.closeOne.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.drainBy = time.Now().Add(s.cfg.DrainTimeout)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		t := time.AfterFunc(s.cfg.DrainTimeout, func() {
			s.giveUp()
			s.mu.Lock()
			if s.conn != nil {
				s.conn.SetDeadline(time.Now()) // unblock a write to a stalled receiver
			}
			s.mu.Unlock()
		})
		<-s.done
		t.Stop()
		s.giveUp()
	})
	return s.Stats()
}

// take moves up to batchBytes of messages (at least one) from the queue
// to the caller; ok is false when the sender is closing and nothing is
// left.
func (s *Sender) take(max int) (msgs [][]byte, ok bool) {
	for {
		s.mu.Lock()
		if s.n > 0 {
			size := 0
			for s.n > 0 && (len(msgs) == 0 || size+len(s.queue[s.head])+frameOverhead <= max) {
				m := s.queue[s.head]
				s.queue[s.head] = nil
				s.head = (s.head + 1) % len(s.queue)
				s.n--
				msgs = append(msgs, m)
				size += len(m) + frameOverhead
			}
			s.inflight = int64(len(msgs))
			s.mu.Unlock()
			return msgs, true
		}
		closing := s.closing
		s.mu.Unlock()
		if closing {
			return nil, false
		}
		select {
		case <-s.wake:
		case <-s.ctx.Done():
		}
	}
}

// settle records the outcome of a write: the first sent messages were
// delivered, the rest go back to the head of the queue (as many as fit;
// the others count as dropped from a full buffer).
func (s *Sender) settle(msgs [][]byte, sent int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = 0
	s.st.Delivered += int64(sent)
	if err != nil {
		s.st.LastError = err.Error()
	}
	rest := msgs[sent:]
	for i := len(rest) - 1; i >= 0; i-- {
		if s.n == len(s.queue) {
			s.st.Lost += int64(i + 1)
			s.st.LostBufferFull += int64(i + 1)
			break
		}
		s.head = (s.head - 1 + len(s.queue)) % len(s.queue)
		s.queue[s.head] = rest[i]
		s.n++
	}
}

// abandon counts every waiting message as lost: Close gave up.
func (s *Sender) abandon(msgs [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lost := int64(len(msgs)) + int64(s.n)
	for s.n > 0 {
		s.queue[s.head] = nil
		s.head = (s.head + 1) % len(s.queue)
		s.n--
	}
	s.inflight = 0
	s.st.Lost += lost
	s.st.LostUnsent += lost
}

func (s *Sender) setConn(c net.Conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn = c
	if c != nil {
		s.st.Connections++
	}
	if err != nil {
		s.st.LastError = err.Error()
	}
}

// loop is the writer: it connects, writes batches, and reconnects with
// back-off after a failure, until Close.
func (s *Sender) loop() {
	defer close(s.done)
	var (
		conn   net.Conn
		broken *atomic.Bool
		delay  time.Duration
		down   bool // told Notify the receiver is away
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		msgs, ok := s.take(batchBytes)
		if !ok {
			return
		}
		for len(msgs) > 0 {
			if s.ctx.Err() != nil {
				s.abandon(msgs)
				return
			}
			if conn != nil && broken != nil && broken.Load() {
				conn.Close()
				conn = nil
				err := errors.New("the receiver closed the connection")
				s.setConn(nil, err)
				s.notify(&down, "connection lost (%v); reconnecting, lines wait in the buffer", err)
			}
			if conn == nil {
				if delay > 0 && !sleep(s.ctx, delay) {
					continue // gave up: abandoned above
				}
				var err error
				conn, broken, err = s.dial()
				if err != nil {
					if s.ctx.Err() == nil { // not our own giving up
						s.setConn(nil, err)
						s.notify(&down, "cannot connect (%v); retrying, lines wait in the buffer (%d at most, then the oldest are dropped)", err, s.cfg.Buffer)
					}
					delay = min(max(2*delay, s.cfg.MinBackoff), s.cfg.MaxBackoff)
					continue
				}
				s.setConn(conn, nil)
				if down {
					down = false
					if s.cfg.Notify != nil {
						s.cfg.Notify("connected again")
					}
				}
			}
			sent, err := s.write(conn, msgs)
			s.settle(msgs, sent, err)
			if err != nil {
				conn.Close()
				conn = nil
				s.setConn(nil, nil)
				s.notify(&down, "connection lost (%v); reconnecting, lines wait in the buffer", err)
				delay = min(max(2*delay, s.cfg.MinBackoff), s.cfg.MaxBackoff)
				// The unsent messages are back in the queue.
				if msgs, ok = s.take(batchBytes); !ok {
					return
				}
				continue
			}
			delay = 0
			msgs = nil
		}
	}
}

// notify tells Notify that the receiver went away, once until it is back.
func (s *Sender) notify(down *bool, format string, args ...any) {
	if *down {
		return
	}
	*down = true
	if s.cfg.Notify != nil {
		s.cfg.Notify(fmt.Sprintf(format, args...))
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dial connects; on a stream it starts a reader that notices when the
// receiver closes the connection (a syslog receiver never writes), so
// that the next write goes to a new connection instead of into the void.
func (s *Sender) dial() (net.Conn, *atomic.Bool, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
	defer cancel()
	var (
		c   net.Conn
		err error
	)
	switch s.ep.Scheme {
	case "tls":
		d := tls.Dialer{Config: s.tls}
		c, err = d.DialContext(ctx, "tcp", s.ep.Addr())
	default:
		var d net.Dialer
		c, err = d.DialContext(ctx, s.ep.Scheme, s.ep.Addr())
	}
	if err != nil {
		return nil, nil, err
	}
	broken := new(atomic.Bool)
	if s.ep.Scheme != "udp" {
		go func() {
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					broken.Store(true)
					return
				}
			}
		}()
	}
	return c, broken, nil
}

// write sends msgs: one datagram each over UDP, octet-counted frames in
// one write over a stream. sent counts the messages written whole.
func (s *Sender) write(c net.Conn, msgs [][]byte) (sent int, err error) {
	dl := time.Now().Add(s.cfg.WriteTimeout)
	s.mu.Lock()
	if s.closing && s.drainBy.Before(dl) {
		dl = s.drainBy
	}
	s.mu.Unlock()
	c.SetWriteDeadline(dl)
	if s.ep.Scheme == "udp" {
		for i, m := range msgs {
			if _, err := c.Write(m); err != nil {
				return i, err
			}
		}
		return len(msgs), nil
	}
	buf := make([]byte, 0, batchBytes+len(msgs[0])+frameOverhead)
	ends := make([]int, len(msgs))
	for i, m := range msgs {
		buf = appendFrame(buf, m)
		ends[i] = len(buf)
	}
	n, err := c.Write(buf)
	if err == nil {
		return len(msgs), nil
	}
	for sent < len(ends) && ends[sent] <= n {
		sent++
	}
	return sent, err
}
