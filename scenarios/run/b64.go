package run

import "encoding/base64"

// decodeB64 decodes a base64 body; the line breaks of MIME bodies are
// ignored by the decoder.
func decodeB64(b []byte) ([]byte, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	return out[:n], err
}
