package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Stats keeps its summary of the messages while nothing changes, and every
// change (a STORE that changes flags, an EXPUNGE, an APPEND, a COPY into the
// mailbox, a MOVE out of it) makes it count again: after each, Stats must
// say what a pass over the messages says.
func TestStatsSummaryFollowsChanges(t *testing.T) {
	b := &flaggingBase{}
	s := New(b, nil, Options{})
	mb, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	sent, err := s.Mailbox("a@x.test", "Sent")
	require.NoError(t, err)

	st, err := mb.Stats(true, false)
	require.NoError(t, err)
	assert.Equal(t, uint32(5), st.Unseen)
	calls := b.flagCalls
	require.Equal(t, 10, calls, "the first summary asks for every message's flags")
	again, err := mb.Stats(true, false)
	require.NoError(t, err)
	assert.Equal(t, st, again)
	assert.Equal(t, calls, b.flagCalls, "an unchanged mailbox is not read again")
	sized, err := mb.Stats(true, true)
	require.NoError(t, err)
	assert.Positive(t, sized.Size, "sizes were not counted yet: counted now")

	r := rand.New(rand.NewPCG(3, 4))
	flags := []imap.Flag{imap.FlagSeen, imap.FlagDeleted, imap.FlagFlagged}
	ops := []string{"store", "store", "expunge", "append", "copy", "move", "none"}
	for i := range 200 {
		op := ops[r.IntN(len(ops))]
		items := mb.Items(nil)
		pick := func() []uint32 {
			var uids []uint32
			for _, it := range items {
				if r.IntN(4) == 0 {
					uids = append(uids, it.UID)
				}
			}
			return uids
		}
		switch op {
		case "store":
			fo := []FlagOp{FlagsAdd, FlagsDel, FlagsSet}[r.IntN(3)]
			_, err = mb.StoreFlags(pick(), fo, []imap.Flag{flags[r.IntN(len(flags))]}, nil)
		case "expunge":
			_, err = mb.Expunge(nil)
		case "append":
			var f []imap.Flag
			if r.IntN(2) == 0 {
				f = []imap.Flag{imap.FlagSeen}
			}
			_, err = mb.Append(fmt.Appendf(nil, "Subject: %d\r\n\r\n%s\r\n", i, make([]byte, r.IntN(100))), f, time.Time{})
		case "copy":
			_, err = sent.CopyTo(sent.Items(nil), mb)
		case "move":
			mb.Remove(pick())
		}
		require.NoError(t, err, op)
		for _, wantSize := range []bool{false, true} {
			got, err := mb.Stats(true, wantSize)
			require.NoError(t, err)
			base := got
			base.Unseen, base.FirstUnseen, base.Deleted, base.Size = 0, 0, 0, 0
			want, err := mb.scanStats(base, wantSize)
			require.NoError(t, err)
			require.Equal(t, want, got, "after op %d (%s), sizes %v", i, op, wantSize)
		}
	}
}

// flaggingBase tells flags without making messages (as the corpus does),
// and counts how often it is asked.
type flaggingBase struct {
	countingBase
	flagCalls int
}

func (b *flaggingBase) Flags(owner, folder string, uid uint32) ([]string, time.Time, error) {
	b.flagCalls++
	m, err := b.countingBase.Message(owner, folder, uid)
	return m.Flags, m.InternalDate, err
}
