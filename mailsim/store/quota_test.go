package store

import (
	"time"

	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuotaAccounting(t *testing.T) {
	s := New(&countingBase{}, nil, Options{QuotaBytes: 1000})
	inbox, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	msg := []byte("Subject: q\r\n\r\n" + strings.Repeat("x", 384) + "\r\n") // 400 bytes
	require.Len(t, msg, 400)
	_, err = inbox.Append(msg, nil, time.Time{})
	require.NoError(t, err)
	uid2, err := inbox.Append(msg, nil, time.Time{})
	require.NoError(t, err)
	_, err = inbox.Append(msg, nil, time.Time{})
	require.ErrorIs(t, err, ErrOverQuota)
	used, quota, err := s.Usage("a@x.test")
	require.NoError(t, err)
	assert.Equal(t, [2]int64{800, 1000}, [2]int64{used, quota})

	// Copies are charged to the destination, all or nothing.
	box, err := s.Create("a@x.test", "Box")
	require.NoError(t, err)
	items := inbox.Items(func(seq, uid uint32) bool { return uid > 10 })
	require.Len(t, items, 2)
	out, err := inbox.CopyTo(items, box)
	require.ErrorIs(t, err, ErrOverQuota)
	assert.Empty(t, out)
	assert.Equal(t, uint32(0), box.Count())

	// Removing an added message frees its bytes; copies of corpus
	// messages are added bytes.
	inbox.Remove([]uint32{uid2})
	used, _, _ = s.Usage("a@x.test")
	assert.Equal(t, int64(400), used)
	out, err = inbox.CopyTo(inbox.Items(func(seq, uid uint32) bool { return uid <= 2 }), box)
	require.NoError(t, err)
	require.Len(t, out, 2)
	used, _, _ = s.Usage("a@x.test")
	assert.Greater(t, used, int64(400))
	require.NoError(t, s.Delete("a@x.test", "Box"))
	used, _, _ = s.Usage("a@x.test")
	assert.Equal(t, int64(400), used, "deleting a mailbox frees its bytes")

	// Negative: no quota.
	s = New(&countingBase{}, nil, Options{QuotaBytes: -1})
	inbox, _ = s.Mailbox("a@x.test", "INBOX")
	_, err = inbox.Append([]byte("Subject: big\r\n\r\n"+strings.Repeat("y", 2<<20)), nil, time.Time{})
	require.NoError(t, err)
}
