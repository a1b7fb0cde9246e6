package run

import (
	"encoding/base64"
)

// decodeB64 decodes a base64 body; the line breaks of MIME bodies are
// ignored by the decoder. The result is a buffer from getDLBuf.
func decodeB64(b []byte) ([]byte, error) {
	out := []byte{}
	if n := base64.StdEncoding.DecodedLen(len(b)); n > 0 {
		out = getDLBuf(n) // decoded into, never read beyond
	}
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		putDLBuf(out)
		return nil, err
	}
	return out[:n], nil
}
