package smtpd

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/maildrill/maildrill/mailsim/store"
)

func TestSeparateHeader(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Subject: a\r\n\r\nbody\r\n", ""},
		{"Subject: a\r\n", ""},
		{"", ""},
		{"Subject: a\r\n folded\r\n\r\nx", ""},
		{"Key : spaced\r\n\r\nx", ""},
		{"abc\r\n", "\r\nabc\r\n"},
		{"Subject: a\r\nBad Key: x\r\n\r\nz", "Subject: a\r\n\r\nBad Key: x\r\n\r\nz"},
		{" lead\r\n", "\r\n lead\r\n"},
		{"Subject: a\r\n\r", "Subject: a\r\n\r\n\r"},
		{"Subject: a\nno colon\n", "Subject: a\n\r\nno colon\n"},
		{"Subject: a\r\nK\x01: v\r\n", "Subject: a\r\n\r\nK\x01: v\r\n"},
	} {
		got, ok := separateHeader([]byte(c.in))
		if c.want == "" {
			assert.False(t, ok, "%q", c.in)
			assert.Equal(t, c.in, string(got))
		} else {
			assert.True(t, ok, "%q", c.in)
			assert.Equal(t, c.want, string(got), "%q", c.in)
		}
	}
}

// Whatever arrives, the header of what separateHeader returns can be read
// (the store parses it so), and the only change is one empty line.
func FuzzSeparateHeader(f *testing.F) {
	for _, s := range []string{"abc\r\n", "Subject: a\r\nBad Key: x\r\n", " x\r\n", "A: b\r\n c\r\n\r\nd", "\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, ok := separateHeader(msg)
		if !ok {
			if !bytes.Equal(out, msg) {
				t.Fatalf("changed without saying so: %q -> %q", msg, out)
			}
		} else {
			if len(out) != len(msg)+2 {
				t.Fatalf("%q -> %q: more than an empty line", msg, out)
			}
			inserted := false
			for k := 0; k+2 <= len(out) && !inserted; k++ {
				inserted = string(out[k:k+2]) == "\r\n" && bytes.Equal(out[:k], msg[:k]) && bytes.Equal(out[k+2:], msg[k:])
			}
			if !inserted {
				t.Fatalf("%q -> %q: more than an empty line", msg, out)
			}
		}
		// Received: is what the MX puts before every message.
		raw := append([]byte("Received: from x\r\n"), out...)
		if _, _, err := store.HeaderIDs(raw); err != nil {
			t.Fatalf("%q: header still unreadable: %v", out, err)
		}
	})
}
