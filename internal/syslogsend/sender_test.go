package syslogsend

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/certs"
)

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"tcp://127.0.0.1:514":     "tcp://127.0.0.1:514",
		"udp://localhost:5514":    "udp://localhost:5514",
		"tls://siem.example:6514": "tls://siem.example:6514",
		"tcp://[::1]:1514":        "tcp://[::1]:1514",
	} {
		ep, err := ParseURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, ep.String())
	}
	for in, msg := range map[string]string{
		"":                        "empty destination",
		"127.0.0.1:514":           "no scheme",
		"http://127.0.0.1:514":    `scheme "http"`,
		"tcp://127.0.0.1":         "no port",
		"tcp://:514":              "no host",
		"tcp://127.0.0.1:0":       "not a number from 1 to 65535",
		"tcp://127.0.0.1:99999":   "not a number from 1 to 65535",
		"tcp://127.0.0.1:x":       "",
		"tcp://u@127.0.0.1:514":   "only HOST:PORT",
		"tcp://127.0.0.1:514/log": "only HOST:PORT",
	} {
		_, err := ParseURL(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), msg, in)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"tcp://127.0.0.1:514", "udp://[::1]:5514", "tls://h:6514", "tcp://%zz:1", "tls://[::1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ep, err := ParseURL(s)
		if err != nil {
			return
		}
		again, err := ParseURL(ep.String())
		if err != nil || again != ep {
			t.Fatalf("%q parsed as %+v, which reads back as %+v (%v)", s, ep, again, err)
		}
	})
}

func TestFormat(t *testing.T) {
	ts := time.Date(2025, 12, 11, 23, 40, 21, 123456789, time.FixedZone("CET", 3600))
	m := Message{Time: ts, Host: "mail", App: "postfix/smtpd", ProcID: "12345", Msg: "connect from unknown[203.0.113.7]"}
	assert.Equal(t, "<22>1 2025-12-11T23:40:21.123456+01:00 mail postfix/smtpd 12345 - - connect from unknown[203.0.113.7]", string(Format(m, FacilityMail)))
	m = Message{Time: ts.Truncate(time.Second).UTC(), App: "dovecot", Severity: SeverityWarn, HasSeverity: true, Msg: "x"}
	assert.Equal(t, "<20>1 2025-12-11T22:40:21Z - dovecot - - - x", string(Format(m, FacilityMail)))
	m = Message{App: "has space and é", ProcID: strings.Repeat("9", 200)}
	got := string(Format(m, 1))
	assert.Equal(t, "<14>1 - - has_space_and___ "+strings.Repeat("9", 128)+" - -", got)
	assert.Equal(t, "23 <22>1 - - - - - - hello", string(appendFrame(nil, Format(Message{Msg: "hello"}, FacilityMail))))
}

// receiver is a TCP (or TLS) syslog receiver for tests: it reads
// octet-counted frames and keeps them.
type receiver struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	cur  net.Conn
	got  chan struct{}
}

func newReceiver(t *testing.T, tlsConf *tls.Config) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	r := &receiver{ln: ln, got: make(chan struct{}, 1)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.cur = c
			r.mu.Unlock()
			go r.serve(c)
		}
	}()
	return r
}

func (r *receiver) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		n, err := br.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil {
			panic(fmt.Sprintf("bad frame length %q", n))
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, string(buf))
		r.mu.Unlock()
		select {
		case r.got <- struct{}{}:
		default:
		}
	}
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// waitFor waits until n messages arrived (the test's own timeout bounds it).
func (r *receiver) waitFor(n int) {
	for r.count() < n {
		<-r.got
	}
}

// reset drops the current connection with a TCP reset, as a receiver that
// crashes does.
func (r *receiver) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tc, ok := r.cur.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	r.cur.Close()
}

func msg(i int) Message {
	return Message{Time: time.Date(2025, 12, 11, 23, 0, i, 0, time.UTC), Host: "mail", App: "dovecot", Msg: fmt.Sprintf("line %d", i)}
}

