package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/store"
)

// Namespace prefixes for other users' (delegated) and shared mailboxes.
const (
	OtherUsersPrefix = "Users/"
	SharedPrefix     = "Shared/"
	delim            = '/'
)

// session is one IMAP session; it implements imapserver's interfaces.
type session struct {
	srv  *Server
	info *ConnInfo
	conn *conn // the shim, which counts the session's events

	user string // authenticated address

	// selected state
	mb       *store.Mailbox
	mbName   string // as the client named it
	mbOwner  string
	readOnly bool
	view     *store.View
	lastRes  imap.UIDSet // SEARCHRES

	// live are the searches kept live by RETURN (UPDATE) (context.go);
	// liveMu guards the list (CANCELUPDATE runs in the shim). liveKey is
	// the mailbox's HIGHESTMODSEQ and the view's changes taken when they
	// were last evaluated.
	liveMu  sync.Mutex
	live    []*liveSearch
	liveKey [2]uint64

	// multi is the MULTIAPPEND being received (nil between commands).
	multi *multiAppend

	// condstore: the client enabled CONDSTORE (RFC 7162 §3.1), by ENABLE
	// or by a command that uses it.
	condstore bool
	// qresync: the client enabled QRESYNC (RFC 7162 §3.2).
	qresync bool

	ic  *imapserver.Conn // for the capabilities the client enabled
	out *respWriter      // imapserver's output path

	fetches  atomic.Int64
	bytesOut atomic.Int64
	loggedIn bool
	closed   bool

	// idleMu guards idleDone and closed against an IDLE still running
	// when the connection ends: go-imap returns from IDLE at the client's
	// EOF without waiting for the session's Idle, and then calls Close,
	// which waits until Idle has returned (idleDone, not nil while Idle
	// runs, is closed) before tearing down the view Idle polls.
	idleMu   sync.Mutex
	idleDone chan struct{}
}

var (
	_ imapserver.SessionIMAP4rev2 = (*session)(nil)
	_ imapserver.SessionSASL      = (*session)(nil)
)

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	ic, ok := c.NetConn().(*innerConn)
	if !ok {
		return nil, nil, fmt.Errorf("imapd: unexpected connection type %T", c.NetConn())
	}
	s.sessions.Add(1)
	sess := &session{srv: s, info: ic.info, conn: ic.out.c, ic: c, out: ic.out}
	sess.conn.sess.Store(sess)
	return sess, nil, nil
}

// cond returns the CONDSTORE parts the shim took out of the command being
// run, nil if none; a command that has some enables CONDSTORE (RFC 7162
// §3.1).
func (s *session) cond() *condRequest {
	if s.conn == nil {
		return nil
	}
	r := s.conn.condFor(s.conn.currentTag())
	if r != nil {
		s.enableCondstore()
	}
	return r
}

// enableCondstore turns CONDSTORE on for the session: from now on FETCH
// responses about flag changes carry MODSEQ.
func (s *session) enableCondstore() {
	s.condstore = true
	if s.view != nil {
		s.view.OnModSeq(s.conn.pushModSeq)
		s.mb.TrackModSeq()
	}
}

// rev1 tells whether the client speaks IMAP4rev1: it did not ENABLE
// IMAP4rev2, so \Recent and RECENT responses apply (RFC 3501 §2.3.2).
func (s *session) rev1() bool {
	return s.ic == nil || !s.ic.EnabledCaps().Has(imap.CapIMAP4rev2)
}

// withRecent adds \Recent to the flags of a message recent for this
// session, for an IMAP4rev1 client.
func (s *session) withRecent(uid uint32, flags []imap.Flag) []imap.Flag {
	if s.view != nil && s.view.Recent(uid) && s.rev1() {
		return append(flags[:len(flags):len(flags)], store.FlagRecent)
	}
	return flags
}

// writeFlags sends FLAGS and PERMANENTFLAGS for the selected mailbox: when
// a keyword is used for the first time, sessions that have the mailbox
// selected learn of it before any FETCH carries it (RFC 3501 §7.2.6).
// Written to the client directly: imapserver has flushed every earlier
// response, and writes its next one after this.
func (s *session) writeFlags(flags []imap.Flag) error {
	var b strings.Builder
	b.WriteString("* FLAGS (")
	for i, f := range flags {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(f))
	}
	b.WriteString(")\r\n")
	if s.readOnly {
		b.WriteString("* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n")
	} else {
		b.WriteString("* OK [PERMANENTFLAGS (")
		for _, f := range flags {
			b.WriteString(string(f))
			b.WriteByte(' ')
		}
		b.WriteString("\\*)] Flags permitted\r\n")
	}
	return s.conn.writeClient(b.String())
}

