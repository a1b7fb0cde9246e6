package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// RFC 3501 §4.3: a literal carries no NUL; a part holding NUL bytes is kept
// in base64 (as Dovecot does), the rest of the message byte for byte.
func TestEncodeNULParts(t *testing.T) {
	plain := "From: a@x.test\r\n\r\nno nul here\r\n"
	assert.Equal(t, plain, string(encodeNULParts([]byte(plain), 50)))

	in := "From: a@x.test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\npreamble\r\n--B\r\nContent-Type: text/plain\r\n\r\nclean part\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\nab\x00cd\x00\r\n--B--\r\nepilogue\r\n"
	want := "From: a@x.test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\npreamble\r\n--B\r\nContent-Type: text/plain\r\n\r\nclean part\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nYWIAY2QA\r\n--B--\r\nepilogue\r\n"
	assert.Equal(t, want, string(encodeNULParts([]byte(in), 50)))

	single := "Subject: s\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\x02"
	assert.Equal(t, "Subject: s\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n", string(encodeNULParts([]byte(single), 50)))

	nested := "Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=C\r\n\r\n--C\r\n\r\n\x00\r\n--C--\r\n"
	assert.Equal(t, "Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=C\r\n\r\n--C\r\nContent-Transfer-Encoding: base64\r\n\r\nAA==\r\n--C--\r\n", string(encodeNULParts([]byte(nested), 50)))
}

// Whatever the input (a client's APPEND), the rewrite ends without
// panicking.
func FuzzEncodeNULParts(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\n\x00\r\n--B--\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/x; boundary=\"q\"\r\n\r\n--q\r\n\x00--q--"))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		encodeNULParts(raw, 50)
	})
}