// Frames arrive whole and in order, each an RFC 5424 message.
func TestTCPFraming(t *testing.T) {
	r := newReceiver(t, nil)
	s, err := Open(Config{URL: "tcp://" + r.ln.Addr().String()})
	require.NoError(t, err)
	for i := range 2000 {
		s.Send(msg(i))
	}
	st := s.Close()
	r.waitFor(2000)
	assert.Equal(t, Stats{Endpoint: s.Endpoint().String(), Sent: 2000, Delivered: 2000, Connections: 1}, st)
	assert.Equal(t, "syslog-to "+s.Endpoint().String()+": 2000 lines delivered, 0 lost", st.String())
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range r.msgs {
		assert.Equal(t, string(Format(msg(i), FacilityMail)), m)
	}
}

// A receiver that drops the connection gets a new one, and what was not
// written is written there: nothing lost.
func TestReconnect(t *testing.T) {
	r := newReceiver(t, nil)
	var mu sync.Mutex
	var told []string
	s, err := Open(Config{URL: "tcp://" + r.ln.Addr().String(), MinBackoff: time.Millisecond, Notify: func(m string) {
		mu.Lock()
		told = append(told, m)
		mu.Unlock()
	}})
	require.NoError(t, err)
	for i := range 300 {
		s.Send(msg(i))
	}
	r.waitFor(300)
	r.reset()
	for i := 300; i < 600; i++ {
		s.Send(msg(i))
	}
	r.waitFor(600)
	st := s.Close()
	assert.Equal(t, int64(600), st.Delivered)
	assert.Zero(t, st.Lost)
	assert.Equal(t, 2, st.Connections, st.String())
	assert.Contains(t, st.String(), "reconnected once")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, told, 2, "told as it happened: %q", told)
	assert.Regexp(t, `^connection lost \(.*(reset|closed|broken pipe).*\); reconnecting`, told[0])
	assert.Equal(t, "connected again", told[1])
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(t, r.msgs, 600)
	for i, m := range r.msgs {
		assert.True(t, strings.HasSuffix(m, fmt.Sprintf(" line %d", i)), m)
	}
}

// With no receiver the buffer holds at most Buffer messages: the oldest
// are dropped and counted, Send never waits, and what is left when Close
// gives up is counted too.
func TestBufferBound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nobody listens: connection refused
	told := make(chan string, 10)
	s, err := Open(Config{URL: "tcp://" + addr, Buffer: 100, DrainTimeout: 50 * time.Millisecond, MinBackoff: time.Millisecond,
		Notify: func(m string) { told <- m }})
	require.NoError(t, err)
	for i := range 1000 {
		s.Send(msg(i))
	}
	waitError(t, s)
	mid := s.Stats()
	assert.Equal(t, int64(1000), mid.Sent)
	assert.Equal(t, int64(900), mid.LostBufferFull)
	assert.Equal(t, int64(100), mid.Queued)
	st := s.Close()
	assert.Equal(t, int64(0), st.Delivered)
	assert.Equal(t, int64(1000), st.Lost)
	assert.Equal(t, int64(100), st.LostUnsent)
	assert.Zero(t, st.Queued)
	assert.Contains(t, st.String(), "0 lines delivered, 1000 lost (900 dropped from the full buffer; 100 still buffered when sending stopped")
	assert.Contains(t, st.String(), "connection refused")
	assert.Regexp(t, `^cannot connect \(.*connection refused\); retrying, lines wait in the buffer \(100 at most, then the oldest are dropped\)$`, <-told)
	assert.Empty(t, told, "told once, not at every attempt")
}

