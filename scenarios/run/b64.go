package run

import (
	"encoding/base64"

	"github.com/maildrill/maildrill/internal/nozero"
)

// decodeB64 decodes a base64 body; the line breaks of MIME bodies are
// ignored by the decoder.
func decodeB64(b []byte) ([]byte, error) {
	out := []byte{}
	if n := base64.StdEncoding.DecodedLen(len(b)); n > 0 {
		out = nozero.Bytes(n) // decoded into, never read beyond
	}
	n, err := base64.StdEncoding.Decode(out, b)
	return out[:n], err
}