// announceFlags sends FLAGS when the mailbox has keywords this client was
// not told of yet; called before writing a message's flags.
func (s *session) announceFlags() error {
	if s.view == nil {
		return nil
	}
	if flags, ok := s.view.NewFlags(); ok {
		return s.writeFlags(flags)
	}
	return nil
}

func (s *session) emit(e audit.Event) {
	if e.UserName == "" {
		e.UserName = s.user
	}
	s.conn.sessionEvents.Add(1)
	s.srv.emit(s.info, e)
}

// mailboxEvent fills the mailbox fields of e.
func (s *session) mailboxEvent(e audit.Event, name, owner string) audit.Event {
	e.Mailbox = name
	e.MailboxOwner = owner
	e.MailboxShared = audit.Bool(owner != "" && owner != s.user)
	return e
}

// Close ends the session and records the logout with its counters.
func (s *session) Close() error {
	s.idleMu.Lock()
	if s.closed {
		s.idleMu.Unlock()
		return nil
	}
	s.closed = true
	idleDone := s.idleDone
	s.idleMu.Unlock()
	if idleDone != nil {
		// go-imap closed Idle's stop channel before returning: it ends.
		<-idleDone
	}
	defer s.srv.sessions.Done()
	s.view.Close()
	s.view = nil
	// Why the session ended: client_logout, client_eof, client_reset,
	// server_shutdown, limit_* or timeout_* (set where it was seen).
	why := s.info.CloseReason()
	if why == "" {
		why = "client_eof"
	}
	s.emit(audit.Event{
		Action: audit.IMAPLogout, Outcome: audit.Success, Command: "LOGOUT", Reason: why,
		SessionCommands: s.info.commands.Load(),
		SessionFetches:  s.fetches.Load(),
		SessionBytesOut: s.bytesOut.Load(),
	})
	return nil
}

// --- authentication ---

func (s *session) Login(username, password string) error {
	return s.login("LOGIN", username, password)
}

func (s *session) AuthenticateMechanisms() []string { return []string{"PLAIN"} }

func (s *session) Authenticate(mech string) (sasl.Server, error) {
	if !strings.EqualFold(mech, "PLAIN") {
		s.emit(audit.Event{Action: audit.IMAPLogin, Outcome: audit.Failure, Reason: "unknown_mechanism", AuthMechanism: strings.ToUpper(mech), Command: "AUTHENTICATE"})
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported SASL mechanism"}
	}
	return &plainServer{s: s, Server: sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && !strings.EqualFold(identity, username) {
			s.emit(audit.Event{Action: audit.IMAPLogin, Outcome: audit.Failure, Reason: "authorization_identity_refused", AuthMechanism: "PLAIN", UserName: username, Command: "AUTHENTICATE"})
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed, Text: "Authorization identity not supported"}
		}
		return s.login("PLAIN", username, password)
	})}, nil
}

// plainServer refuses a PLAIN response that is not three NUL-separated
// parts (an empty initial response "=", a blob without NULs) as the
// client's error: go-sasl's plain error made go-imap answer
// "NO [SERVERBUG]", audited as server_error. Dovecot answers
// AUTHENTICATIONFAILED.
type plainServer struct {
	sasl.Server
	s *session
}

func (p *plainServer) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := p.Server.Next(response)
	var ie *imap.Error
	if err != nil && !errors.As(err, &ie) && !errors.Is(err, imapserver.ErrAuthFailed) {
		p.s.emit(audit.Event{Action: audit.IMAPLogin, Outcome: audit.Failure, Reason: "malformed_response", AuthMechanism: "PLAIN", Command: "AUTHENTICATE",
			AuthCleartext: audit.Bool(!p.s.info.TLS())})
		return nil, true, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Malformed SASL PLAIN response"}
	}
	return challenge, done, err
}

