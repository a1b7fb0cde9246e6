package imapd

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// rawConn is a line-oriented IMAP transcript helper.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	_, err := io.WriteString(r.c, s+"\r\n")
	require.NoError(r.t, err)
}

func (r *rawConn) line() string {
	r.t.Helper()
	l, err := r.br.ReadString('\n')
	require.NoError(r.t, err)
	return strings.TrimRight(l, "\r\n")
}

// until reads lines until one starts with prefix, returning all lines read.
func (r *rawConn) until(prefix string) []string {
	r.t.Helper()
	var out []string
	for {
		l := r.line()
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
	}
}

func TestIDBeforeAndAfterLogin(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialRaw(t, ts.addr)
	greeting := r.line()
	assert.Contains(t, greeting, "* OK [CAPABILITY")
	assert.Contains(t, greeting, " ID")
	assert.Contains(t, greeting, "STARTTLS")

	r.send(`a1 ID ("name" "Thunderbird" "version" "128.5.0")`)
	lines := r.until("a1 ")
	require.Len(t, lines, 2, "%q", lines)
	assert.True(t, strings.HasPrefix(lines[0], `* ID ("name" "maildrill-mailsim"`), lines[0])
	assert.Equal(t, "a1 OK ID completed", lines[1])

	r.send(`a2 LOGIN director@interieur.test secret-director`)
	lines = r.until("a2 ")
	assert.Contains(t, lines[len(lines)-1], "a2 OK")
	assert.Contains(t, lines[len(lines)-1], " ID")

	// After login, pipelined with another command: responses stay in order.
	r.send(`a3 ID NIL` + "\r\n" + `a4 NOOP`)
	lines = r.until("a4 ")
	require.Equal(t, []string{`* ID ("name" "maildrill-mailsim" "vendor" "maildrill" "support-url" "https://github.com/maildrill/maildrill")`, "a3 OK ID completed", "a4 OK NOOP completed"}, lines)

	r.send(`a5 ID ("name" "broken"`)
	assert.Contains(t, r.until("a5 ")[0], "a5 BAD")
	r.send("a6 LOGOUT")
	r.until("a6 ")

	evs := ts.events(t)
	ids := actions(evs, audit.IMAPID)
	require.Len(t, ids, 3)
	assert.Equal(t, audit.Failure, ids[2].Outcome, "the broken ID is audited")
	assert.Equal(t, "syntax_error", ids[2].Reason)
	assert.Equal(t, "Thunderbird", ids[0].ClientName)
	assert.Equal(t, "128.5.0", ids[0].ClientVersion)
	assert.Equal(t, "name=Thunderbird; version=128.5.0", ids[0].ClientIDRaw)
	assert.Equal(t, "", ids[1].ClientName, "ID NIL clears the client identity")
	logins := actions(evs, audit.IMAPLogin)
	require.Len(t, logins, 1)
	assert.Equal(t, "Thunderbird", logins[0].ClientName)
	assert.Equal(t, true, *logins[0].AuthCleartext)
	assert.False(t, logins[0].TLS)
	require.Len(t, actions(evs, audit.IMAPLogout), 1)
}

