package imapd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/store"
)

// preparingBase is fakeBase in pieces, telling which messages it is asked
// for in pieces.
type preparingBase struct {
	fakeBase
	asked chan uint32
}

func (b preparingBase) MessageParts(owner, folder string, uid uint32) (store.BaseMessage, [][]byte, error) {
	b.asked <- uid
	bm, err := b.Message(owner, folder, uid)
	raw := bm.Raw
	bm.Raw = nil
	return bm, [][]byte{raw}, err
}

// The preparer prepares the messages after the one being written, at most
// its window of them (3 here), the farthest first, each once, and none a
// FETCH leaves out.
func TestPreparerStaysAhead(t *testing.T) {
	b := preparingBase{fakeBase{counts: map[string]uint32{"INBOX": 6}}, make(chan uint32, 16)}
	st := store.New(b, nil, store.Options{})
	mb, err := st.Mailbox("agent@interieur.test", "INBOX")
	require.NoError(t, err)
	items := mb.Items(func(uint32, uint32) bool { return true })
	require.Len(t, items, 6)
	seqs := []uint32{1, 2, 3, 4, 0, 6} // the fifth left out

	p := startPreparer(items, seqs, 3)
	p.at(0)
	assert.Equal(t, items[3].UID, <-b.asked)
	assert.Equal(t, items[2].UID, <-b.asked)
	assert.Equal(t, items[1].UID, <-b.asked)
	p.at(1) // the fifth is left out
	p.at(2)
	assert.Equal(t, items[5].UID, <-b.asked)
	p.at(5)
	p.stop()
	assert.Empty(t, b.asked, "nothing more")

	// Other downloads' preparers hold every slot: nothing is prepared, and
	// the messages stay to prepare.
	for range cap(prepareSem) {
		prepareSem <- struct{}{}
	}
	p = startPreparer(items, seqs, 3)
	p.at(0)
	// stopped only once it has found no slot, so that a preparer taking
	// no slot would have prepared a message by then
	require.Eventually(t, func() bool { return p.noSlot.Load() > 0 }, 10*time.Second, time.Millisecond)
	p.stop()
	for range cap(prepareSem) {
		<-prepareSem
	}
	assert.Empty(t, b.asked, "no free slot")
	p = startPreparer(items, seqs, 3)
	p.at(2)
	assert.Equal(t, items[5].UID, <-b.asked)
	assert.Equal(t, items[3].UID, <-b.asked)
	p.stop()

	// A FETCH's own window: the farthest of prepareAhead messages first,
	// then on towards the writer.
	b = preparingBase{fakeBase{counts: map[string]uint32{"INBOX": 100}}, make(chan uint32, 100)}
	st = store.New(b, nil, store.Options{})
	mb, err = st.Mailbox("agent@interieur.test", "INBOX")
	require.NoError(t, err)
	items = mb.Items(func(uint32, uint32) bool { return true })
	seqs = make([]uint32, len(items))
	for i := range seqs {
		seqs[i] = uint32(i + 1)
	}
	p = startPreparer(items, seqs, prepareAhead)
	p.at(0)
	for j := prepareAhead; j > 0; j-- {
		assert.Equal(t, items[j].UID, <-b.asked)
	}
	p.stop()
	assert.Empty(t, b.asked, "nothing past the window")

	// No preparer (a FETCH of one message, or of parts): at does nothing.
	var none *preparer
	none.at(3)
}