func (s *session) login(mech, username, password string) error {
	tlsOn := s.info.TLS()
	cmd := "LOGIN"
	if mech != "LOGIN" {
		cmd = "AUTHENTICATE"
	}
	e := audit.Event{Action: audit.IMAPLogin, AuthMechanism: mech, UserName: username, Command: cmd, AuthCleartext: audit.Bool(!tlsOn)}
	if !tlsOn && !s.srv.allowInsecure {
		e.Outcome, e.Reason = audit.Failure, "cleartext_disallowed"
		s.emit(e)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodePrivacyRequired, Text: "TLS is required to authenticate"}
	}
	if reason, refusal := s.srv.throttled(s.info, username); refusal != nil {
		e.Outcome, e.Reason = audit.Failure, reason
		s.emit(e)
		s.srv.authFailure(s.info, username)
		return refusal
	}
	addr, err := s.srv.cfg.Directory.Authenticate(username, password)
	if err != nil {
		e.Outcome = audit.Failure
		switch {
		case errors.Is(err, ErrUnknownUser):
			e.Reason = "unknown_user"
		case errors.Is(err, ErrInvalidCredentials):
			e.Reason = "invalid_credentials"
		default:
			e.Reason = "error"
		}
		s.emit(e)
		s.srv.authFailure(s.info, username)
		return imapserver.ErrAuthFailed
	}
	s.srv.authSucceeded(s.info, username)
	s.user = addr
	s.loggedIn = true
	s.info.setUser(addr)
	e.Outcome = audit.Success
	e.UserName = addr
	s.emit(e)
	return nil
}

// --- names and access ---

// resolve maps a client mailbox name to (owner, folder). Access to another
// owner requires delegation or membership.
func (s *session) resolve(name string) (owner, folder string, err error) {
	if name == "" {
		// No mailbox can have the empty name: invalid (Dovecot: CANNOT).
		return "", "", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: textNameInvalid}
	}
	if err := s.srv.checkName(name); err != nil {
		return "", "", err
	}
	for _, prefix := range []string{OtherUsersPrefix, SharedPrefix} {
		if len(name) > len(prefix) && strings.EqualFold(name[:len(prefix)], prefix) {
			rest := name[len(prefix):]
			local, folder, _ := strings.Cut(rest, "/")
			acc, ok := s.accessible(local, prefix == SharedPrefix)
			if !ok {
				return "", "", noMailbox(name)
			}
			if folder == "" {
				return "", "", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "Not a selectable mailbox"}
			}
			return acc.Address, folder, nil
		}
	}
	return s.user, name, nil
}

func (s *session) accessible(local string, shared bool) (account.Account, bool) {
	for _, a := range s.srv.cfg.Directory.AccessibleBy(s.user) {
		l, _, _ := strings.Cut(a.Address, "@")
		if strings.EqualFold(l, local) && (a.Kind == "shared") == shared {
			return a, true
		}
	}
	return account.Account{}, false
}

func displayPrefix(a account.Account) string {
	l, _, _ := strings.Cut(a.Address, "@")
	if a.Kind == "shared" {
		return SharedPrefix + l
	}
	return OtherUsersPrefix + l
}

func noMailbox(name string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox: " + name}
}

func (s *session) mailbox(name string) (*store.Mailbox, string, error) {
	owner, folder, err := s.resolve(name)
	if err != nil {
		return nil, "", err
	}
	mb, err := s.srv.cfg.Store.Mailbox(owner, folder)
	if err != nil {
		return nil, owner, noMailbox(name)
	}
	return mb, owner, nil
}

// --- authenticated state ---

func (s *session) Namespace() (*imap.NamespaceData, error) {
	s.emit(audit.Event{Action: audit.IMAPNamespace, Outcome: audit.Success, Command: "NAMESPACE"})
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}},
		Other:    []imap.NamespaceDescriptor{{Prefix: OtherUsersPrefix, Delim: delim}},
		Shared:   []imap.NamespaceDescriptor{{Prefix: SharedPrefix, Delim: delim}},
	}, nil
}

// holdResponses keeps the responses of the command being run in the
// connection's buffer until its tagged completion (respWriter.hold): for
// commands that answer with several lines and never ask the client for
// more (no continuation request). The completion flushes them.
func (s *session) holdResponses() {
	if s.out != nil {
		s.out.hold.Store(true)
	}
}