func TestStartTLSAndCleartextPolicy(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: false})
	r := dialRaw(t, ts.addr)
	greeting := r.line()
	assert.Contains(t, greeting, "LOGINDISABLED")
	assert.NotContains(t, greeting, "AUTH=PLAIN")

	r.send("a1 LOGIN director@interieur.test secret-director")
	assert.Contains(t, r.until("a1 ")[0], "a1 NO [PRIVACYREQUIRED]")

	// STARTTLS takes no arguments (RFC 9051 §6.2.1): it was taken for
	// STARTTLS, the extra text dropped unseen. Refused, audited, and the
	// session goes on in plaintext.
	r.send("a0 STARTTLS now please")
	assert.Equal(t, "a0 BAD [CLIENTBUG] STARTTLS takes no arguments", r.line())

	// STARTTLS with an injected command after it: the injected command
	// must be discarded, not executed after the handshake.
	r.send("a2 STARTTLS\r\na3 LOGIN director@interieur.test secret-director")
	assert.Equal(t, "a2 OK Begin TLS negotiation now", r.line())
	tc := tls.Client(r.c, ts.certs.ClientConfig("localhost"))
	require.NoError(t, tc.Handshake())
	r2 := &rawConn{t: t, c: tc, br: bufio.NewReader(tc)}
	r2.send("b1 CAPABILITY")
	caps := r2.until("b1 ")
	assert.NotContains(t, caps[0], "STARTTLS")
	assert.NotContains(t, caps[0], "LOGINDISABLED")
	assert.Contains(t, caps[0], "AUTH=PLAIN")
	r2.send("b2 LOGIN director@interieur.test wrong")
	assert.Contains(t, r2.until("b2 ")[0], "b2 NO")
	r2.send("b3 LOGIN director@interieur.test secret-director")
	assert.Contains(t, r2.until("b3 ")[0], "b3 OK")
	r2.send("b4 LOGOUT")
	r2.until("b4 ")

	evs := ts.events(t)
	logins := actions(evs, audit.IMAPLogin)
	require.Len(t, logins, 3, "the injected a3 LOGIN must not have run")
	assert.Equal(t, "cleartext_disallowed", logins[0].Reason)
	assert.Equal(t, "invalid_credentials", logins[1].Reason)
	assert.True(t, logins[1].TLS)
	assert.Equal(t, audit.Success, logins[2].Outcome)
	assert.Equal(t, false, *logins[2].AuthCleartext)
	starttls := actions(evs, audit.IMAPStartTLS)
	require.Len(t, starttls, 2)
	assert.Equal(t, audit.Failure, starttls[0].Outcome)
	assert.Equal(t, "syntax_error", starttls[0].Reason)
	assert.Equal(t, audit.Success, starttls[1].Outcome)
}

func TestLoginOutcomes(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.dialTLS(t)
	require.Error(t, c.Login("nobody@interieur.test", "x").Wait())
	require.Error(t, c.Login("agent@interieur.test", "bad").Wait())
	require.NoError(t, c.Authenticate(plainClient("agent@interieur.test", "secret-agent")))
	require.NoError(t, c.Logout().Wait())
	evs := ts.events(t)
	logins := actions(evs, audit.IMAPLogin)
	require.Len(t, logins, 3)
	assert.Equal(t, "unknown_user", logins[0].Reason)
	assert.Equal(t, "nobody@interieur.test", logins[0].UserName)
	assert.Equal(t, "invalid_credentials", logins[1].Reason)
	assert.Equal(t, audit.Success, logins[2].Outcome)
	assert.Equal(t, "PLAIN", logins[2].AuthMechanism)
	for _, e := range evs {
		assert.Equal(t, "127.0.0.1", e.SourceIP)
		assert.NotEmpty(t, e.SessionID)
		assert.Equal(t, "imaps", e.ServiceName)
	}
}

func TestExamineIsReadOnly(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.login(t, "agent@interieur.test")
	_, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	require.NoError(t, err)
	// uid 1 is unseen in the base; a non-peek BODY[] must not set \Seen.
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}, Flags: true}).Collect()
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.NotContains(t, msgs[0].Flags, imap.FlagSeen)
	err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read-only")
	require.Error(t, c.Expunge().Close())

	// SELECT, then the same fetch marks the message seen.
	_, err = c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	msgs, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	require.NoError(t, err)
	assert.Contains(t, msgs[0].Flags, imap.FlagSeen)

	evs := ts.events(t)
	require.Len(t, actions(evs, audit.IMAPExamine), 1)
	stores := actions(evs, audit.IMAPStore)
	require.Len(t, stores, 1)
	assert.Equal(t, "read_only", stores[0].Reason)
}

func TestFetchAttachmentAudit(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.login(t, "agent@interieur.test")
	_, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	// uid 3 has a PDF in part 2.
	msgs, err := c.Fetch(imap.UIDSetNum(3), &imap.FetchOptions{UID: true, BodyStructure: &imap.FetchItemBodyStructure{}, BodySection: []*imap.FetchItemBodySection{{Part: []int{2}, Peek: true}}}).Collect()
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	var body []byte
	for _, b := range msgs[0].BodySection {
		body = b.Bytes
	}
	assert.True(t, strings.HasPrefix(string(body), "%PDF-1.4"))
	evs := actions(ts.events(t), audit.IMAPFetch)
	require.Len(t, evs, 1)
	e := evs[0]
	assert.Equal(t, "dossier_3.pdf", e.FileName)
	assert.Equal(t, "pdf", e.FileExt)
	assert.Equal(t, "application/pdf", e.FileMIMEType)
	assert.Len(t, e.FileSHA256, 64)
	assert.Equal(t, int64(len(body)), e.BytesOut)
	assert.Equal(t, "UID BODYSTRUCTURE BODY.PEEK[2]", e.FetchItems)
	assert.Equal(t, "agent@interieur.test", e.MailboxOwner)
	assert.Equal(t, false, *e.MailboxShared)
}

