package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPartSpans(t *testing.T) {
	raw := []byte("Subject: s\r\n\r\n" + fmt.Sprintf("%0100d", 0))
	m, err := parseMessage(raw, time.Unix(1000, 0), nil, mimeLimits{depth: DefaultMaxMIMEDepth, parts: DefaultMaxMIMEParts})
	require.NoError(t, err)
	_, _, ok := m.PartSpan([]int{2})
	assert.False(t, ok, "nothing recorded")

	m.SetPartSpan([]int{2}, 14, 100)
	m.SetPartSpan([]int{2}, 0, 1)    // recorded once: the first stays
	m.SetPartSpan([]int{3}, 100, 15) // past Raw's end: ignored
	m.SetPartSpan([]int{4}, -1, 2)
	off, n, ok := m.PartSpan([]int{2})
	assert.True(t, ok)
	assert.Equal(t, []int{14, 100}, []int{off, n})
	for _, p := range [][]int{{3}, {4}, {1}, {2, 1}, nil} {
		_, _, ok := m.PartSpan(p)
		assert.False(t, ok, "%v", p)
	}

	// The caller's path may change afterwards.
	p := []int{5, 1}
	m.SetPartSpan(p, 1, 1)
	p[0] = 6
	_, _, ok = m.PartSpan([]int{5, 1})
	assert.True(t, ok)

	// Bounded.
	for i := range 2 * maxPartSpans {
		m.SetPartSpan([]int{10 + i}, i, 1)
	}
	assert.Len(t, *m.spans.Load(), maxPartSpans)

	// A copy with other flags has the same Raw, and the same spans.
	c := m.withFlags([]imap.Flag{imap.FlagSeen})
	off, n, ok = c.PartSpan([]int{2})
	assert.True(t, ok)
	assert.Equal(t, []int{14, 100}, []int{off, n})
}
