package corpus

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/store"
)

// smallOrg keeps attachments small so tests that touch many documents stay
// fast, also under -race.
func smallOrg(t testing.TB, seed int64) *Org {
	t.Helper()
	return smallOrgMax(t, seed, 96<<10)
}

func smallOrgMax(t testing.TB, seed int64, maxAttachment int) *Org {
	t.Helper()
	o, err := New(Config{Seed: seed, Users: 40, MessagesPerUser: 150, MaxAttachmentSize: maxAttachment})
	require.NoError(t, err)
	return o
}

type parsed struct {
	msg         *Message
	from, to    []*mail.Address
	date        time.Time
	inReplyTo   []string
	references  []string
	attachments map[string][]byte
	text        string
}

func parseMessage(t testing.TB, m *Message) parsed {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(m.Raw))
	require.NoError(t, err, "parse:\n%s", head(m.Raw))
	p := parsed{msg: m, attachments: map[string][]byte{}}
	h := r.Header
	p.from, err = h.AddressList("From")
	require.NoError(t, err)
	p.to, err = h.AddressList("To")
	require.NoError(t, err)
	p.date, err = h.Date()
	require.NoError(t, err)
	subject, err := h.Subject()
	require.NoError(t, err)
	assert.Equal(t, m.Subject, subject)
	id, err := h.MessageID()
	require.NoError(t, err)
	assert.Equal(t, m.MessageID, "<"+id+">")
	p.inReplyTo, err = h.MsgIDList("In-Reply-To")
	require.NoError(t, err)
	p.references, err = h.MsgIDList("References")
	require.NoError(t, err)
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(part.Body)
		require.NoError(t, err)
		switch ph := part.Header.(type) {
		case *mail.InlineHeader:
			ct, _, _ := ph.ContentType()
			if ct == "text/plain" {
				p.text = string(body)
			}
		case *mail.AttachmentHeader:
			name, err := ph.Filename()
			require.NoError(t, err)
			p.attachments[name] = body
		}
	}
	return p
}

func head(b []byte) string {
	if len(b) > 3000 {
		b = b[:3000]
	}
	return string(b)
}

// TestMessagesParse reads every message of a few mailboxes with go-message
// and checks headers, body, threads, attachments and flags.
func TestMessagesParse(t *testing.T) {
	o := smallOrg(t, 11)
	users := o.Users()
	sample := []User{users[0], users[1], users[17], users[len(users)-len(sharedMailboxes)]}
	ids := map[string]string{}
	checked := map[[32]byte]bool{}
	withAttachments, total := 0, 0
	validFlags := map[string]bool{`\Seen`: true, `\Answered`: true, `\Flagged`: true, `\Draft`: true}
	end := o.Config().End
	for _, u := range sample {
		for _, f := range o.Folders(u.Address) {
			var prev time.Time
			folderIDs := map[string]parsed{}
			for uid := uint32(1); uid <= f.Count; uid++ {
				m, err := o.Message(u.Address, f.Name, uid)
				require.NoError(t, err)
				where := fmt.Sprintf("%s %s %d", u.Address, f.Name, uid)
				total++
				assert.Equal(t, uid, m.UID)
				assert.NotContains(t, string(bytes.ReplaceAll(m.Raw, []byte("\r\n"), nil)), "\n", "%s: bare LF", where)
				longest := 0
				for _, line := range bytes.Split(m.Raw, []byte("\r\n")) {
					longest = max(longest, len(line))
				}
				assert.LessOrEqual(t, longest, 998, "%s: line too long", where)
				if other, dup := ids[m.MessageID]; dup {
					t.Errorf("%s: Message-ID %s already used by %s", where, m.MessageID, other)
				}
				ids[m.MessageID] = where

				p := parseMessage(t, m)
				require.Len(t, p.from, 1)
				require.NotEmpty(t, p.to)
				assert.False(t, m.InternalDate.Before(prev), "%s: dates follow UIDs", where)
				prev = m.InternalDate
				assert.False(t, m.InternalDate.After(end), where)
				assert.True(t, m.InternalDate.After(end.AddDate(-1, 0, -1)), where)
				assert.WithinDuration(t, m.InternalDate, p.date, 5*time.Minute, where)
				if wd := paris(m.InternalDate).Weekday(); wd == time.Saturday || wd == time.Sunday {
					t.Errorf("%s: dated on a %s", where, wd)
				}
				switch f.SpecialUse {
				case `\Sent`, `\Drafts`:
					assert.True(t, strings.EqualFold(u.Address, p.from[0].Address), "%s: sent by the owner", where)
				default:
					assert.False(t, strings.EqualFold(u.Address, p.from[0].Address), "%s: received from someone else", where)
				}
				assert.NotEmpty(t, strings.TrimSpace(p.text), where)
				assert.Contains(t, p.text, p.from[0].Name, "%s: signed", where)

				// Threads: In-Reply-To is the last reference; earlier
				// messages of the same folder are referenced with their own
				// references before them.
				if len(p.inReplyTo) > 0 {
					require.NotEmpty(t, p.references, where)
					assert.Equal(t, p.inReplyTo[0], p.references[len(p.references)-1], where)
					assert.True(t, strings.HasPrefix(m.Subject, "Re: ") || strings.HasPrefix(m.Subject, "RE : "), "%s: %q", where, m.Subject)
				}
				for _, ref := range p.references {
					if earlier, ok := folderIDs[ref]; ok && len(p.references) < 10 {
						want := append(append([]string(nil), earlier.references...), ref)
						assert.Equal(t, want, p.references[:len(want)], where)
					}
				}
				folderIDs[strings.Trim(m.MessageID, "<>")] = p

				if len(m.Attachments) > 0 {
					withAttachments++
				}
				require.Equal(t, len(m.Attachments), len(p.attachments), "%s: attachments", where)
				for _, a := range m.Attachments {
					body, ok := p.attachments[a.Filename]
					if assert.True(t, ok, "%s: attachment %s", where, a.Filename) {
						assert.Len(t, body, a.Size)
						sum := sha256.Sum256(body)
						assert.Equal(t, hex.EncodeToString(sum[:]), a.SHA256, "%s: %s hash", where, a.Filename)
						if !checked[sum] {
							checked[sum] = true
							checkDocument(t, a.Filename, body)
						}
					}
					assert.Contains(t, p.text, a.Filename, "%s: the body mentions its attachment", where)
				}
				for _, fl := range m.Flags {
					assert.True(t, validFlags[fl], "%s: flag %s", where, fl)
				}
			}
		}
	}
	share := float64(withAttachments) / float64(total)
	t.Logf("%d messages, %.0f%% with attachments", total, 100*share)
	assert.InDelta(t, 0.35, share, 0.08, "30-40%% of messages carry attachments")
}

