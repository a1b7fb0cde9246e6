package mailsim_test

// Helpers shared by the fault-injection suite (faults_test.go) and the soak
// (soak_test.go): raw protocol clients that can stop anywhere, the faults
// themselves, end-to-end checks of every listener, and an audit tracker that
// pairs every connect event with its end event.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
)

// ioTimeout bounds every client step of the harness: a server that does not
// answer within it is reported, never waited for.
const ioTimeout = 5 * time.Second

// partialClientHello is the start of a TLS record announcing a 200-byte
// ClientHello of which only a few bytes follow: the server's handshake
// waits for the rest.
const partialClientHello = "\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03"

// rawConn is a client connection driven by hand, so that it can be left in
// any protocol state.
type rawConn struct {
	tcp *net.TCPConn
	tls *tls.Conn // set once a TLS handshake has completed
	c   net.Conn  // the stream the protocol runs over (tcp or tls)
	r   *bufio.Reader
}

// dialHook, when set (by the soak, before any session starts), is told of
// every connection the harness opens.
var dialHook func(addr string)

// dialFrom, when set (by the soak), gives each connection the harness opens
// its own loopback source address, as clients on many hosts would have: the
// servers' per-source session caps then apply as they do in production.
var dialFrom func() net.Addr

func dial(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: ioTimeout}
	if dialFrom != nil {
		d.LocalAddr = dialFrom()
	}
	nc, err := d.Dial("tcp", addr)
	if err == nil && dialHook != nil {
		dialHook(addr)
	}
	return nc, err
}

func dialRaw(addr string) (*rawConn, error) {
	nc, err := dial(addr)
	if err != nil {
		return nil, err
	}
	tc := nc.(*net.TCPConn)
	tc.SetDeadline(time.Now().Add(ioTimeout))
	return &rawConn{tcp: tc, c: tc, r: bufio.NewReader(tc)}, nil
}

// handshake runs a TLS client handshake over the connection.
func (c *rawConn) handshake(cfg *tls.Config) error {
	c.tcp.SetDeadline(time.Now().Add(ioTimeout))
	t := tls.Client(c.tcp, cfg)
	if err := t.Handshake(); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.tls, c.c, c.r = t, t, bufio.NewReader(t)
	return nil
}

// send writes s; each step of the protocol gets ioTimeout afresh.
func (c *rawConn) send(s string) error {
	c.tcp.SetDeadline(time.Now().Add(ioTimeout))
	_, err := io.WriteString(c.c, s)
	return err
}

func (c *rawConn) line() (string, error) {
	l, err := c.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// imapCmd sends "tag cmd" and reads up to the tagged answer, which must be OK.
func (c *rawConn) imapCmd(tag, cmd string) error {
	if err := c.send(tag + " " + cmd + "\r\n"); err != nil {
		return err
	}
	return c.imapTagged(tag)
}

func (c *rawConn) imapTagged(tag string) error {
	for {
		l, err := c.line()
		if err != nil {
			return fmt.Errorf("%s: %w", tag, err)
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return fmt.Errorf("%s: %s", tag, l)
			}
			return nil
		}
	}
}

// imapContinuation reads up to a "+" continuation request.
func (c *rawConn) imapContinuation() error {
	for {
		l, err := c.line()
		if err != nil {
			return err
		}
		if strings.HasPrefix(l, "+") {
			return nil
		}
		if !strings.HasPrefix(l, "*") {
			return fmt.Errorf("no continuation: %s", l)
		}
	}
}

// smtpReply reads a (multi-line) reply and checks its code.
func (c *rawConn) smtpReply(want int) error {
	for {
		l, err := c.line()
		if err != nil {
			return err
		}
		if len(l) < 4 {
			return fmt.Errorf("short reply %q", l)
		}
		code, err := strconv.Atoi(l[:3])
		if err != nil {
			return fmt.Errorf("bad reply %q", l)
		}
		if l[3] == '-' {
			continue
		}
		if code != want {
			return fmt.Errorf("want %d, got %q", want, l)
		}
		return nil
	}
}

func (c *rawConn) smtpCmd(cmd string, want int) error {
	if err := c.send(cmd + "\r\n"); err != nil {
		return err
	}
	if err := c.smtpReply(want); err != nil {
		return fmt.Errorf("%s: %w", strings.Fields(cmd + " x")[0], err)
	}
	return nil
}

func plainAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// fault is what a client does to a connection.
type fault string

const (
	faultReset     fault = "reset"     // SetLinger(0) + Close: an RST
	faultFIN       fault = "fin"       // Close: a FIN (no TLS close_notify)
	faultHalfClose fault = "halfclose" // CloseWrite, then read until the server closes
	faultStall     fault = "stall"     // stop talking, connection held open
)

var allFaults = []fault{faultReset, faultFIN, faultHalfClose, faultStall}

