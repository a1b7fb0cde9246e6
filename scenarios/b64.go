package scenarios

import (
	"bytes"
	"encoding/base64"
)

// decodeB64 decodes a base64 body with line breaks.
func decodeB64(b []byte) ([]byte, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, b)
	return base64.StdEncoding.DecodeString(string(clean))
}
