package run

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildMessageGoMessage is buildMessage with every part's body written
// through go-message's encoders: the reference for its output.
func buildMessageGoMessage(from string, to []string, subject, body string, atts []attachment, date time.Time, tag, run string) []byte {
	var buf bytes.Buffer
	mw, err := gomessage.CreateWriter(&buf, messageHeader(from, to, subject, date, tag, run))
	if err != nil {
		return nil
	}
	writeTextPart(mw, body)
	for _, at := range atts {
		aw, err := mw.CreatePart(attachmentHeader(at))
		if err != nil {
			continue
		}
		aw.Write(at.data)
		aw.Close()
	}
	mw.Close()
	return buf.Bytes()
}

// buildMessage writes attachments' base64 itself: byte for byte what
// go-message's writer makes, at every length around the line and block
// boundaries, for several attachments, empty ones and a message/rfc822.
func TestBuildMessageIsGoMessage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	date := time.Date(2025, 12, 11, 23, 40, 0, 0, time.FixedZone("", 3600))
	var sizes []int
	for n := 0; n <= 1200; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 4095, 4096, 4097, 57*1000, 57*1000+1, 3<<20+7)
	for _, n := range sizes {
		atts := []attachment{{name: "a.pdf", mime: "application/pdf", data: data(n)}}
		if n%7 == 0 {
			atts = append(atts, attachment{name: "b.xlsx", data: data(n / 3)},
				attachment{name: "m.eml", mime: "message/rfc822", data: []byte("Subject: x\r\n\r\nhi\r\n")})
		}
		want := buildMessageGoMessage("a@x.test", []string{"b@y.test", "c@z.test"}, "Objet é", "Ci-joint.", atts, date, "0123456789abcdef", "run-1")
		got := buildMessage("a@x.test", []string{"b@y.test", "c@z.test"}, "Objet é", "Ci-joint.", atts, date, "0123456789abcdef", "run-1")
		require.Equal(t, want, got, "attachment of %d bytes", n)
		if n%97 == 0 || n > 4000 {
			// Into a download buffer holding another message's bytes.
			dst := getDLBuf(buildMessageEstimate("Ci-joint.", atts))
			for i := range dst {
				dst[i] = 'Z'
			}
			in := buildMessageIn(dst, "a@x.test", []string{"b@y.test", "c@z.test"}, "Objet é", "Ci-joint.", atts, date, "0123456789abcdef", "run-1")
			require.Equal(t, want, in, "attachment of %d bytes, into a used buffer", n)
			assert.Same(t, &dst[:1][0], &in[:1][0], "written in the buffer given")
			putDLBuf(in)
		}
	}
}
