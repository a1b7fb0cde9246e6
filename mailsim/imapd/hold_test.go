package imapd

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writesConn is a client connection that records each write reaching it.
type writesConn struct {
	net.Conn
	writes []string
}

func (c *writesConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

func (c *writesConn) SetWriteDeadline(time.Time) error { return nil }

// A held command's responses reach the client with its tagged completion,
// in one write, whatever go-imap's flushes; a continuation request ends
// the hold as well; without one, each write of go-imap's is flushed (an
// IDLE update reaches the client at once).
func TestRespWriterHold(t *testing.T) {
	client := &writesConn{}
	c := &conn{client: client, cw: newOutBuf(client), closed: make(chan struct{})}
	w := &respWriter{c: c, atResponse: true}
	write := func(s string) {
		_, err := w.Write([]byte(s))
		require.NoError(t, err)
	}

	write("* 1 EXISTS\r\n")
	require.Equal(t, []string{"* 1 EXISTS\r\n"}, client.writes, "not held: flushed at once")
	client.writes = nil

	w.hold.Store(true)
	var want strings.Builder
	for _, s := range []string{"* 1 FETCH (UID 7 BODY[] {5}\r\n", "hel", "lo", ")\r\n", "* 2 FETCH (UID 8 FLAGS (\\Seen))\r\n"} {
		write(s)
		want.WriteString(s)
	}
	assert.Empty(t, client.writes, "held until the completion")
	write("A1 OK FETCH completed\r\n")
	want.WriteString("A1 OK FETCH completed\r\n")
	assert.Equal(t, []string{want.String()}, client.writes, "all of it in one write")
	assert.False(t, w.hold.Load(), "the completion ends the hold")
	client.writes = nil

	write("* 3 EXISTS\r\n")
	assert.Equal(t, []string{"* 3 EXISTS\r\n"}, client.writes, "flushed again once the command is over")
	client.writes = nil

	w.hold.Store(true)
	write("* OK [ALERT] note\r\n")
	assert.Empty(t, client.writes)
	write("+ idling\r\n")
	assert.Equal(t, []string{"* OK [ALERT] note\r\n+ idling\r\n"}, client.writes, "a continuation request ends the hold")
	assert.False(t, w.hold.Load())

	// A response larger than the buffer is written out as it fills.
	client.writes = nil
	w.hold.Store(true)
	big := "* 4 FETCH (BODY[] {100000}\r\n" + strings.Repeat("x", 100000) + ")\r\n"
	write(big)
	assert.NotEmpty(t, client.writes)
	write("A2 OK done\r\n")
	assert.Equal(t, big+"A2 OK done\r\n", strings.Join(client.writes, ""))
	assert.True(t, bytes.HasSuffix([]byte(client.writes[len(client.writes)-1]), []byte("A2 OK done\r\n")))
}
