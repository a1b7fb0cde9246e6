package imapd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/internal/b64lines"
	"github.com/maildrill/maildrill/mailsim/audit"
)

// b64Text encodes p in base64 lines of 76 characters.
func b64Text(p []byte, eol string) string { return b64lines.Lines(p, 76, eol) }

func binaryCorpus() map[string]string {
	pdf := bytes.Repeat([]byte("%PDF-1.4 \x00\x01\xfe\xff binary"), 500)
	mixed := func(ctype, cte, body string) string {
		return "From: a@b.test\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
			"--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
			"--XX\r\nContent-Type: " + ctype + "\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n" + body + "\r\n--XX--\r\n"
	}
	return map[string]string{
		"pdf":             mixed("application/pdf; name=x.pdf", "base64", b64Text(pdf, "\r\n")),
		"pdf-lf":          strings.ReplaceAll(mixed("application/pdf", "base64", b64Text(pdf, "\n")), "\r\n", "\n"),
		"upper-cte":       mixed("application/pdf", "BASE64", b64Text(pdf, "\r\n")),
		"spaces":          mixed("application/octet-stream", "base64", strings.ReplaceAll(b64Text(pdf, "\r\n"), "\r\n", " \r\n\t")),
		"broken":          mixed("application/octet-stream", "base64", "QUJD!!!RA==\r\n"),
		"truncated":       mixed("application/octet-stream", "base64", "QUJDR"),
		"after-padding":   mixed("application/octet-stream", "base64", "QQ==QUJD"),
		"empty":           mixed("application/octet-stream", "base64", ""),
		"text-utf8":       mixed("text/plain; charset=UTF-8", "base64", b64Text([]byte("héllo wörld"), "\r\n")),
		"text-latin1":     mixed("text/plain; charset=iso-8859-1", "base64", b64Text([]byte("h\xe9llo"), "\r\n")),
		"qp":              mixed("text/plain", "quoted-printable", "caf=C3=A9 =\r\nend"),
		"7bit":            mixed("application/octet-stream", "7bit", "plain bytes"),
		"unknown-cte":     mixed("application/octet-stream", "x-uuencode", "begin 644 x"),
		"single-part":     "Subject: s\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Text(pdf, "\r\n") + "\r\n",
		"nested-rfc822":   mixed("message/rfc822", "7bit", "Subject: inner\r\nContent-Type: multipart/mixed; boundary=YY\r\n\r\n--YY\r\nContent-Type: text/plain\r\n\r\nin\r\n--YY\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64Text(pdf[:300], "\r\n")+"\r\n--YY--\r\n"),
		"digest":          "Subject: d\r\nContent-Type: multipart/digest; boundary=DD\r\n\r\n--DD\r\n\r\nSubject: m1\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--DD--\r\n",
		"multipart-b64":   "Subject: s\r\nContent-Type: multipart/mixed; boundary=XX\r\nContent-Transfer-Encoding: base64\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XX--\r\n",
		"no-closing":      "Subject: s\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n",
		"bad-header":      "no header here",
		"bad-contenttype": "Subject: s\r\nContent-Type: ;;;\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n",
	}
}

var binaryPaths = [][]int{nil, {1}, {2}, {3}, {1, 1}, {2, 1}, {2, 2}, {2, 3}, {1, 2}}

// mapSpans is a span cache for tests.
type mapSpans map[string][2]int

func (m mapSpans) PartSpan(part []int) (int, int, bool) {
	v, ok := m[fmt.Sprint(part)]
	return v[0], v[1], ok
}

func (m mapSpans) SetPartSpan(part []int, off, n int) { m[fmt.Sprint(part)] = [2]int{off, n} }

func TestBinarySectionMatchesGoIMAP(t *testing.T) {
	fast, kept := 0, 0
	for name, msg := range binaryCorpus() {
		sc := mapSpans{}
		for _, p := range binaryPaths {
			for _, partial := range []*imap.SectionPartial{nil, {Offset: 0, Size: 5}, {Offset: 100, Size: 1000}, {Offset: 1 << 30, Size: 4}} {
				item := &imap.FetchItemBinarySection{Part: p, Partial: partial}
				want := imapserver.ExtractBinarySection(strings.NewReader(msg), item)
				// Without a span cache, then with one: the first call
				// records the span, the next decodes from it.
				for _, c := range []spanCache{nil, sc, sc} {
					got, done := binarySection([]byte(msg), c, item)
					// nil and empty are the same on the wire (~{0}).
					require.True(t, bytes.Equal(want, got), "%s part %v partial %v cache %v: go-imap %q, fast %q", name, p, partial, c != nil, want, got)
					done()
				}
				if _, _, ok := fastBinarySection([]byte(msg), nil, p); ok {
					fast++
				}
				wantSize := imapserver.ExtractBinarySectionSize(strings.NewReader(msg), &imap.FetchItemBinarySectionSize{Part: p})
				assert.Equal(t, wantSize, binarySectionSize([]byte(msg), nil, p), "%s part %v size", name, p)
				assert.Equal(t, wantSize, binarySectionSize([]byte(msg), sc, p), "%s part %v size, span kept", name, p)
			}
		}
		kept += len(sc)
	}
	// The fast path is taken (base64 leaves), not only the fallback, and
	// its spans are kept.
	assert.Greater(t, fast, 20)
	assert.Greater(t, kept, 5)
}

// A kept span is used: a message whose span says the part is elsewhere
// is decoded from there, without being parsed again.
func TestBinarySectionUsesKeptSpan(t *testing.T) {
	msg := []byte(binaryCorpus()["pdf"])
	other := []byte("QUJD") // "ABC"
	raw := append(append([]byte{}, msg...), other...)
	sc := mapSpans{}
	sc.SetPartSpan([]int{2}, len(msg), len(other))
	got, done := binarySection(raw, sc, &imap.FetchItemBinarySection{Part: []int{2}})
	defer done()
	assert.Equal(t, "ABC", string(got))
}

func FuzzBinarySection(f *testing.F) {
	for _, msg := range binaryCorpus() {
		f.Add([]byte(msg), uint8(2), uint8(0))
	}
	f.Fuzz(func(t *testing.T, msg []byte, a, b uint8) {
		p := []int{int(a%4) + 1}
		if b%4 != 0 {
			p = append(p, int(b%4))
		}
		item := &imap.FetchItemBinarySection{Part: p}
		want := imapserver.ExtractBinarySection(bytes.NewReader(msg), item)
		sc := mapSpans{}
		for _, c := range []spanCache{nil, sc, sc} {
			got, done := binarySection(msg, c, item)
			if !bytes.Equal(want, got) {
				t.Fatalf("part %v cache %v: go-imap %q, fast %q", p, c != nil, want, got)
			}
			done()
		}
	})
}

func TestJoinLines(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "abc": "abc", "ab\r\ncd\r\n": "abcd", "ab\ncd": "abcd", "\r\n\r\n": "", "a\rb\r\nc": "a\rbc", "\n\nx\r": "x\r",
	} {
		assert.Equal(t, want, string(joinLines([]byte(in))), "%q", in)
	}
}