func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	s.holdResponses()
	action, cmd := audit.IMAPSelect, "SELECT"
	if options != nil && options.ReadOnly {
		action, cmd = audit.IMAPExamine, "EXAMINE"
	}
	readOnly := options != nil && options.ReadOnly
	if s.view != nil {
		s.view.Close()
		s.view, s.mb = nil, nil
		s.info.setSelected("", "")
	}
	s.dropLive()
	mb, owner, err := s.mailbox(name)
	if err != nil {
		e := s.mailboxEvent(audit.Event{Action: action, Outcome: audit.Failure, Reason: reason(err), Command: cmd, ReadOnly: audit.Bool(readOnly)}, name, owner)
		s.emit(e)
		return nil, err
	}
	unseen, err := mb.Stats(true, false)
	if err != nil {
		return nil, err
	}
	// The view starts from the mailbox as it is when it opens: what the
	// client is told here is exactly what later updates build on.
	req := s.cond() // SELECT/EXAMINE (CONDSTORE) enables it
	var view *store.View
	var st store.Stats
	vanished, fetched := 0, 0
	if req != nil && req.resync != nil {
		view, st, vanished, fetched, err = s.openResync(mb, readOnly, req.resync)
		if err != nil {
			return nil, err
		}
	} else {
		view, st = mb.Open(readOnly)
	}
	s.mb, s.mbName, s.mbOwner, s.readOnly = mb, name, owner, readOnly
	s.info.setSelected(name, owner)
	s.view = view
	s.lastRes = nil
	view.OnExpunges(s.liveExpunged)
	if s.condstore {
		s.enableCondstore()
	}
	if s.qresync {
		s.enableQresync()
	}
	if s.condstore || mb.ModSeqTracked() {
		// RFC 7162 §3.1.2.1, sent like Dovecot: by a session that enabled
		// CONDSTORE, or for a mailbox on which one did.
		s.conn.cs.mu.Lock()
		s.conn.cs.selectHighest = st.HighestModSeq
		s.conn.cs.mu.Unlock()
	}

	ev := audit.Event{Action: action, Outcome: audit.Success, Command: cmd, ReadOnly: audit.Bool(readOnly), MessageSize: 0}
	if req != nil && req.resync != nil {
		// QRESYNC: the client's mod-sequence, what it was told vanished,
		// and how many messages it was told changed.
		ev.ModSeq, ev.Vanished, ev.SearchHits = req.resync.modSeq, vanished, audit.Int(fetched)
	}
	s.emit(s.mailboxEvent(ev, name, owner))
	var perm []imap.Flag
	if !readOnly {
		perm = append(append(perm, st.Flags...), imap.FlagWildcard)
	}
	first := unseen.FirstUnseen
	if first > st.Messages {
		first = 0 // a hint only: messages went away in between
	}
	data := &imap.SelectData{
		Flags:             st.Flags,
		PermanentFlags:    perm,
		NumMessages:       st.Messages,
		NumRecent:         st.Recent,
		FirstUnseenSeqNum: first,
		UIDNext:           imap.UID(st.UIDNext),
		UIDValidity:       st.UIDValidity,
	}
	if !s.rev1() {
		// RFC 9051 §6.3.2: an IMAP4rev2 SELECT/EXAMINE returns the
		// mailbox's LIST response.
		data.List = s.selectedList(name, mb)
	}
	return data, nil
}

// selectedList is the LIST response for the mailbox being selected: its
// name as the client gave it, children and special use.
func (s *session) selectedList(name string, mb *store.Mailbox) *imap.ListData {
	ld := &imap.ListData{Mailbox: name, Delim: delim}
	children := false
	if entries, err := s.visible(); err == nil {
		for _, en := range entries {
			if len(en.name) > len(name) && en.name[len(name)] == delim && strings.EqualFold(en.name[:len(name)], name) {
				children = true
				break
			}
		}
	}
	if children {
		ld.Attrs = append(ld.Attrs, imap.MailboxAttrHasChildren)
	} else {
		ld.Attrs = append(ld.Attrs, imap.MailboxAttrHasNoChildren)
	}
	if su := mb.SpecialUse(); su != "" {
		ld.Attrs = append(ld.Attrs, imap.MailboxAttr(su))
	}
	return ld
}

