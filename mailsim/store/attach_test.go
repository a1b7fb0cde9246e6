package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	gomessage "github.com/emersion/go-message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/internal/b64lines"
)

// streamAttachments describes attachments as the store did before base64
// parts were decoded a chunk at a time: every part walked by gomessage's
// MultipartReader and decoded by its readers. findAttachments must agree
// with it.
func streamAttachments(raw []byte, lim mimeLimits) []Attachment {
	return streamAttachmentsFrom(bytes.NewReader(raw), lim)
}

// streamAttachmentsFrom is streamAttachments reading the message from r.
func streamAttachmentsFrom(r io.Reader, lim mimeLimits) []Attachment {
	e, _ := gomessage.Read(r)
	if e == nil {
		return nil
	}
	var out []Attachment
	parts := lim.parts
	streamWalk(e, nil, &out, 0, min(lim.depth, 20), &parts)
	return out
}

func streamWalk(e *gomessage.Entity, p []int, out *[]Attachment, depth, maxDepth int, parts *int) {
	*parts--
	if depth > maxDepth || *parts < 0 {
		return
	}
	if mr := e.MultipartReader(); mr != nil {
		for i := 1; ; i++ {
			part, err := mr.NextPart()
			if err != nil || *parts <= 0 {
				return
			}
			streamWalk(part, append(append([]int{}, p...), i), out, depth+1, maxDepth, parts)
		}
	}
	// The leaf is described as the store describes it; only the walk and
	// the decoding differ.
	if a, ok := describeLeaf(e.Header, p, func(h io.Writer) int64 {
		n, _ := io.Copy(h, e.Body)
		return n
	}); ok {
		*out = append(*out, a)
	}
}

// b64Text encodes p in base64 lines of width characters.
func b64Text(p []byte, width int, eol string) string { return b64lines.Lines(p, width, eol) }

// corpusPDF is a document whose base64 text fills several of
// hashBase64's chunks.
func corpusPDF() []byte {
	return bytes.Repeat([]byte("%PDF-1.4 \x00\x01\xfe\xff binary"), 8000)
}

// attachmentCorpus is messages whose attachments are in base64 written
// every way a sender may write it, well or badly, beside parts in other
// encodings and charsets, nested and cut short.
func attachmentCorpus() map[string]string {
	pdf := corpusPDF()
	long := b64Text(pdf, 76, "\r\n") // several of hashBase64's chunks
	at := 100_000 / 78 * 78          // a line's start in the second chunk
	mixed := func(ctype, cte, body string) string {
		return "From: a@b.test\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
			"--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
			"--XX\r\nContent-Type: " + ctype + "\r\nContent-Disposition: attachment; filename=\"f.bin\"\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n" + body + "\r\n--XX--\r\n"
	}
	return map[string]string{
		"pdf":           mixed("application/pdf; name=x.pdf", "base64", b64Text(pdf, 76, "\r\n")),
		"pdf-lf":        strings.ReplaceAll(mixed("application/pdf", "base64", b64Text(pdf, 76, "\n")), "\r\n", "\n"),
		"pdf-width-64":  mixed("application/pdf", "base64", b64Text(pdf, 64, "\r\n")),
		"pdf-width-odd": mixed("application/pdf", "base64", b64Text(pdf, 75, "\r\n")),
		"one-line":      mixed("application/pdf", "base64", b64Text(pdf, 1<<20, "\r\n")),
		"one-line-cut":  mixed("application/pdf", "base64", b64Text(pdf[:100_001], 1<<20, "\r\n")),
		"late-foreign":  mixed("application/pdf", "base64", long[:at+5]+"!"+long[at+6:]),
		"late-space":    mixed("application/pdf", "base64", long[:at]+" "+long[at:]),
		"late-padding":  mixed("application/pdf", "base64", long[:at]+"QQ==\r\n"+long[at:]),
		"late-cr":       mixed("application/pdf", "base64", long[:at+8]+"\r"+long[at+8:]),
		"line-of-65536": mixed("application/pdf", "base64", b64Text(pdf[:49152*2], 65536, "\r\n")),
		"upper-cte":     mixed("application/pdf", "BASE64", b64Text(pdf, 76, "\r\n")),
		"spaces":        mixed("application/octet-stream", "base64", strings.ReplaceAll(b64Text(pdf, 76, "\r\n"), "\r\n", " \r\n\t")),
		"broken":        mixed("application/octet-stream", "base64", "QUJD!!!RA==\r\n"),
		"truncated":     mixed("application/octet-stream", "base64", "QUJDR"),
		"unpadded":      mixed("application/octet-stream", "base64", "QUJDRA"),
		"blank-lines":   mixed("application/octet-stream", "base64", "QUJD\r\n\r\nREVG\r\n\r\n"),
		"bare-cr":       mixed("application/octet-stream", "base64", "QUJD\rREVG"),
		"after-padding": mixed("application/octet-stream", "base64", "QQ==QUJD"),
		"padding-lines": mixed("application/octet-stream", "base64", "QQ==\r\nQUJD\r\n"),
		"empty":         mixed("application/octet-stream", "base64", ""),
		"text-utf8":     mixed("text/plain; charset=UTF-8", "base64", b64Text([]byte("héllo wörld"), 76, "\r\n")),
		"text-latin1":   mixed("text/csv; charset=iso-8859-1", "base64", b64Text([]byte("h\xe9llo;w\xf6rld"), 76, "\r\n")),
		"text-unknown":  mixed("text/csv; charset=x-nothing", "base64", b64Text([]byte("a;b"), 76, "\r\n")) + "",
		"qp":            mixed("text/plain", "quoted-printable", "caf=C3=A9 =\r\nend"),
		"7bit":          mixed("application/octet-stream", "7bit", "plain bytes"),
		"unknown-cte":   mixed("application/octet-stream", "x-uuencode", "begin 644 x"),
		"single-part":   "Subject: s\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Text(pdf, 76, "\r\n") + "\r\n",
		"nested": "Subject: s\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n" +
			"--YY\r\nContent-Type: text/plain\r\n\r\nin\r\n--YY\r\nContent-Type: image/png; name=i.png\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Text(pdf[:300], 76, "\r\n") + "\r\n--YY--\r\n" +
			"--XX\r\nContent-Type: application/zip; name=z.zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--XX--\r\n",
		"multipart-b64": "Subject: s\r\nContent-Type: multipart/mixed; boundary=XX\r\nContent-Transfer-Encoding: base64\r\n\r\n--XX\r\nContent-Type: multipart/mixed; boundary=YY\r\nContent-Transfer-Encoding: base64\r\n\r\n--YY\r\nContent-Type: application/pdf; name=p.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--YY--\r\n--XX--\r\n",
		"no-closing":    "Subject: s\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: application/pdf; name=p.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Text(pdf, 76, "\r\n") + "\r\n",
		"bad-header":    "no header here",
		"many-parts":    "Subject: s\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" + strings.Repeat("--XX\r\nContent-Type: application/pdf; name=p.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n", 40) + "--XX--\r\n",
	}
}