// BenchmarkBinarySection decodes the PDF part of a 100 KiB message, as
// BINARY.PEEK[2] does, here and with go-imap's ExtractBinarySection.
//
//	go test ./mailsim/imapd -run '^$' -bench BinarySection
func BenchmarkBinarySection(b *testing.B) {
	pdf := make([]byte, 74000)
	for i := range pdf {
		pdf[i] = byte(i*7919 + i>>8)
	}
	msg := []byte(binaryCorpus()["pdf"])
	msg = []byte(strings.Replace(string(msg), b64Text(bytes.Repeat([]byte("%PDF-1.4 \x00\x01\xfe\xff binary"), 500), "\r\n"), b64Text(pdf, "\r\n"), 1))
	item := &imap.FetchItemBinarySection{Part: []int{2}}
	// Without a span cache the part is found anew each time; with one
	// (as a store.Message keeps), only the first time.
	for _, r := range []struct {
		name string
		sc   spanCache
	}{{"mailsim", nil}, {"mailsim-span-kept", mapSpans{}}} {
		sc := r.sc
		b.Run(r.name, func(b *testing.B) {
			b.SetBytes(int64(len(pdf)))
			b.ReportAllocs()
			for b.Loop() {
				out, done := binarySection(msg, sc, item)
				if len(out) != len(pdf) {
					b.Fatal(len(out))
				}
				done()
			}
		})
	}
	b.Run("go-imap", func(b *testing.B) {
		b.SetBytes(int64(len(pdf)))
		b.ReportAllocs()
		for b.Loop() {
			if out := imapserver.ExtractBinarySection(bytes.NewReader(msg), item); len(out) != len(pdf) {
				b.Fatal(len(out))
			}
		}
	})
}