// apply performs f. For faultHalfClose it returns an error when the server
// has not closed its side within ioTimeout; for faultStall it does nothing
// (the caller holds the connection and closes it with finish).
func (c *rawConn) apply(f fault) error {
	switch f {
	case faultReset:
		c.tcp.SetLinger(0)
		return c.tcp.Close()
	case faultFIN:
		return c.tcp.Close()
	case faultHalfClose:
		var err error
		if c.tls != nil {
			c.tls.SetWriteDeadline(time.Now().Add(time.Second))
			err = c.tls.CloseWrite() // close_notify, then FIN
		} else {
			err = c.tcp.CloseWrite()
		}
		if err != nil {
			c.tcp.Close()
			return fmt.Errorf("close write: %w", err)
		}
		defer c.tcp.Close()
		c.tcp.SetReadDeadline(time.Now().Add(ioTimeout))
		_, err = io.Copy(io.Discard, c.tcp)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("server kept the half-closed connection open for %v", ioTimeout)
		}
		return nil // EOF or reset: the server closed its side
	case faultStall:
		c.tcp.SetDeadline(time.Time{})
		return nil
	}
	return fmt.Errorf("unknown fault %q", f)
}

func (c *rawConn) finish() { c.tcp.Close() }

// endToEnd checks that every listener of ms serves a complete session:
// IMAP (STARTTLS) and IMAPS login+select+fetch, submission AUTH+send to a
// local user, MX delivery, admin /healthz. It returns one error per
// listener that failed.
func endToEnd(srv *mailsim.Server, user, pass, rcpt string) map[string]error {
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, fn := range map[string]func() error{
		"imap":       func() error { return imapSession(srv, false, user, pass) },
		"imaps":      func() error { return imapSession(srv, true, user, pass) },
		"submission": func() error { return submitMessage(srv, user, pass, rcpt, "fault suite check") },
		"mx":         func() error { return mxDeliver(srv, rcpt, "fault suite check", "") },
		"admin":      func() error { return adminHealth(srv.AdminAddr) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				mu.Lock()
				errs[name] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// imapSession logs in, selects INBOX, fetches the first message and logs out.
func imapSession(srv *mailsim.Server, implicitTLS bool, user, pass string) error {
	addr := srv.IMAPAddr
	if implicitTLS {
		addr = srv.IMAPSAddr
	}
	raw, err := dial(addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	nc := capDeadlines(raw) // imapclient sets deadlines of its own, 30 s and more
	opts := &imapclient.Options{TLSConfig: srv.Certs.ClientConfig("localhost")}
	var c *imapclient.Client
	if implicitTLS {
		t := tls.Client(nc, opts.TLSConfig)
		if err := t.Handshake(); err != nil {
			return err
		}
		c = imapclient.New(t, opts)
	} else if c, err = imapclient.NewStartTLS(nc, opts); err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	sd, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("select: %w", err)
	}
	if sd.NumMessages == 0 {
		return errors.New("empty INBOX")
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{RFC822Size: true, Envelope: true}).Collect()
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	if len(msgs) != 1 || msgs[0].RFC822Size == 0 {
		return fmt.Errorf("fetch: %d messages", len(msgs))
	}
	return c.Logout().Wait()
}

// submitMessage authenticates on submission (after STARTTLS) and sends a
// message to a local user.
func submitMessage(srv *mailsim.Server, user, pass, rcpt, subject string) error {
	nc, err := dial(srv.SubmissionAddr)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(ioTimeout))
	c, err := smtp.NewClientStartTLS(capDeadlines(nc), srv.Certs.ClientConfig("localhost"))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nbonjour\r\n", user, rcpt, subject)
	if err := c.SendMail(user, []string{rcpt}, strings.NewReader(msg)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return c.Quit()
}

// cappedConn keeps every deadline set on it within a hard one: the go-smtp
// and go-imap clients set deadlines of their own, 30 s to minutes long.
type cappedConn struct {
	net.Conn
	hard time.Time
}

// capDeadlines gives a session 3×ioTimeout in all, whatever its client sets.
func capDeadlines(nc net.Conn) net.Conn {
	c := &cappedConn{Conn: nc, hard: time.Now().Add(3 * ioTimeout)}
	c.SetDeadline(time.Time{})
	return c
}

func (c *cappedConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.hard) {
		return c.hard
	}
	return t
}

func (c *cappedConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *cappedConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *cappedConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.clamp(t)) }

func newSMTPClient(nc net.Conn) *smtp.Client { return smtp.NewClient(capDeadlines(nc)) }

// mxDeliver delivers a message from outside to a local user on the MX. body,
// when set, is the whole message.
func mxDeliver(srv *mailsim.Server, rcpt, subject, body string) error {
	nc, err := dial(srv.MXAddr)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(ioTimeout))
	c := newSMTPClient(nc)
	defer c.Close()
	if err := c.Hello("partner.example.org"); err != nil {
		return err
	}
	if body == "" {
		body = fmt.Sprintf("From: contact@partner.example.org\r\nTo: %s\r\nSubject: %s\r\n\r\nbonjour\r\n", rcpt, subject)
	}
	if err := c.SendMail("contact@partner.example.org", []string{rcpt}, strings.NewReader(body)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return c.Quit()
}

// adminHealth asks the admin API for /healthz over a connection of its own.
func adminHealth(addr string) error {
	nc, err := dial(addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(nc, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"ok"`) {
		return fmt.Errorf("healthz: %s %s", resp.Status, b)
	}
	return nil
}

// waitGoroutines polls runtime.NumGoroutine until it is at most max or
// wait has passed, and returns the last count.
func waitGoroutines(max int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		n := runtime.NumGoroutine()
		if n <= max || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// isEnd reports whether action ends a session.
func isEnd(action string) bool {
	return action == audit.IMAPLogout || action == audit.SMTPDisconnect
}

func isConnect(action string) bool {
	return action == audit.IMAPConnect || action == audit.SMTPConnect
}

// trail is what the audit trail says about one session.
type trail struct {
	id      string
	service string
	connect *audit.Event
	end     *audit.Event
	after   []string // actions recorded after the end event
}

// auditTracker reads the bus and pairs every connect event with its end
// event, by session.id.
type auditTracker struct {
	sub      *audit.Subscription
	mu       sync.Mutex
	sessions map[string]*trail
	order    []string
	counts   map[string]int // action/outcome → events
	total    int
	checked  int         // sessions in order already checked
	follows  atomic.Bool // follow reads the bus: drain must not
}

func newAuditTracker(bus *audit.Bus) *auditTracker {
	return &auditTracker{sub: bus.Subscribe(), sessions: map[string]*trail{}, counts: map[string]int{}}
}

// drain reads every event published so far, without waiting.
func (a *auditTracker) drain() {
	if a.follows.Load() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		evs, err := a.sub.NextBatch(ctx, 0)
		if err != nil {
			return
		}
		a.add(evs)
	}
}

// startFollow drains the bus continuously until ctx ends (publishers block
// on a subscriber that lags too far); drain does nothing meanwhile. The
// channel is closed when following has stopped.
func (a *auditTracker) startFollow(ctx context.Context) <-chan struct{} {
	a.follows.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer a.follows.Store(false)
		for {
			evs, err := a.sub.NextBatch(ctx, 0)
			if err != nil {
				return
			}
			a.add(evs)
		}
	}()
	return done
}

func (a *auditTracker) add(evs []*audit.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range evs {
		a.total++
		a.counts[e.Action+"/"+e.Outcome]++
		if e.SessionID == "" || e.ServiceType == "admin" {
			continue // admin API refusals are single events, not sessions
		}
		tr := a.sessions[e.SessionID]
		if tr == nil {
			tr = &trail{id: e.SessionID, service: e.ServiceName}
			a.sessions[e.SessionID] = tr
			a.order = append(a.order, e.SessionID)
		}
		switch {
		case tr.end != nil:
			tr.after = append(tr.after, e.Action)
		case isConnect(e.Action) && tr.connect == nil:
			tr.connect = e
		case isEnd(e.Action):
			tr.end = e
		}
	}
}

// unpaired returns the problems of the sessions first seen since the last
// call: a connect without an end event, events after the end, an end event
// without a reason (reported separately, as missingReason).
func (a *auditTracker) check() (unpaired, missingReason []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range a.order[a.checked:] {
		tr := a.sessions[id]
		switch {
		case tr.connect == nil:
			unpaired = append(unpaired, fmt.Sprintf("%s (%s): events without a connect event", id, tr.service))
		case tr.end == nil:
			unpaired = append(unpaired, fmt.Sprintf("%s (%s): %s/%s %s without an end event", id, tr.service,
				tr.connect.Action, tr.connect.Outcome, tr.connect.Reason))
		default:
			if len(tr.after) > 0 {
				unpaired = append(unpaired, fmt.Sprintf("%s (%s): %v after %s", id, tr.service, tr.after, tr.end.Action))
			}
			if tr.end.Reason == "" {
				missingReason = append(missingReason, fmt.Sprintf("%s (%s)", id, tr.service))
			}
		}
	}
	a.checked = len(a.order)
	return unpaired, missingReason
}

// settle drains the bus until every session seen is paired or wait passes.
func (a *auditTracker) settle(wait time.Duration) {
	deadline := time.Now().Add(wait)
	for {
		a.drain()
		a.mu.Lock()
		open := 0
		for _, id := range a.order[a.checked:] {
			if a.sessions[id].end == nil {
				open++
			}
		}
		a.mu.Unlock()
		if open == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