func TestDelegatedAndSharedMailboxes(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.login(t, "secretariat@interieur.test")
	ns, err := c.Namespace().Wait()
	require.NoError(t, err)
	require.Len(t, ns.Other, 1)
	assert.Equal(t, OtherUsersPrefix, ns.Other[0].Prefix)
	list, err := c.List("", "*", nil).Collect()
	require.NoError(t, err)
	var names []string
	for _, l := range list {
		names = append(names, l.Mailbox)
	}
	assert.Contains(t, names, "Users/director/INBOX")
	assert.Contains(t, names, "Shared/cabinet/INBOX")
	assert.Contains(t, names, "INBOX")
	_, err = c.Select("Users/director/INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	require.NoError(t, err)

	// agent has no delegation: director's mailbox does not exist for them.
	c2 := ts.login(t, "agent@interieur.test")
	_, err = c2.Select("Users/director/INBOX", nil).Wait()
	require.Error(t, err)

	evs := ts.events(t)
	ex := actions(evs, audit.IMAPExamine)
	require.Len(t, ex, 1)
	assert.Equal(t, "secretariat@interieur.test", ex[0].UserName)
	assert.Equal(t, "director@interieur.test", ex[0].MailboxOwner)
	assert.Equal(t, true, *ex[0].MailboxShared)
	sel := actions(evs, audit.IMAPSelect)
	require.Len(t, sel, 1)
	assert.Equal(t, audit.Failure, sel[0].Outcome)
	assert.Equal(t, "agent@interieur.test", sel[0].UserName)
}

func TestSearchMoveExpungeAppend(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := ts.login(t, "agent@interieur.test")
	_, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	res, err := c.UIDSearch(&imap.SearchCriteria{Text: []string{"confidentielle"}}, nil).Wait()
	require.NoError(t, err)
	assert.Equal(t, []imap.UID{5, 10, 15, 20, 25, 30}, res.AllUIDs())

	require.NoError(t, c.Store(imap.UIDSetNum(5, 10), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close())
	require.NoError(t, c.Expunge().Close())
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	require.NoError(t, err)
	assert.Equal(t, uint32(28), *st.NumMessages)

	md, err := c.Move(imap.UIDSetNum(15), "Archive/2024").Wait()
	require.NoError(t, err)
	assert.Equal(t, imap.UID(4), md.DestUIDs.(imap.UIDSet)[0].Start)

	msg := "From: a@b.test\r\nSubject: brouillon\r\n\r\nhello\r\n"
	ap := c.Append("Drafts", int64(len(msg)), nil)
	ap.Write([]byte(msg))
	ap.Close()
	_, err = ap.Wait()
	require.Error(t, err, "Drafts does not exist")
	require.NoError(t, c.Create("Drafts", nil).Wait())
	ap = c.Append("Drafts", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
	ap.Write([]byte(msg))
	ap.Close()
	ad, err := ap.Wait()
	require.NoError(t, err)
	assert.Equal(t, imap.UID(1), ad.UID)

	evs := ts.events(t)
	s := actions(evs, audit.IMAPSearch)
	require.Len(t, s, 1)
	assert.Equal(t, `TEXT "confidentielle"`, s[0].Search)
	assert.Equal(t, 6, *s[0].SearchHits)
	ex := actions(evs, audit.IMAPExpunge)
	require.Len(t, ex, 2)
	require.Len(t, actions(evs, audit.IMAPMove), 1)
	apps := actions(evs, audit.IMAPAppend)
	require.Len(t, apps, 2)
	assert.Equal(t, audit.Failure, apps[0].Outcome)
	assert.Equal(t, audit.Success, apps[1].Outcome)
}

// A bulk download on one connection must not stall a FLAGS fetch on
// another connection to the same mailbox.
func TestBulkFetchDoesNotBlockOthers(t *testing.T) {
	ts := startServer(t, serverOpts{inbox: 300})
	bulk := ts.login(t, "agent@interieur.test")
	_, err := bulk.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	probe := ts.login(t, "agent@interieur.test")
	_, err = probe.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	require.NoError(t, err)

	// Start a bulk fetch but read it slowly: the server's writes to this
	// client block on the socket.
	cmd := bulk.Fetch(imap.SeqSetNum(1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m := cmd.Next()
			if m == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
			m.Collect()
		}
		cmd.Close()
	}()
	done := make(chan error, 1)
	go func() {
		_, err := probe.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{Flags: true}).Collect()
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("probe FETCH blocked behind a bulk download")
	}
	wg.Wait()
}

func plainClient(u, p string) saslPlain { return saslPlain{u, p} }

type saslPlain struct{ u, p string }

func (s saslPlain) Start() (string, []byte, error) {
	return "PLAIN", []byte("\x00" + s.u + "\x00" + s.p), nil
}
func (s saslPlain) Next([]byte) ([]byte, error) { return nil, fmt.Errorf("unexpected challenge") }

// dialCountingAgent logs the agent in over TLS; the channel receives the
// message counts (EXISTS) the server announces.
func dialCountingAgent(t *testing.T, ts *testServer) (*imapclient.Client, <-chan uint32) {
	t.Helper()
	updates := make(chan uint32, 16)
	c, err := imapclient.DialTLS(ts.tlsAddr, &imapclient.Options{
		TLSConfig: ts.certs.ClientConfig("localhost"),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					updates <- *d.NumMessages
				}
			},
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Login("agent@interieur.test", "secret-agent").Wait())
	return c, updates
}

// awaitCount waits up to 3 s for the server to announce n messages.
func awaitCount(t *testing.T, updates <-chan uint32, n uint32, round int) {
	t.Helper()
	select {
	case got := <-updates:
		require.Equal(t, n, got, "round %d", round)
	case <-time.After(3 * time.Second):
		t.Fatalf("round %d: the IDLE session never saw message %d", round, n)
	}
}

// The response hold ends with each command: after a FETCH (whose
// responses wait for its completion), an IDLE session sees at once a
// message another session APPENDs, not only when something else fills
// the buffer.
func TestIdleAfterFetchSeesAppendFromAnotherSession(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c, updates := dialCountingAgent(t, ts)
	sd, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	require.Positive(t, sd.NumMessages)
	other, err := imapclient.DialTLS(ts.tlsAddr, &imapclient.Options{TLSConfig: ts.certs.ClientConfig("localhost")})
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, other.Login("agent@interieur.test", "secret-agent").Wait())

	n := sd.NumMessages
	for i := 0; i < 20; i++ {
		msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		idle, err := c.Idle()
		require.NoError(t, err)
		msg := fmt.Sprintf("From: a@b.test\r\nSubject: appended %d\r\n\r\nx\r\n", i)
		ac := other.Append("INBOX", int64(len(msg)), nil)
		_, err = ac.Write([]byte(msg))
		require.NoError(t, err)
		require.NoError(t, ac.Close())
		_, err = ac.Wait()
		require.NoError(t, err)
		n++
		awaitCount(t, updates, n, i)
		require.NoError(t, idle.Close())
		require.NoError(t, idle.Wait())
	}
}

// A message delivered right after the server's "+ idling" reaches the IDLE
// session. imapserver's own SessionTracker.Idle registered for wake-ups only
// after sending the continuation, so a delivery in between waited for the
// next one (CI saw it once as a lost update); the loop makes the window
// likely to be hit on the old code.
func TestIdleSeesDeliveryRightAfterContinuation(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c, updates := dialCountingAgent(t, ts)
	sd, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	n := sd.NumMessages
	for i := 0; i < 100; i++ {
		idle, err := c.Idle() // returns once "+ idling" has been read
		require.NoError(t, err)
		_, err = ts.store.Deliver("agent@interieur.test", []byte(fmt.Sprintf("From: a@b.test\r\nSubject: live %d\r\n\r\nx\r\n", i)))
		require.NoError(t, err)
		n++
		awaitCount(t, updates, n, i)
		require.NoError(t, idle.Close())
		require.NoError(t, idle.Wait())
	}
}
