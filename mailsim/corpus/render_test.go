package corpus

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"testing"

	"github.com/go-pdf/fpdf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The sink's base64 lines, size and digest are those of the whole
// document encoded at once, however the document is cut into writes:
// small ones, and large ones (encoded and hashed on two goroutines) that
// start anywhere in a line.
func TestDocSinkMatchesWholeEncoding(t *testing.T) {
	r := seedKey(3).rng()
	big := parallelLines * 57
	for _, n := range []int{0, 1, 56, 57, 58, 113, 114, 115, 4095, 4096, 100_000, big - 1, big, big + 57, 3*big + 7} {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(r.next())
		}
		sum := sha256.Sum256(raw)
		for _, c := range []struct{ hint, maxWrite int }{{0, 300}, {n / 3, 300}, {n / 20, 300}, {n, 300}, {2 * n, 300}, {0, 2 * big}, {n / 3, 2 * big}, {n, 2 * big}} {
			hint := c.hint
			s := newDocSink(hint)
			for rest := raw; len(rest) > 0; {
				k := min(1+r.intn(c.maxWrite), len(rest))
				_, err := s.Write(rest[:k])
				require.NoError(t, err)
				rest = rest[k:]
			}
			d := s.doc()
			require.Equal(t, string(encodeBase64Lines(raw)), string(bytes.Join(d.b64, nil)), "n=%d hint=%d", n, hint)
			assert.Equal(t, n, d.size)
			assert.Equal(t, hex.EncodeToString(sum[:]), d.sha256)
			spare, n64 := 0, 0
			for i, p := range d.b64 {
				spare += cap(p) - len(p)
				n64 += len(p)
				if i < len(d.b64)-1 {
					assert.Zero(t, len(p)%78, "a piece but the last holds whole lines")
					assert.NotZero(t, len(p), "no empty piece")
				}
			}
			assert.Equal(t, n64, d.n64)
			assert.LessOrEqual(t, spare, n64/16+16<<10, "little capacity kept beyond the document")
		}
	}
}

// A document as the cache keeps it (rendered into the sink) is its
// rendering, byte for byte, for one variant of every document type.
func TestDocumentIsItsRendering(t *testing.T) {
	o, err := New(Config{Seed: 5, MaxAttachmentSize: 400 << 10})
	require.NoError(t, err)
	for ti, dt := range docTypes {
		m := o.docMeta(ti, ti%docVariants)
		raw, err := o.renderDoc(&m)
		require.NoError(t, err, dt.id)
		d, err := o.document(&m)
		require.NoError(t, err, dt.id)
		sum := sha256.Sum256(raw)
		assert.Equal(t, string(encodeBase64Lines(raw)), string(bytes.Join(d.b64, nil)), dt.id)
		assert.Equal(t, len(raw), d.size, dt.id)
		assert.Equal(t, hex.EncodeToString(sum[:]), d.sha256, dt.id)
	}
}

func TestAppendXMLEscaped(t *testing.T) {
	for _, s := range []string{"", "plain", "<a href=\"x\">&amp;</a>", "Données fictives — été & « hiver »", "&", "x>", "\"é\""} {
		assert.Equal(t, xmlEscape(s), string(appendXMLEscaped([]byte("pre"), s))[3:], "%q", s)
	}
}

// encodeBase64Lines encodes b as base64 in lines of 76 characters, each
// ended by CRLF, in one piece: the reference for the sink's streaming
// encoding (appendBase64Lines).
func encodeBase64Lines(b []byte) []byte {
	const line = 76
	enc := base64.StdEncoding
	out := make([]byte, encodedLen(len(b)))
	chunk := line / 4 * 3 // 57 input bytes per line
	o := 0
	for len(b) > 0 {
		k := min(chunk, len(b))
		enc.Encode(out[o:], b[:k])
		o += enc.EncodedLen(k)
		out[o], out[o+1] = '\r', '\n'
		o += 2
		b = b[k:]
	}
	return out[:o]
}

