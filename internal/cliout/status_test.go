package cliout

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuf is a bytes.Buffer safe for the status goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStatusNotATerminal: on a pipe, a file or a buffer there is no
// status line at all; Print still prints.
func TestStatusNotATerminal(t *testing.T) {
	var b bytes.Buffer
	s := StartStatus(&b, func() string { return "status" })
	assert.Nil(t, s)
	s.Print(func() { b.WriteString("line\n") })
	s.Stop()
	assert.Equal(t, "line\n", b.String())

	f, err := os.CreateTemp(t.TempDir(), "log")
	require.NoError(t, err)
	defer f.Close()
	assert.Nil(t, StartStatus(f, func() string { return "status" }))
	assert.Nil(t, StartStatus(&Writer{W: f}, func() string { return "status" }), "under a Writer too")
}

// TestStatusDrawsErasesAndStops: the line is drawn by the ticker only
// (Print never draws: redraws are throttled to the interval), erased
// before each Print and at Stop, and cut to the width.
func TestStatusDrawsErasesAndStops(t *testing.T) {
	var b syncBuf
	drawn := make(chan struct{}, 100)
	long := strings.Repeat("x", 200)
	s := startStatus(&b, func() string {
		select {
		case drawn <- struct{}{}:
		default:
		}
		return "▸ " + long
	}, time.Millisecond)
	<-drawn
	<-drawn // at least one full draw is in the buffer
	s.Print(func() { b.Write([]byte("ordinary line\n")) })
	for len(drawn) > 0 {
		<-drawn
	}
	<-drawn // redrawn after the ordinary output
	s.Stop()
	s.Stop() // twice is fine
	out := b.String()
	assert.True(t, strings.HasPrefix(out, "\r▸ xxx"), "%q", out[:20])
	assert.Contains(t, out, "…\x1b[K", "cut to the width")
	assert.NotContains(t, out, strings.Repeat("x", statusWidth), "never wider than the terminal line")
	assert.Contains(t, out, "\r\x1b[Kordinary line\n", "erased before the ordinary output")
	assert.True(t, strings.HasSuffix(out, "\r\x1b[K"), "erased at the end: %q", out[max(0, len(out)-20):])

	// Print alone (no tick yet): no draw.
	var c syncBuf
	s = startStatus(&c, func() string { return "status" }, time.Hour)
	for range 100 {
		s.Print(func() { c.Write([]byte("x")) })
	}
	s.Stop()
	assert.Equal(t, strings.Repeat("x", 100), c.String())
}
