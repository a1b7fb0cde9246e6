package b64lines

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowDecode is the way Decode must agree with: encoding/base64, which
// skips CR and LF.
func slowDecode(enc []byte) ([]byte, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	n, err := base64.StdEncoding.Decode(out, enc)
	return out[:n], err
}

// checkLines checks Decode against slowDecode on enc: the same
// bytes when it decodes, and it never decodes what encoding/base64 refuses.
func checkLines(t *testing.T, enc []byte) bool {
	t.Helper()
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(enc))+Spare)
	n, ok := Decode(dst, enc)
	want, err := slowDecode(enc)
	if !ok {
		return false
	}
	require.NoError(t, err, "decoded what encoding/base64 refuses: %q", enc)
	require.Equal(t, want, dst[:n], "%q", enc)
	return true
}

// MIME base64 as encoders write it (lines of 76, CRLF or LF, any length,
// padded or not) is decoded in one pass, with encoding/base64's bytes; what
// is not lines of whole groups is left to the slow way.
func TestDecodeBase64Lines(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		data := make([]byte, rng.IntN(3000))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		width := 76
		if i%3 == 1 {
			width = 4 * (1 + rng.IntN(30))
		}
		brk := "\r\n"
		if i%2 == 1 {
			brk = "\n"
		}
		text := []byte(Lines(data, width, brk))
		if i%4 == 0 {
			text = append(text, brk...)
		}
		require.True(t, checkLines(t, text), "%q", text)
		dst := make([]byte, len(data)+Spare)
		n, _ := Decode(dst, text)
		require.Equal(t, data, dst[:n])
	}
	for _, s := range []string{"", "\r\n", "QUJD", "QQ==", "QUI=\r\n", "QUJD\r\n\r\nREVG\r\n", "QUJDREVG\nR0g=\n\n"} {
		assert.True(t, checkLines(t, []byte(s)), "%q", s)
	}
	// Not whole groups, padding inside, spaces, foreign bytes: left to
	// the slow way (which decodes some of them, refuses the others).
	for _, s := range []string{"QUJ\r\nD", "QQ==\r\nQUJD", "QUJD REVG", "QUJD\tREVG", "QU*D", "QUJD\r\nRE-G", "QQ=", "=QUJ", "QUJD\rREVG"} {
		assert.False(t, checkLines(t, []byte(s)), "%q", s)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"QUJD\r\nREVG\r\n", "QQ==", "QUJDREVG\nR0g=\n\n", "QUJ\r\nD", "QQ==\r\nQUJD", "QUJD REVG", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, enc []byte) {
		checkLines(t, enc)
	})
}

// BenchmarkDecode decodes a 140 KiB document as MIME writes it (lines of
// 76 and CRLF), in one pass and by encoding/base64 over the same text.
//
//	go test ./internal/b64lines -run X -bench Decode
func BenchmarkDecode(b *testing.B) {
	data := make([]byte, 140<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	text := []byte(Lines(data, 76, "\r\n") + "\r\n")
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(text))+Spare)
	b.Run("b64lines", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			if _, ok := Decode(dst, text); !ok {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("encoding-base64", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			if _, err := base64.StdEncoding.Decode(dst, text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-base64-reader", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			if _, err := io.Copy(io.Discard, base64.NewDecoder(base64.StdEncoding, bytes.NewReader(text))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestLines(t *testing.T) {
	assert.Equal(t, "", Lines(nil, 76, "\r\n"))
	assert.Equal(t, "aGVsbG8g\r\nd29ybGQh", Lines([]byte("hello world!"), 8, "\r\n"))
	assert.Equal(t, "aGVsbG8g\nd29ybGQ=", Lines([]byte("hello world"), 8, "\n"))
}
