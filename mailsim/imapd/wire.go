package imapd

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// The wire shim sits between the client's connection and go-imap's
// imapserver, which is given an in-memory connection whose reads run the
// shim (a coroutine on imapserver's goroutine: wire_co.go). It parses both
// directions at command/response boundaries (skipping literals) and:
//   - answers ID (RFC 2971) itself, before and after login: the command is
//     passed to imapserver as NOOP so that responses stay in order, and its
//     tagged completion is replaced by the ID response;
//   - performs STARTTLS itself (likewise ordered through NOOP), discarding
//     any plaintext the client pipelined after the command;
//   - rewrites capability lists to advertise ID, STARTTLS and LOGINDISABLED
//     according to the connection's real TLS state and policy;
//   - learns when authentication succeeded.
// imapserver therefore always sees a plaintext stream and never needs to
// know about TLS; the session asks the shim for the TLS state.
//
// The shim never guesses where a command ends: it relays one command at a
// time (imapserver runs them one at a time anyway) and, after each part it
// forwards, waits for the server's verdict — a continuation request (the
// server wants the literal, or a line for IDLE and AUTHENTICATE), a tagged
// response (the command is over), or, after a literal, the server reading
// on. What go-imap would frame differently from the shim is refused before
// it reaches the server: bare CRs, quoted strings running past the end of
// a line, "+" tags, literals and lines over the limits. FuzzShimFraming
// checks the two agree.

// Limits of the wire shim (Config fields; zero means these defaults).
const (
	// DefaultMaxLineBytes bounds a command's text (its lines, without
	// literals). go-imap gives up on a command past 50 KiB by closing the
	// connection; the shim refuses first, with a clean BYE [TOOBIG].
	DefaultMaxLineBytes = 32 << 10
	// DefaultMaxPreAuthLiteralBytes bounds a literal announced before
	// login (Dovecot's login process allows 8 KiB as well). After login
	// the limit is MaxAppendBytes.
	DefaultMaxPreAuthLiteralBytes = 8 << 10

	hardMaxLineBytes = 48 << 10 // below go-imap's own 50 KiB
	maxIDArgBytes    = 8 << 10
	writeTimeout     = 2 * time.Minute
)

func (s *Server) maxLine() int {
	n := s.cfg.MaxLineBytes
	if n <= 0 {
		n = DefaultMaxLineBytes
	}
	return min(n, hardMaxLineBytes)
}

func (s *Server) maxPreAuthLiteral() int64 {
	if s.cfg.MaxPreAuthLiteralBytes > 0 {
		return s.cfg.MaxPreAuthLiteralBytes
	}
	return DefaultMaxPreAuthLiteralBytes
}

// commandActions maps commands to the audit action of their refusal.
var commandActions = map[string]string{
	"LOGIN": audit.IMAPLogin, "AUTHENTICATE": audit.IMAPLogin,
	"SELECT": audit.IMAPSelect, "EXAMINE": audit.IMAPExamine,
	"APPEND": audit.IMAPAppend, "FETCH": audit.IMAPFetch, "UID FETCH": audit.IMAPFetch,
	"SEARCH": audit.IMAPSearch, "UID SEARCH": audit.IMAPSearch,
	"CANCELUPDATE": audit.IMAPSearch,
	"SORT":         audit.IMAPSort, "UID SORT": audit.IMAPSort, "THREAD": audit.IMAPThread, "UID THREAD": audit.IMAPThread,
	"STORE": audit.IMAPStore, "UID STORE": audit.IMAPStore,
	"COPY": audit.IMAPCopy, "UID COPY": audit.IMAPCopy, "MOVE": audit.IMAPMove, "UID MOVE": audit.IMAPMove,
	"EXPUNGE": audit.IMAPExpunge, "UID EXPUNGE": audit.IMAPExpunge,
	"CREATE": audit.IMAPCreate, "DELETE": audit.IMAPDelete, "RENAME": audit.IMAPRename,
	"SUBSCRIBE": audit.IMAPSubscribe, "UNSUBSCRIBE": audit.IMAPSubscribe,
	"LIST": audit.IMAPList, "LSUB": audit.IMAPList, "STATUS": audit.IMAPStatus,
	"NAMESPACE": audit.IMAPNamespace, "IDLE": audit.IMAPIdle, "ID": audit.IMAPID, "STARTTLS": audit.IMAPStartTLS,
}

