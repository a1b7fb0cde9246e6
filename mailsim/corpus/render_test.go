package corpus

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The sink's base64 lines, size and digest are those of the whole
// document encoded at once, however the document is cut into writes.
func TestDocSinkMatchesWholeEncoding(t *testing.T) {
	r := seedKey(3).rng()
	for _, n := range []int{0, 1, 56, 57, 58, 113, 114, 115, 4095, 4096, 100_000} {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(r.next())
		}
		sum := sha256.Sum256(raw)
		for _, hint := range []int{0, n / 3, n, 2 * n} {
			s := newDocSink(hint)
			for rest := raw; len(rest) > 0; {
				k := min(1+r.intn(300), len(rest))
				_, err := s.Write(rest[:k])
				require.NoError(t, err)
				rest = rest[k:]
			}
			d := s.doc()
			require.Equal(t, string(encodeBase64Lines(raw)), string(d.b64), "n=%d hint=%d", n, hint)
			assert.Equal(t, n, d.size)
			assert.Equal(t, hex.EncodeToString(sum[:]), d.sha256)
			assert.LessOrEqual(t, cap(d.b64)-len(d.b64), len(d.b64)/16+16<<10, "little capacity kept beyond the document")
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
		assert.Equal(t, string(encodeBase64Lines(raw)), string(d.b64), dt.id)
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
