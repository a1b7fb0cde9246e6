package smtpd

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readMessage returns exactly what was read, across chunk boundaries and
// however the reader splits its reads, and the error that stopped it.
func TestReadMessage(t *testing.T) {
	chunk := 256 << 10
	for _, n := range []int{0, 1, 1000, chunk - 1, chunk, chunk + 1, 3*chunk + 17} {
		want := make([]byte, n)
		rand.New(rand.NewSource(int64(n))).Read(want)
		for name, r := range map[string]io.Reader{
			"whole": bytes.NewReader(want),
			"half":  iotest.HalfReader(bytes.NewReader(want)),
		} {
			got, k, err := readMessage(r)
			require.NoError(t, err, "%d %s", n, name)
			assert.EqualValues(t, n, k)
			assert.True(t, bytes.Equal(want, got), "%d %s", n, name)
		}
		// With room before the message: room+n bytes, the message after
		// the room.
		got, k, err := readMessageRoom(iotest.HalfReader(bytes.NewReader(want)), headRoom)
		require.NoError(t, err, "%d room", n)
		assert.EqualValues(t, n, k)
		require.Len(t, got, headRoom+n)
		assert.True(t, bytes.Equal(want, got[headRoom:]), "%d room", n)
	}
	boom := errors.New("boom")
	got, k, err := readMessage(io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(boom)))
	assert.ErrorIs(t, err, boom)
	assert.EqualValues(t, 3, k)
	assert.Equal(t, "abc", string(got))
}

// A Received: line's client address: an IPv6 one tagged as RFC 5321's
// address literal wants (and Postfix writes), an IPv4 one as it is.
func TestAddressLiteral(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.7":       "203.0.113.7",
		"2001:db8:77::2d86": "IPv6:2001:db8:77::2d86",
		"::1":               "IPv6:::1",
	} {
		if got := addressLiteral(ip); got != want {
			t.Errorf("addressLiteral(%q) = %q, want %q", ip, got, want)
		}
	}
}