// appendBase64Lines (whole lines through encodeLine) writes what
// encoding/base64 writes, for every length and for every byte value at
// every position of a line.
func TestAppendBase64LinesIsStdlib(t *testing.T) {
	r := seedKey(9).rng()
	for n := 0; n <= 3*57+1; n++ {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(r.next())
		}
		require.Equal(t, string(encodeBase64Lines(raw)), string(appendBase64Lines(nil, raw)), "n=%d", n)
	}
	for v := range 256 {
		raw := make([]byte, 57)
		for i := range raw {
			raw[i] = byte(v + i*7)
		}
		require.Equal(t, string(encodeBase64Lines(raw)), string(appendBase64Lines([]byte("x"), raw))[1:], "v=%d", v)
	}
	// Long enough to be encoded on two goroutines, and just short of it.
	for _, n := range []int{parallelLines*57 - 1, parallelLines * 57, parallelLines*57 + 1, 2*parallelLines*57 + 57 + 56} {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(r.next())
		}
		require.Equal(t, string(encodeBase64Lines(raw)), string(appendBase64Lines([]byte("x"), raw))[1:], "n=%d", n)
	}
}

func FuzzAppendBase64Lines(f *testing.F) {
	f.Add([]byte("Données fictives"), []byte{})
	f.Add(make([]byte, 57), []byte("prefix"))
	f.Fuzz(func(t *testing.T, b, prefix []byte) {
		got := appendBase64Lines(append([]byte(nil), prefix...), b)
		if want := append(append([]byte(nil), prefix...), encodeBase64Lines(b)...); string(got) != string(want) {
			t.Fatalf("appendBase64Lines(%q) = %q, want %q", b, got, want)
		}
	})
}

func BenchmarkAppendBase64Lines(b *testing.B) {
	raw := make([]byte, 1<<20)
	r := seedKey(1).rng()
	for i := range raw {
		raw[i] = byte(r.next())
	}
	out := make([]byte, 0, encodedLen(len(raw)))
	b.Run("lines", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			out = appendBase64Lines(out[:0], raw)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			out = out[:encodedLen(len(raw))]
			enc, o := base64.StdEncoding, 0
			for p := raw; len(p) > 0; p = p[min(57, len(p)):] {
				enc.Encode(out[o:], p[:min(57, len(p))])
				o += 78
			}
		}
	})
}

// growOutput finds fpdf's file buffer (a dependency upgrade that moves it
// must be noticed, not silently lose the saving) and does not change the
// file.
func TestPDFGrowOutput(t *testing.T) {
	require.NotNil(t, pdfBufferField, "fpdf.Fpdf has no buffer field holding only a bytes.Buffer")
	o, err := New(Config{Seed: 5, MaxAttachmentSize: 400 << 10})
	require.NoError(t, err)
	m := o.docMeta(docTypeIndex("signalement"), 3)
	c := docTypes[m.typ].content(o, &m)
	var plain, grown bytes.Buffer
	pdf := pdfWithText(&m, c)
	addScanPages(pdf, scanPages(m.key.str("scan"), 200<<10))
	require.NoError(t, pdf.Output(&plain))
	pdf = pdfWithText(&m, c)
	addScanPages(pdf, scanPages(m.key.str("scan"), 200<<10))
	growOutput(pdf, 300<<10)
	require.NoError(t, pdf.Output(&grown))
	assert.Greater(t, plain.Len(), 150<<10)
	assert.Equal(t, sha256.Sum256(plain.Bytes()), sha256.Sum256(grown.Bytes()))
}

// registerJPEG gives fpdf the image RegisterImageOptionsReader makes of
// the same bytes (every field, identity included), for scans of several
// sizes; a dependency upgrade that changes ImageInfoType is noticed.
func TestRegisterJPEGIsFpdfs(t *testing.T) {
	require.NotNil(t, imageInfo, "fpdf.ImageInfoType is not laid out as expected")
	pages := scanPages(seedKey(4).str("scan"), 700<<10)
	pages = append(pages, scanPage(seedKey(5), 64, 64))
	require.GreaterOrEqual(t, len(pages), 3)
	for i, p := range pages {
		name := fmt.Sprintf("p%d", i)
		a := fpdf.New("P", "mm", "A4", "")
		want := a.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "JPG"}, bytes.NewReader(p))
		require.NoError(t, a.Error())
		b := fpdf.New("P", "mm", "A4", "")
		got := registerJPEG(b, name, p)
		require.NoError(t, b.Error())
		require.True(t, reflect.DeepEqual(*want, *got), "page %d (%d bytes)", i, len(p))
		assert.Same(t, &p[0], &reflect.ValueOf(got).Elem().FieldByName("data").Bytes()[0], "the page itself, not a copy")
	}
	assert.Equal(t, 0, jpegHeaderLen([]byte("not a jpeg")))
	assert.Equal(t, 0, jpegHeaderLen(pages[0][:100]), "cut before the scan")
}
