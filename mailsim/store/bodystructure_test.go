package store

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var defaultLimits = mimeLimits{depth: DefaultMaxMIMEDepth, parts: DefaultMaxMIMEParts}

// Within the bounds, the structure is exactly go-imap's.
func TestBodyStructureMatchesGoIMAP(t *testing.T) {
	b := &countingBase{}
	bm, err := b.Message("a@x.test", "INBOX", 3)
	require.NoError(t, err)
	msgs := [][]byte{
		bm.Raw,
		[]byte("Subject: plain\r\n\r\nline 1\r\nline 2\r\n"),
		[]byte("Content-Type: multipart/alternative; boundary=A\r\n\r\n--A\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Language: fr, en\r\n\r\nbonjour\r\n--A\r\nContent-Type: text/html\r\n\r\n<p>bonjour</p>\r\n--A--\r\n"),
		[]byte("Content-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\nFrom: a@b.test\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=I\r\n\r\n--I\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--I\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--I--\r\n\r\n--M--\r\n"),
	}
	for i, raw := range msgs {
		want := imapserver.ExtractBodyStructure(bytes.NewReader(raw))
		defaultCharset(want)
		assert.Equal(t, want, bodyStructure(raw, defaultLimits), "message %d", i)
	}
}

// defaultCharset gives text parts without a charset the US-ASCII that
// mailsim (and Dovecot) state and go-imap leaves out (RFC 2046 §4.1.2).
func defaultCharset(bs imap.BodyStructure) {
	switch p := bs.(type) {
	case *imap.BodyStructureMultiPart:
		for _, c := range p.Children {
			defaultCharset(c)
		}
	case *imap.BodyStructureSinglePart:
		if strings.EqualFold(p.Type, "text") {
			if _, ok := p.Params["charset"]; !ok {
				if p.Params == nil {
					p.Params = map[string]string{}
				}
				p.Params["charset"] = "us-ascii"
			}
		}
		if p.MessageRFC822 != nil {
			defaultCharset(p.MessageRFC822.BodyStructure)
		}
	}
}

func nested(kind string, depth int) []byte {
	var b strings.Builder
	b.WriteString("Subject: deep\r\n")
	for i := 0; i < depth; i++ {
		if kind == "multipart" {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		} else {
			b.WriteString("Content-Type: message/rfc822\r\n\r\nSubject: level\r\n")
		}
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
	if kind == "multipart" {
		for i := depth - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "--b%d--\r\n", i)
		}
	}
	return []byte(b.String())
}

func structureDepth(bs imap.BodyStructure) int {
	switch v := bs.(type) {
	case *imap.BodyStructureMultiPart:
		d := 0
		for _, c := range v.Children {
			d = max(d, structureDepth(c))
		}
		return d + 1
	case *imap.BodyStructureSinglePart:
		if v.MessageRFC822 != nil {
			return structureDepth(v.MessageRFC822.BodyStructure) + 1
		}
	}
	return 1
}

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// A message nested thousands of levels deep is described to the bound, at
// a cost that does not grow with the square of its size: go-imap copied
// every message/rfc822 level (about 1.5 GB allocated for this one) and
// read multipart levels through thousands of nested readers.
func TestBodyStructureNestingBounded(t *testing.T) {
	s := New(&countingBase{}, nil, Options{})
	inbox, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	for _, kind := range []string{"rfc822", "multipart"} {
		raw := nested(kind, 5000)
		uid, err := inbox.Append(raw, nil, time.Time{})
		require.NoError(t, err)
		it, _ := inbox.ItemByUID(uid)
		m, err := it.Load()
		require.NoError(t, err)
		var bs imap.BodyStructure
		n := allocated(func() { bs = m.BodyStructure() })
		assert.LessOrEqual(t, structureDepth(bs), DefaultMaxMIMEDepth+1, kind)
		assert.Less(t, n, uint64(64*len(raw)), "%s: %d bytes allocated for a %d-byte message", kind, n, len(raw))
		assert.Equal(t, DefaultMaxMIMEDepth, m.MaxMIMEDepth())
		m.Attachments()
	}
}

func TestBodyStructurePartsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=P\r\n\r\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "--P\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i)
	}
	b.WriteString("--P--\r\n")
	bs := bodyStructure([]byte(b.String()), mimeLimits{depth: 50, parts: 100})
	mp, ok := bs.(*imap.BodyStructureMultiPart)
	require.True(t, ok)
	require.Len(t, mp.Children, 100, "99 parts and one opaque leaf for the rest")
	last := mp.Children[99].(*imap.BodyStructureSinglePart)
	assert.Equal(t, "application", last.Type)
	assert.Greater(t, last.Size, uint32(4900*8))
}

// The counter counts the same bytes and lines whether written to or
// reading from a reader, across buffer boundaries.
func TestCounterReadFrom(t *testing.T) {
	data := bytes.Repeat([]byte("ligne de texte\r\n"), 10_000) // 160 kB: several buffers
	var w, r counter
	w.Write(data)
	n, err := r.ReadFrom(bytes.NewReader(data))
	require.NoError(t, err)
	assert.EqualValues(t, len(data), n)
	assert.Equal(t, w, r)
	assert.EqualValues(t, 10_000, r.lines)
}
