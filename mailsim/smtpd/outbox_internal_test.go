package smtpd

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutboxRawCap(t *testing.T) {
	o := NewOutbox(100)
	raw := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	o.add(OutboxMessage{Subject: "a", Raw: raw(40)})
	o.add(OutboxMessage{Subject: "b", Raw: raw(40)})
	assert.Equal(t, int64(80), o.RawBytes())
	o.add(OutboxMessage{Subject: "c", Raw: raw(40)}) // evicts a's bytes
	assert.Equal(t, int64(80), o.RawBytes())
	o.add(OutboxMessage{Subject: "huge", Raw: raw(500)}) // never kept
	assert.Equal(t, int64(80), o.RawBytes())

	list := o.List()
	require.Len(t, list, 4)
	for i, want := range []struct {
		subject string
		dropped bool
	}{{"a", true}, {"b", false}, {"c", false}, {"huge", true}} {
		assert.Equal(t, uint64(i+1), list[i].ID)
		assert.Equal(t, want.subject, list[i].Subject)
		assert.Equal(t, want.dropped, list[i].RawDropped, want.subject)
		assert.Equal(t, want.dropped, list[i].Raw == nil, want.subject)
	}
	assert.Equal(t, 4, o.Len())
	assert.Len(t, o.Since(2), 2)
	_, ok := o.Get(5)
	assert.False(t, ok)

	assert.Nil(t, list[1].Metadata().Raw)
	assert.NotNil(t, list[1].Raw, "Metadata must not modify the original")

	none := NewOutbox(0)
	none.add(OutboxMessage{Raw: raw(1)})
	assert.True(t, none.List()[0].RawDropped)
}

func TestOutboxWaitContext(t *testing.T) {
	o := NewOutbox(10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := o.Wait(ctx, 1)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	msgs, err := o.Wait(context.Background(), 0)
	assert.NoError(t, err)
	assert.Empty(t, msgs)
}

func TestSanitize(t *testing.T) {
	assert.Equal(t, "abc", sanitize("a\x00b\r\nc", 10))
	assert.Equal(t, "é", sanitize("éé", 3))
	assert.Equal(t, "\uFFFDx", sanitize("\xffx", 10))
}
