package run

import (
	"encoding/base64"

	"github.com/maildrill/maildrill/internal/b64lines"
)

// decodeB64 decodes a base64 body: in one pass when it is lines of whole
// groups, as MIME encoders write it (internal/b64lines, a quarter faster),
// else by encoding/base64, which skips the line breaks itself. The result
// is a buffer from getDLBuf.
func decodeB64(b []byte) ([]byte, error) {
	out := []byte{}
	if n := base64.StdEncoding.DecodedLen(len(b)); n > 0 {
		out = getDLBuf(n + b64lines.Spare) // decoded into, never read beyond
	}
	if n, ok := b64lines.Decode(out, b); ok {
		return out[:n], nil
	}
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		putDLBuf(out)
		return nil, err
	}
	return out[:n], nil
}