// Several connections download decoded attachments at once (pooled
// buffers and bulk writers shared between sessions): every byte is the
// attachment's own, and every FETCH of a message yields its audit event
// with the attachment's hash and the bytes sent.
func TestBinaryFetchConcurrentAudit(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	c := ts.login(t, "agent@interieur.test")
	require.NoError(t, c.Create("Bench", nil).Wait())
	const n = 12
	pdfs := map[imap.UID][]byte{}
	for i := range n {
		pdf := make([]byte, 5000+i*9000)
		for j := range pdf {
			pdf[j] = byte(j*31 + i*17 + j>>9)
		}
		msg := binaryCorpus()["pdf"]
		msg = strings.Replace(msg, b64Text(bytes.Repeat([]byte("%PDF-1.4 \x00\x01\xfe\xff binary"), 500), "\r\n"), b64Text(pdf, "\r\n"), 1)
		cmd := c.Append("Bench", int64(len(msg)), nil)
		_, err := cmd.Write([]byte(msg))
		require.NoError(t, err)
		require.NoError(t, cmd.Close())
		ad, err := cmd.Wait()
		require.NoError(t, err)
		pdfs[ad.UID] = pdf
	}
	ts.events(t) // drain what came before

	const conns, rounds = 3, 2
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		cc := ts.login(t, "agent@interieur.test")
		_, err := cc.Select("Bench", &imap.SelectOptions{ReadOnly: true}).Wait()
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				msgs, err := cc.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BinarySection: []*imap.FetchItemBinarySection{{Part: []int{2}, Peek: true}}}).Collect()
				if err != nil {
					errs <- err
					return
				}
				if len(msgs) != n {
					errs <- fmt.Errorf("%d messages, want %d", len(msgs), n)
					return
				}
				for _, m := range msgs {
					if len(m.BinarySection) != 1 || !bytes.Equal(m.BinarySection[0].Bytes, pdfs[m.UID]) {
						errs <- fmt.Errorf("UID %d: decoded attachment differs", m.UID)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	perUID := map[uint32]int{}
	for _, e := range actions(ts.events(t), audit.IMAPFetch) {
		if e.FetchItems != "UID BINARY.PEEK[2]" {
			continue
		}
		pdf := pdfs[imap.UID(e.MessageUID)]
		require.NotNil(t, pdf, "UID %d", e.MessageUID)
		sum := sha256.Sum256(pdf)
		assert.Equal(t, hex.EncodeToString(sum[:]), e.FileSHA256)
		assert.Equal(t, int64(len(pdf)), e.BytesOut)
		assert.Equal(t, "Bench", e.Mailbox)
		perUID[e.MessageUID]++
	}
	require.Len(t, perUID, n)
	for uid, k := range perUID {
		assert.Equal(t, conns*rounds, k, "UID %d", uid)
	}
}
