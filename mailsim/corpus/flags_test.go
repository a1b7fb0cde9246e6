package corpus

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Flags gives exactly the flags and date Message gives, without documents.
func TestFlagsMatchMessage(t *testing.T) {
	o, err := New(Config{Seed: 5, Users: 6, MessagesPerUser: 60, MaxAttachmentSize: 32 << 10})
	require.NoError(t, err)
	n := 0
	for _, u := range o.Users() {
		for _, f := range o.Folders(u.Address) {
			for uid := uint32(1); uid <= f.Count; uid++ {
				m, err := o.Message(u.Address, f.Name, uid)
				require.NoError(t, err)
				flags, date, err := o.Flags(u.Address, f.Name, uid)
				require.NoError(t, err)
				assert.Equal(t, m.Flags, flags, "%s %s %d", u.Address, f.Name, uid)
				assert.True(t, m.InternalDate.Equal(date))
				n++
			}
		}
	}
	require.Greater(t, n, 100)
	_, _, err = o.Flags("nobody@interieur.test", "INBOX", 1)
	assert.Error(t, err)
}

func BenchmarkFlags(b *testing.B) {
	o, err := New(Config{Seed: 1})
	require.NoError(b, err)
	u := o.Users()[3].Address
	n := o.Folders(u)[0].Count
	uid := uint32(0)
	for b.Loop() {
		uid = uid%n + 1
		if _, _, err := o.Flags(u, "INBOX", uid); err != nil {
			b.Fatal(err)
		}
	}
}