func (s *session) Unselect() error {
	s.dropLive()
	s.view.Close()
	s.view, s.mb, s.mbName, s.mbOwner, s.readOnly, s.lastRes = nil, nil, "", "", false, nil
	s.info.setSelected("", "")
	return nil
}

func (s *session) Create(name string, options *imap.CreateOptions) error {
	owner, folder, err := s.resolve(name)
	e := s.mailboxEvent(audit.Event{Action: audit.IMAPCreate, Command: "CREATE"}, name, owner)
	if err == nil {
		_, err = s.srv.cfg.Store.Create(owner, folder)
		if errors.Is(err, store.ErrMailboxExists) {
			err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
		}
	}
	s.emitResult(e, err)
	return imapErr(err)
}

func (s *session) Delete(name string) error {
	owner, folder, err := s.resolve(name)
	e := s.mailboxEvent(audit.Event{Action: audit.IMAPDelete, Command: "DELETE"}, name, owner)
	if err == nil {
		err = s.srv.cfg.Store.Delete(owner, folder)
	}
	s.emitResult(e, err)
	return imapErr(err)
}

const textRenameOwners = "Cannot rename across mailbox owners"

func (s *session) Rename(oldName, newName string, options *imap.RenameOptions) error {
	owner, folder, err := s.resolve(oldName)
	e := s.mailboxEvent(audit.Event{Action: audit.IMAPRename, Command: "RENAME", DestMailbox: newName}, oldName, owner)
	if err == nil {
		var owner2, folder2 string
		owner2, folder2, err = s.resolve(newName)
		if err == nil && owner2 != owner {
			err = &imap.Error{Type: imap.StatusResponseTypeNo, Text: textRenameOwners}
		}
		if err == nil {
			err = s.srv.cfg.Store.Rename(owner, folder, folder2)
		}
	}
	s.emitResult(e, err)
	return imapErr(err)
}

func (s *session) Subscribe(name string) error   { return s.subscribe(name, true) }
func (s *session) Unsubscribe(name string) error { return s.subscribe(name, false) }

// subscribe changes the user's subscriptions. SUBSCRIBE needs an existing
// mailbox; UNSUBSCRIBE takes any valid name, so that a subscription that
// outlived its mailbox's DELETE can be removed (RFC 3501 §6.3.6-7).
func (s *session) subscribe(name string, v bool) error {
	cmd := "SUBSCRIBE"
	var owner string
	var err error
	if v {
		_, owner, err = s.mailbox(name)
	} else {
		cmd = "UNSUBSCRIBE"
		if name == "" {
			err = noMailbox(name)
		} else if err = s.srv.checkName(name); err == nil {
			owner, _, _ = s.resolve(name)
		}
	}
	e := s.mailboxEvent(audit.Event{Action: audit.IMAPSubscribe, Command: cmd}, name, owner)
	if err == nil {
		err = s.srv.cfg.Store.Subscribe(s.user, name, v)
	}
	s.emitResult(e, err)
	return imapErr(err)
}

func (s *session) emitResult(e audit.Event, err error) {
	if err != nil {
		e.Outcome = audit.Failure
		e.Reason = reason(err)
	} else {
		e.Outcome = audit.Success
	}
	s.emit(e)
}