// auditRefusal records a command refused before the session saw it
// (syntax, state, limits) or by go-imap itself (AUTHENTICATE cancelled).
func (s *Server) auditRefusal(info *ConnInfo, cmd, reason string) {
	action, ok := commandActions[cmd]
	if !ok {
		action = audit.IMAPCommand
	}
	e := audit.Event{Action: action, Outcome: audit.Failure, Reason: reason, Command: cmd, UserName: info.user()}
	if cmd == "AUTHENTICATE" {
		e.AuthMechanism = "PLAIN"
	}
	s.emit(info, e)
}

type pendingKind int

const (
	pendingID pendingKind = iota + 1
	pendingStartTLS
	pendingAuth
)

type pending struct {
	kind   pendingKind
	cmd    string            // original command name for the response text
	params map[string]string // ID parameters, applied when the ID completes
}

// conn is one client connection through the shim.
type conn struct {
	srv  *Server
	info *ConnInfo

	raw    net.Conn      // client TCP connection
	dc     *deadlineConn // raw, as it is
	client net.Conn      // raw or TLS over raw
	cr     *bufio.Reader

	wmu sync.Mutex
	cw  *outBuf
	// stableLit: the literal bytes being written stay as they are until
	// the functions given to afterWrite run (session.writeStable).
	stableLit atomic.Bool

	server net.Conn // imapserver's connection: reads from the shim (serverRead), writes through respWriter
	co     shimCo   // the shim, a coroutine of the server's reads (wire_co.go)

	pmu     sync.Mutex
	pending map[string]pending

	tlsGo   chan struct{} // writer → reader: the STARTTLS OK is flushed
	tlsDone chan error    // reader → writer: handshake finished

	vmu      sync.Mutex
	verdicts []verdict

	smu         sync.Mutex // guards the server-read accounting below
	written     int64      // bytes given to the server
	consumed    int64      // bytes the server has read
	readWaiting bool       // the server is in a read with nothing left to read
	wantRead    bool       // the shim waits to learn whether the server reads on

	cur     atomic.Pointer[relayed]     // the command being relayed
	sortReq atomic.Pointer[sortRequest] // a SORT or THREAD relayed as SEARCH
	condReq atomic.Pointer[condRequest] // CONDSTORE syntax taken out of the command relayed
	cs      condState                   // CONDSTORE parts of the responses, left by the session
	sess    atomic.Pointer[session]
	qresync atomic.Bool // the client enabled QRESYNC (read by the shim)
	// appendMore tells the session's Append whether another message
	// follows the one it just read (MULTIAPPEND); swallowTag is the tag
	// of a server APPEND whose answer the client must not see (all but
	// the last message of a MULTIAPPEND).
	appendMore    chan bool
	swallowTag    atomic.Pointer[string]
	catenate      atomic.Pointer[relayed] // an APPEND whose literal is CATENATE parts (catenate.go)
	saveOnly      atomic.Pointer[string]  // tag of a SEARCH RETURN (SAVE)
	swallowCont   atomic.Bool             // the next continuation request answers a literal the client sent non-synchronizing
	sessionEvents atomic.Int64            // events the session published

	// binOrigins are the partial origins of the BINARY sections the
	// session is writing, in order (-1: not partial): go-imap writes
	// "BINARY[1] ~{n}" where RFC 3516 §4.3 wants "BINARY[1]<o> ~{n}".
	bmu        sync.Mutex
	binOrigins []int64

	closeOnce sync.Once
	closed    chan struct{}
}

func (c *conn) addPending(tag string, p pending) {
	c.pmu.Lock()
	c.pending[tag] = p
	c.pmu.Unlock()
}

func (c *conn) takePending(tag string) (pending, bool) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	p, ok := c.pending[tag]
	if ok {
		delete(c.pending, tag)
	}
	return p, ok
}

// afterWrite runs f once the bytes the connection holds now are written
// (outBuf.AfterWrite).
func (c *conn) afterWrite(f func()) {
	c.wmu.Lock()
	c.cw.AfterWrite(f)
	c.wmu.Unlock()
}

func (c *conn) closeAll() {
	c.closeOnce.Do(func() {
		select {
		case <-c.srv.done:
			c.info.SetCloseReason("server_shutdown")
		default:
		}
		close(c.closed)
		// The client connection closes first: when the shim ends a
		// connection in the middle of a command, the server's answer to
		// its broken pipe must not reach the client after the shim's.
		c.wmu.Lock()
		c.cw.Flush()
		c.raw.Close()
		c.cw.release() // nothing more can reach the client
		c.wmu.Unlock()
	})
}