// A receiver that accepts but never reads: Send still never waits, and at
// the end every message is delivered or lost.
func TestStalledReceiver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	s, err := Open(Config{URL: "tcp://" + ln.Addr().String(), Buffer: 1000, DrainTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	big := strings.Repeat("x", 4000)
	for i := range 10000 { // 40 MB: more than loopback socket buffers can hold (tcp_wmem + tcp_rmem maxima)
		m := msg(i)
		m.Msg += big
		s.Send(m)
	}
	st := s.Close()
	assert.Equal(t, int64(10000), st.Sent)
	assert.Equal(t, st.Sent, st.Delivered+st.Lost, st.String())
	assert.Positive(t, st.LostBufferFull, st.String())
}

// TLS: with the receiver's CA the messages go through; without it the
// certificate is refused and the loss reported; --syslog-insecure skips
// the check.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	b, err := certs.Generate(dir, nil, time.Time{})
	require.NoError(t, err)
	r := newReceiver(t, b.TLSConfig)
	url := "tls://" + r.ln.Addr().String()

	s, err := Open(Config{URL: url, CAFile: b.CAFile})
	require.NoError(t, err)
	for i := range 10 {
		s.Send(msg(i))
	}
	st := s.Close()
	assert.Equal(t, int64(10), st.Delivered, st.String())
	r.waitFor(10)

	s, err = Open(Config{URL: url, DrainTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	s.Send(msg(0))
	waitError(t, s)
	st = s.Close()
	assert.Equal(t, int64(1), st.Lost)
	assert.Contains(t, st.String(), "certificate")

	s, err = Open(Config{URL: url, Insecure: true})
	require.NoError(t, err)
	s.Send(msg(11))
	assert.Equal(t, int64(1), s.Close().Delivered)
	r.waitFor(11)
}

func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	got := make(chan string, 100)
	go func() {
		buf := make([]byte, 70000)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	s, err := Open(Config{URL: "udp://" + pc.LocalAddr().String()})
	require.NoError(t, err)
	for i := range 20 {
		s.Send(msg(i))
	}
	huge := msg(99)
	huge.Msg = strings.Repeat("y", 70000)
	s.Send(huge)
	st := s.Close()
	assert.Equal(t, int64(20), st.Delivered)
	assert.Equal(t, int64(1), st.LostTooLarge)
	for i := range 20 {
		assert.Equal(t, string(Format(msg(i), FacilityMail)), <-got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg   Config
		field string
		msg   string
	}{
		{Config{URL: "tcp:/x"}, "url", "no scheme"},
		{Config{URL: "tcp://127.0.0.1:514", CAFile: "ca.pem"}, "ca", "tls://"},
		{Config{URL: "udp://127.0.0.1:514", Insecure: true}, "insecure", "tls://"},
		{Config{URL: "tls://127.0.0.1:6514", Insecure: true, CAFile: "x"}, "insecure", "not both"},
		{Config{URL: "tls://127.0.0.1:6514", CAFile: "/nonexistent/ca.pem"}, "ca", "no such file"},
		{Config{URL: "tcp://127.0.0.1:514", Buffer: -1}, "buffer", "positive"},
	} {
		_, err := Open(c.cfg)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, c.cfg)
		assert.Equal(t, c.field, ce.Field)
		assert.Contains(t, err.Error(), c.msg)
	}
}

// waitError waits until the sender has met an error (bounded by the
// test's own timeout, not timed).
func waitError(t *testing.T, s *Sender) {
	t.Helper()
	for s.Stats().LastError == "" {
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkSend is what a run pays per mail-log line on its event pump:
// formatting and queueing, with a receiver that keeps up.
func BenchmarkSend(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
		}
	}()
	s, err := Open(Config{URL: "tcp://" + ln.Addr().String(), Buffer: 100000})
	require.NoError(b, err)
	m := Message{Time: time.Now(), Host: "mail", App: "dovecot", Msg: `imap(lucie.jean@interieur.test)<9484><imap-337>: imap_command_finished: cmd_name=FETCH cmd_args="1234 (BODY.PEEK[2])" tagged_reply_state=OK bytes_out=48213 attachment="Note_prefecture_2025-12.pdf"`}
	b.ReportAllocs()
	for b.Loop() {
		s.Send(m)
	}
	b.StopTimer()
	st := s.Close()
	b.ReportMetric(float64(st.Lost), "lost")
}