// reason names a refusal for event.reason from a fixed vocabulary: never
// from the response text, which may hold what the client sent (a message
// header line, a mailbox name).
func reason(err error) string {
	var ie *imap.Error
	if errors.As(err, &ie) {
		if r, ok := nameErrReasons[ie.Text]; ok {
			return r
		}
		switch ie.Code {
		case imap.ResponseCodeNonExistent, imap.ResponseCodeTryCreate:
			return "no_such_mailbox"
		case imap.ResponseCodeAlreadyExists:
			return "already_exists"
		case imap.ResponseCodeOverQuota:
			return "limit_quota"
		case imap.ResponseCodeLimit:
			if strings.Contains(ie.Text, "keywords") {
				return "limit_keywords"
			}
			if strings.HasPrefix(ie.Text, "MULTIAPPEND") {
				return "limit_multiappend"
			}
		case imap.ResponseCodeParse:
			return "cannot_parse_message"
		case imap.ResponseCodeTooBig:
			return "message_too_large"
		case imap.ResponseCodeClientBug:
			return "syntax_error"
		case imap.ResponseCodeAuthorizationFailed:
			return "authorization_identity_refused"
		case imap.ResponseCodePrivacyRequired:
			return "cleartext_disallowed"
		case "READ-ONLY":
			return "read_only"
		}
		if strings.HasPrefix(string(ie.Code), "BADURL") {
			return "invalid_url"
		}
		switch ie.Text {
		case textMultiappendMailboxes:
			return "multiappend_to_more_than_one_mailbox"
		case textRenameOwners:
			return "cannot_rename_across_mailbox_owners"
		}
		return "refused"
	}
	switch {
	case errors.Is(err, store.ErrNoMailbox):
		return "no_such_mailbox"
	case errors.Is(err, store.ErrMailboxExists):
		return "already_exists"
	case errors.Is(err, store.ErrOverQuota):
		return "limit_quota"
	case errors.Is(err, store.ErrTooManyKeywords):
		return "limit_keywords"
	case errors.Is(err, store.ErrRefused):
		return "refused"
	}
	return "error"
}

func imapErr(err error) error {
	if err == nil {
		return nil
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return err
	}
	if errors.Is(err, store.ErrNoMailbox) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: respText(err.Error())}
	}
	if errors.Is(err, store.ErrOverQuota) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Quota exceeded"}
	}
	if errors.Is(err, store.ErrTooManyKeywords) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: fmt.Sprintf("Too many keywords in mailbox (at most %d)", store.MaxKeywords)}
	}
	if errors.Is(err, store.ErrRefused) {
		// DELETE or RENAME of INBOX, an invalid name: never possible
		// (RFC 5530 CANNOT, as Dovecot answers).
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: respText(err.Error())}
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Text: respText(err.Error())}
}

// respText makes an error's words a response text: one line of text
// characters (RFC 9051 resp-text). An error may quote what the client
// sent — a mailbox name given as a literal, a message's malformed header
// line with its end of line — and a line break in it would end the
// response early and make the rest a response of its own; controls
// become spaces.
func respText(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = ' '
		}
	}
	return strings.TrimSpace(string(b))
}

func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	s.holdResponses()
	mb, owner, err := s.mailbox(name)
	e := s.mailboxEvent(audit.Event{Action: audit.IMAPStatus, Command: "STATUS"}, name, owner)
	if err != nil {
		s.emitResult(e, err)
		return nil, err
	}
	data, err := statusData(mb, name, options)
	if req := s.cond(); req != nil && req.status && err == nil {
		mb.TrackModSeq()
		s.conn.cs.mu.Lock()
		s.conn.cs.statusHighest = mb.HighestModSeq()
		s.conn.cs.mu.Unlock()
	}
	s.emitResult(e, err)
	return data, err
}

func statusData(mb *store.Mailbox, name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	st, err := mb.Stats(options.NumUnseen || options.NumDeleted, options.Size)
	if err != nil {
		return nil, err
	}
	d := &imap.StatusData{Mailbox: name}
	if options.NumMessages {
		n := st.Messages
		d.NumMessages = &n
	}
	if options.UIDNext {
		d.UIDNext = imap.UID(st.UIDNext)
	}
	if options.UIDValidity {
		d.UIDValidity = st.UIDValidity
	}
	if options.NumUnseen {
		n := st.Unseen
		d.NumUnseen = &n
	}
	if options.NumDeleted {
		n := st.Deleted
		d.NumDeleted = &n
	}
	if options.Size {
		n := st.Size
		d.Size = &n
	}
	if options.NumRecent {
		// Messages no session has seen yet (RFC 3501 §6.3.10).
		n := st.Recent
		d.NumRecent = &n
	}
	return d, nil
}