func TestThreadsAreRealised(t *testing.T) {
	o := smallOrg(t, 5)
	u := o.Users()[3].Address
	f := o.Folders(u)[0]
	ids := map[string]bool{}
	replies, inFolder := 0, 0
	for uid := uint32(1); uid <= f.Count; uid++ {
		m, err := o.Message(u, f.Name, uid)
		require.NoError(t, err)
		p := parseMessage(t, m)
		if len(p.references) > 0 {
			replies++
		}
		for _, ref := range p.references {
			if ids[ref] {
				inFolder++
				break
			}
		}
		ids[strings.Trim(m.MessageID, "<>")] = true
	}
	assert.Greater(t, replies, int(f.Count)/5, "many replies")
	assert.Positive(t, inFolder, "some replies reference earlier messages of the same folder")
}

func TestFlags(t *testing.T) {
	o := smallOrgMax(t, 2, 8<<10)
	seenOld, oldN, seenRecent, recentN := 0, 0, 0, 0
	end := o.Config().End
	for _, u := range o.Users()[:20] {
		f := o.Folders(u.Address)[0] // INBOX
		for uid := uint32(1); uid <= f.Count; uid++ {
			m, err := o.Message(u.Address, f.Name, uid)
			require.NoError(t, err)
			seen := assert.ObjectsAreEqual(true, hasFlag(m.Flags, `\Seen`))
			if end.Sub(m.InternalDate) < 3*24*time.Hour {
				recentN++
				if seen {
					seenRecent++
				}
			} else if end.Sub(m.InternalDate) > 30*24*time.Hour {
				oldN++
				if seen {
					seenOld++
				}
			}
		}
	}
	require.Positive(t, recentN)
	require.Positive(t, oldN)
	assert.Greater(t, float64(seenOld)/float64(oldN), 0.95, "old mail is mostly seen")
	assert.Less(t, float64(seenRecent)/float64(recentN), 0.8, "recent INBOX mail is partly unseen")
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

func TestDeterminism(t *testing.T) {
	a, b, c := smallOrgMax(t, 42, 32<<10), smallOrgMax(t, 42, 32<<10), smallOrgMax(t, 43, 32<<10)
	u := a.Users()[5].Address
	same, diff := 0, 0
	for _, f := range a.Folders(u) {
		for uid := uint32(1); uid <= f.Count; uid++ {
			ma, err := a.Message(u, f.Name, uid)
			require.NoError(t, err)
			mb, err := b.Message(u, f.Name, uid)
			require.NoError(t, err)
			require.Equal(t, ma.Raw, mb.Raw, "%s %d: same seed, same bytes", f.Name, uid)
			require.Equal(t, ma, mb)
			same++
		}
	}
	// Another seed: another directory, other messages.
	assert.NotEqual(t, a.Users()[5].Address, c.Users()[5].Address)
	cu := c.Users()[5].Address
	for uid := uint32(1); uid <= 20; uid++ {
		ma, err := a.Message(u, "INBOX", uid)
		require.NoError(t, err)
		mc, err := c.Message(cu, "INBOX", uid)
		require.NoError(t, err)
		if !bytes.Equal(ma.Raw, mc.Raw) {
			diff++
		}
	}
	assert.Equal(t, 20, diff)
	t.Logf("%d identical messages", same)
}

// TestConcurrentGeneration generates the same messages from many goroutines
// at once (run with -race) and compares them with a sequential run.
func TestConcurrentGeneration(t *testing.T) {
	newOrg := func() *Org {
		o, err := New(Config{Seed: 9, Users: 20, MessagesPerUser: 60, MaxAttachmentSize: 48 << 10})
		require.NoError(t, err)
		return o
	}
	o := newOrg()
	type ref struct {
		addr, folder string
		uid          uint32
	}
	var refs []ref
	for _, u := range o.Users()[:4] {
		for _, f := range o.Folders(u.Address) {
			for uid := uint32(1); uid <= f.Count && uid <= 10; uid++ {
				refs = append(refs, ref{u.Address, f.Name, uid})
			}
		}
	}
	got := make([][][]byte, 6)
	var wg sync.WaitGroup
	for g := range got {
		got[g] = make([][]byte, len(refs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range refs {
				j := (i + g*len(refs)/len(got)) % len(refs) // each goroutine starts elsewhere
				m, err := o.Message(refs[j].addr, refs[j].folder, refs[j].uid)
				if err != nil {
					t.Error(err)
					return
				}
				got[g][j] = m.Raw
			}
		}()
	}
	wg.Wait()
	fresh := newOrg()
	for i, r := range refs {
		m, err := fresh.Message(r.addr, r.folder, r.uid)
		require.NoError(t, err)
		for g := range got {
			require.Equal(t, m.Raw, got[g][i], "goroutine %d, %v", g, r)
		}
	}
}

func TestRawIsOwnedByCaller(t *testing.T) {
	o := smallOrg(t, 1)
	u := o.Users()[0].Address
	var uid uint32
	for uid = 1; ; uid++ {
		m, err := o.Message(u, "INBOX", uid)
		require.NoError(t, err)
		if len(m.Attachments) > 0 {
			for i := range m.Raw {
				m.Raw[i] = 'x'
			}
			break
		}
	}
	m, err := o.Message(u, "INBOX", uid)
	require.NoError(t, err)
	parseMessage(t, m)
}

// MessageParts' pieces are Message's Raw, and its description is
// Message's, for every message of a few folders (with and without
// attachments, Outlook and plain senders).
func TestMessagePartsAreTheMessage(t *testing.T) {
	o, err := New(Config{Seed: 11, Users: 12, MessagesPerUser: 60, MaxAttachmentSize: 200 << 10})
	require.NoError(t, err)
	withAtts := 0
	for _, u := range o.Users()[:4] {
		for _, f := range o.Folders(u.Address) {
			for uid := uint32(1); uid <= f.Count && uid <= 25; uid++ {
				m, err := o.Message(u.Address, f.Name, uid)
				require.NoError(t, err)
				p, parts, err := o.MessageParts(u.Address, f.Name, uid)
				require.NoError(t, err)
				assert.Nil(t, p.Raw)
				// The text around the attachments, and each attachment's
				// base64 in one piece or more.
				require.GreaterOrEqual(t, len(parts), 1+2*len(m.Attachments))
				assert.Equal(t, string(m.Raw), string(bytes.Join(parts, nil)), "%s %s %d", u.Address, f.Name, uid)
				p.Raw, p.Sections = m.Raw, nil // Sections: checked by TestSections
				assert.Equal(t, m, p)
				if len(m.Attachments) > 0 {
					withAtts++
				}
			}
		}
	}
	assert.Greater(t, withAtts, 10)
	_, _, err = o.MessageParts("nobody@interieur.test", "INBOX", 1)
	assert.Error(t, err)
}

// PrepareParts makes a message's attachments into the cache, so that
// MessageParts then makes none, and waits for none another goroutine is
// making (giving then no message).
func TestPrepareParts(t *testing.T) {
	cfg := Config{Seed: 11, Users: 12, MessagesPerUser: 60, MaxAttachmentSize: 200 << 10}
	ref, err := New(cfg)
	require.NoError(t, err)
	u := ref.Users()[0].Address
	uid, want := firstWithAttachments(t, ref, u)

	o, err := New(cfg)
	require.NoError(t, err)
	// Every document is being made by another goroutine: nothing is made,
	// nothing waited for.
	release, started := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for ty := range docTypes {
		for v := range docVariants {
			wg.Go(func() {
				_, _ = o.docs.Get(docID{ty, v}, func() (*encodedDoc, error) {
					started <- struct{}{}
					<-release
					return nil, errors.New("given up")
				})
			})
			<-started
		}
	}
	done := make(chan error)
	go func() {
		m, parts, err := o.PrepareParts(u, "INBOX", uid)
		if err == nil && (m != nil || parts != nil) {
			err = errors.New("a message given with its documents being made")
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("PrepareParts waits for documents being made")
	}
	assert.Zero(t, o.CacheStats().Rendered)
	close(release)
	wg.Wait()

	_, _, err = o.PrepareParts(u, "INBOX", uid)
	require.NoError(t, err)
	assert.EqualValues(t, len(want.Attachments), o.CacheStats().Rendered)
	_, parts, err := o.MessageParts(u, "INBOX", uid)
	require.NoError(t, err)
	assert.EqualValues(t, len(want.Attachments), o.CacheStats().Rendered, "MessageParts makes nothing more")
	assert.Equal(t, string(want.Raw), string(bytes.Join(parts, nil)))

	// Every document made: PrepareParts gives the message as MessageParts
	// does, for messages with and without attachments.
	for uid := uint32(1); uid <= 20; uid++ {
		want, wantParts, err := o.MessageParts(u, "INBOX", uid)
		require.NoError(t, err)
		m, parts, err := o.PrepareParts(u, "INBOX", uid)
		require.NoError(t, err)
		require.NotNil(t, m, "uid %d", uid)
		assert.Equal(t, wantParts, parts, "uid %d", uid)
		assert.Equal(t, want, m, "uid %d", uid)
	}
	_, _, err = o.PrepareParts("nobody@interieur.test", "INBOX", 1)
	assert.Error(t, err)
}

// tokens.Replace gives what strings.Replacer gives with the same pairs, on
// the corpus' own templates and on random strings of token fragments.
func TestTokensReplaceAsReplacer(t *testing.T) {
	pairs := tokens{"{num}", "2025-0142", "{seq}", "2025-07", "{doc}", "", "{mois}", "juillet 2025",
		"{city}", "Lyon", "{org}", "{org}{num}", "{dept}", "DGPN", "{code}", "C{", "{date}", "3 juillet 2025", "{echeance}", "}"}
	want := strings.NewReplacer(pairs...)
	check := func(s string) {
		t.Helper()
		if got, w := pairs.Replace(s), want.Replace(s); got != w {
			t.Fatalf("Replace(%q) = %q, want %q", s, got, w)
		}
	}
	for _, tp := range topics {
		for _, set := range [][]string{tp.subjects, tp.opens, tp.replies} {
			for _, s := range set {
				check(s)
			}
		}
	}
	frags := []string{"{", "}", "{num", "num}", "{num}", "{n", "{echeance}", "{ech", "{date}", "{dat", "é", "a", " ", "{{", "}}", "{doc}", "{mois}", "{city}{org}", "{seq}", "{dept}", "{code}", "x{"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(frags[r.IntN(len(frags))])
		}
		check(b.String())
	}
	check("")
	if got := (tokens{}).Replace("a{num}b"); got != "a{num}b" {
		t.Fatalf("no tokens: %q", got)
	}
}

// Whenever a message says its Message-ID and Subject are exact
// (HeaderExact), a reader of the header the generator writes finds them
// unchanged: random subjects of spaces, accents, encoded-word markers and
// long words that force folding, checked with the store's own reader.
func TestHeaderExactSubjectsRoundTrip(t *testing.T) {
	frags := []string{"a", "Z", " ", "  ", "é", "è", "€", "ÿ", "=?", "?=", "_", "\t", "=", "?", ":", "(", "\"",
		"Dossier", "n°", "–", "\x7f", "\x01", strings.Repeat("x", 80), strings.Repeat("é", 50), "\xff"}
	r := rand.New(rand.NewPCG(3, 4))
	exact := 0
	for i := range 20000 {
		var b strings.Builder
		for range r.IntN(16) {
			b.WriteString(frags[r.IntN(len(frags))])
		}
		m := &Message{MessageID: fmt.Sprintf("<%012x@interieur.test>", i), Subject: b.String()}
		if !m.HeaderExact() {
			continue
		}
		exact++
		var buf bytes.Buffer
		h := headerWriter{&buf}
		h.field("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
		h.field("Message-ID", m.MessageID)
		buf.WriteString("\r\n")
		id, subject, err := store.HeaderIDs(buf.Bytes())
		require.NoError(t, err)
		require.Equal(t, strings.Trim(m.MessageID, "<>"), id)
		require.Equal(t, m.Subject, subject, "header %q", buf.String())
	}
	assert.Greater(t, exact, 2000, "enough subjects pass the check to test it")
	for _, bad := range []string{" a", "a ", "a  b", "a=?b", "a\tb", "\xff", "a\x01"} {
		assert.False(t, (&Message{MessageID: "<a@b>", Subject: bad}).HeaderExact(), "%q", bad)
	}
	for _, bad := range []string{"", "a@b", "<>", "<a b@c>", "<<a@b>", "<a@b>>"} {
		assert.False(t, (&Message{MessageID: bad, Subject: "a"}).HeaderExact(), "%q", bad)
	}
}

// A message's sections, when given in pieces, are exactly the bodies of
// its attachment parts as a MIME parser finds them in the whole message
// (what IMAP's BODY[2], BODY[3]… give), for every message with
// attachments of several mailboxes.
func TestSections(t *testing.T) {
	o, err := New(Config{Seed: 5, Users: 6, MessagesPerUser: 80, MaxAttachmentSize: 150 << 10})
	require.NoError(t, err)
	checked := 0
	for _, u := range o.Users()[:4] {
		for _, f := range o.Folders(u.Address) {
			for uid := uint32(1); uid <= f.Count; uid++ {
				m, parts, err := o.MessageParts(u.Address, f.Name, uid)
				require.NoError(t, err)
				require.Len(t, m.Sections, len(m.Attachments), "%s %d", u.Address, uid)
				if len(m.Attachments) == 0 {
					continue
				}
				whole := bufio.NewReader(bytes.NewReader(bytes.Join(parts, nil)))
				h, err := textproto.ReadHeader(whole)
				require.NoError(t, err)
				_, params, err := mime.ParseMediaType(h.Get("Content-Type"))
				require.NoError(t, err)
				mr := textproto.NewMultipartReader(whole, params["boundary"])
				// The raw bodies (no transfer decoding) of the top-level parts.
				var raw [][]byte
				for {
					p, err := mr.NextPart()
					if err == io.EOF {
						break
					}
					require.NoError(t, err)
					b, err := io.ReadAll(p)
					require.NoError(t, err)
					raw = append(raw, b)
				}
				for i, sec := range m.Sections {
					require.Equal(t, m.Attachments[i].Part, sec.Part)
					require.True(t, 0 <= sec.From && sec.From <= sec.To && sec.To <= len(parts))
					got := bytes.Join(parts[sec.From:sec.To], nil)
					require.Less(t, sec.Part[0]-1, len(raw))
					require.True(t, bytes.Equal(raw[sec.Part[0]-1], got), "%s %d part %v: %d bytes against %d", u.Address, uid, sec.Part, len(got), len(raw[sec.Part[0]-1]))
					checked++
				}
			}
		}
	}
	require.Greater(t, checked, 40)
	t.Logf("%d sections checked", checked)
}

// firstWithAttachments is the first message of u's INBOX with an
// attachment, as Message makes it.
func firstWithAttachments(t *testing.T, o *Org, u string) (uint32, *Message) {
	t.Helper()
	for uid := uint32(1); uid <= 1000; uid++ {
		m, err := o.Message(u, "INBOX", uid)
		require.NoError(t, err)
		if len(m.Attachments) > 0 {
			return uid, m
		}
	}
	t.Fatalf("%s: no message with an attachment in INBOX", u)
	return 0, nil
}