// Base64 attachments are decoded in one piece where they can be, and the
// description is the one the decoding readers give, byte for byte, for
// well-formed and malformed parts alike, within tight and default limits.
func TestAttachmentsAsStreamDecoding(t *testing.T) {
	described := 0
	for name, msg := range attachmentCorpus() {
		for _, lim := range []mimeLimits{{depth: DefaultMaxMIMEDepth, parts: DefaultMaxMIMEParts}, {depth: 1, parts: 3}, {depth: 0, parts: 1}} {
			want := streamAttachments([]byte(msg), lim)
			got := findAttachments([]byte(msg), lim)
			require.Equal(t, want, got, "%s, limits %+v", name, lim)
			described += len(got)
		}
	}
	assert.Greater(t, described, 40, "the corpus has attachments to describe")
	// The chunked decoding did run: a well-formed part's hash is that of
	// its bytes.
	pdf := corpusPDF()
	sum := sha256.Sum256(pdf)
	atts := findAttachments([]byte(attachmentCorpus()["pdf"]), mimeLimits{depth: 10, parts: 100})
	require.Len(t, atts, 1)
	assert.Equal(t, hex.EncodeToString(sum[:]), atts[0].SHA256)
	assert.EqualValues(t, len(pdf), atts[0].Size)
}

// Whatever the message, describing its attachments ends without
// panicking, and agrees with the decoding readers wherever their result
// does not depend on how the text was cut into reads: they decode each
// read's text on its own, so that base64 padded before its end (no
// well-formed part) decodes differently with other read sizes. Such
// input is told by reading it one byte at a time as well.
func FuzzFindAttachments(f *testing.F) {
	// Small seeds: a large one makes each minimisation slow.
	for _, name := range []string{"broken", "nested", "multipart-b64", "text-latin1", "after-padding", "blank-lines", "bare-cr", "many-parts"} {
		f.Add([]byte(attachmentCorpus()[name]))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		lim := mimeLimits{depth: 8, parts: 50}
		got := findAttachments(raw, lim)
		want := streamAttachments(raw, lim)
		if !assert.ObjectsAreEqual(want, streamAttachmentsFrom(iotest.OneByteReader(bytes.NewReader(raw)), lim)) {
			return // the readers' own result depends on the reads
		}
		require.Equal(t, want, got)
	})
}