func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	mb, owner, err := s.mailbox(name)
	e := s.mailboxEvent(audit.Event{Action: audit.IMAPAppend, Command: "APPEND"}, name, owner)
	var buf bytes.Buffer
	switch {
	case err != nil:
		io.Copy(io.Discard, r)
		if !isNameErr(err) {
			err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
		}
	case r.Size() > s.srv.cfg.MaxAppendBytes:
		io.Copy(io.Discard, r)
		err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too large"}
	default:
		if _, rerr := buf.ReadFrom(io.LimitReader(r, s.srv.cfg.MaxAppendBytes+1)); rerr != nil {
			return nil, rerr
		}
	}
	if cat := s.conn.catenate.Load(); cat != nil && cat == s.conn.cur.Load() {
		// CATENATE (RFC 4469): the literal holds the parts (catenate.go).
		s.conn.catenate.CompareAndSwap(cat, nil)
		if err == nil {
			raw, parts, cerr := s.catenated(buf.Bytes())
			e.CatenateParts = parts
			buf.Reset()
			if cerr != nil {
				err = cerr
			} else {
				buf.Write(raw)
			}
		}
	}
	var flags []imap.Flag
	var date time.Time
	if options != nil {
		flags, date = options.Flags, options.Time
	}
	if len(flags) > 0 {
		// A message planted already \Seen (or \Deleted) is what a rule
		// may look for.
		e.Flags = flagList(flags)
	}
	// MULTIAPPEND (RFC 3502): the shim tells whether another message
	// follows this one in the same command.
	more := s.conn.appendFollows()
	if more || (s.multi != nil && s.multi.cmd == s.conn.cur.Load()) {
		return s.multiAppend(e, mb, err, store.NewMessage{Raw: buf.Bytes(), Flags: flags, Date: date}, more)
	}
	s.multi = nil
	if err != nil {
		s.emitResult(e, err)
		return nil, err
	}
	uid, err := mb.Append(buf.Bytes(), flags, date)
	if err != nil {
		err = appendErr(err)
		s.emitResult(e, err)
		return nil, err
	}
	e.MessageUID = uid
	e.MessageSize = int64(buf.Len())
	s.describeAppended(&e, mb, uid)
	s.emitResult(e, nil)
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: mb.UIDValidity()}, nil
}

// appendErr is the refusal of a message the store would not take.
func appendErr(err error) error {
	if errors.Is(err, store.ErrOverQuota) || errors.Is(err, store.ErrTooManyKeywords) {
		return imapErr(err)
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeParse, Text: "Cannot parse message: " + respText(err.Error())}
}

// describeAppended fills an imap.append event with what the message holds.
func (s *session) describeAppended(e *audit.Event, mb *store.Mailbox, uid uint32) {
	it, ok := mb.ItemByUID(uid)
	if !ok {
		return
	}
	m, err := it.Load()
	if err != nil {
		return
	}
	e.MessageID, e.MessageSubj = m.MessageID, m.Subject
	for _, a := range m.Attachments() {
		e.AttachmentNames = append(e.AttachmentNames, a.FileName)
	}
	e.AttachmentCount = len(m.Attachments())
}

func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.view == nil {
		return nil
	}
	if err := s.viewLost(s.view.Poll(w, allowExpunge, s.rev1(), s.writeFlags)); err != nil {
		return err
	}
	return s.liveUpdate()
}

// viewLost ends a session whose view of its mailbox was dropped because it
// fell store.MaxViewChanges behind: its client can no longer be told what
// changed, so it is told BYE (audited as the logout's reason).
func (s *session) viewLost(err error) error {
	if !errors.Is(err, store.ErrViewOverflow) {
		return err
	}
	s.info.SetCloseReason("limit_mailbox_changes")
	s.conn.writeClient(fmt.Sprintf("* BYE [LIMIT] Over %d changes to the mailbox not read; select it again\r\n", store.MaxViewChanges))
	return err
}

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	// The imap.idle event is recorded by the wire shim (auditIdle).
	s.idleMu.Lock()
	if s.closed {
		s.idleMu.Unlock()
		return nil
	}
	done := make(chan struct{})
	s.idleDone = done
	view, mb := s.view, s.mb
	s.idleMu.Unlock()
	defer func() {
		s.idleMu.Lock()
		s.idleDone = nil
		s.idleMu.Unlock()
		close(done)
	}()
	if view == nil {
		<-stop
		return nil
	}
	// Changed is taken before each poll, so an update queued between
	// "+ idling" and the wait is not missed (see store.Mailbox.Changed).
	for {
		changed := mb.Changed()
		if err := s.viewLost(view.Poll(w, true, s.rev1(), s.writeFlags)); err != nil {
			return err
		}
		if err := s.liveUpdate(); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-stop:
			return nil
		}
	}
}
