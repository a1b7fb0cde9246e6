package run

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/textproto"
	"testing"

	"github.com/stretchr/testify/require"
)

// dotWriterBytes is what net/textproto's DotWriter sends for b, Close
// included.
func dotWriterBytes(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	w := textproto.NewWriter(bw).DotWriter()
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return out.Bytes()
}

// appendDotStuffed followed by the CRLF.CRLF that DotWriter's Close sends
// when nothing was written through it is, byte for byte, DotWriter's
// output, for any message ending in LF: leading dots, bare LFs, bare and
// doubled CRs.
func TestAppendDotStuffedIsDotWriter(t *testing.T) {
	cases := []string{
		"\n", "\r\n", ".\r\n", "..\r\n", "a\r\n.\r\n", "a\n.b\n", "\r\r\n", "a\rb\r\n",
		".\r\r\n.\n", "\n\n.\n", "x\r\n\r\n.\r\n..\r\n", "abc\r.def\r\n",
		"Subject: x\r\n\r\nbody\r\n.\r\nmore\r\n",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'.', '\r', '\n', 'a', 'b'}
	for range 3000 {
		n := 1 + rng.IntN(40)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		b[n-1] = '\n'
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		st := appendDotStuffed(nil, []byte(c))
		got := append(st[:len(st)-2:len(st)-2], "\r\n.\r\n"...)
		require.Equal(t, dotWriterBytes(t, []byte(c)), got, "%q", c)
	}
}
