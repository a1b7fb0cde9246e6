package imapd

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
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

	p := startPreparer(testPrepareSem, items, seqs, 3, false)
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
	for range cap(testPrepareSem) {
		testPrepareSem <- struct{}{}
	}
	p = startPreparer(testPrepareSem, items, seqs, 3, false)
	p.at(0)
	// stopped only once it has found no slot, so that a preparer taking
	// no slot would have prepared a message by then
	require.Eventually(t, func() bool { return p.noSlot.Load() > 0 }, 10*time.Second, time.Millisecond)
	p.stop()
	for range cap(testPrepareSem) {
		<-testPrepareSem
	}
	assert.Empty(t, b.asked, "no free slot")
	p = startPreparer(testPrepareSem, items, seqs, 3, false)
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
	p = startPreparer(testPrepareSem, items, seqs, prepareAhead, false)
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

// wholeBase is preparingBase with its messages' attachments described, so
// that the store gives them whole in pieces.
type wholeBase struct{ preparingBase }

func (b wholeBase) MessageParts(owner, folder string, uid uint32) (store.BaseMessage, [][]byte, error) {
	bm, pieces, err := b.preparingBase.MessageParts(owner, folder, uid)
	bm.Attachments = store.DescribeAttachments(bytes.Join(pieces, nil))
	if bm.Attachments == nil {
		bm.Attachments = []store.Attachment{} // described: none
	}
	return bm, pieces, err
}

// A download of BODY[] alone: the preparer hands each message it prepares
// to the writer, as LoadWhole makes it, and each only once; a message the
// writer has reached is not handed, nor one past prepareHeld bytes.
func TestPreparerHandsMessages(t *testing.T) {
	b := wholeBase{preparingBase{fakeBase{counts: map[string]uint32{"INBOX": 6}}, make(chan uint32, 64)}}
	st := store.New(b, nil, store.Options{})
	mb, err := st.Mailbox("agent@interieur.test", "INBOX")
	require.NoError(t, err)
	items := mb.Items(func(uint32, uint32) bool { return true })
	seqs := []uint32{1, 2, 3, 4, 5, 6}

	p := startPreparer(testPrepareSem, items, seqs, 3, true)
	p.at(0)
	for range 3 {
		<-b.asked
	}
	var want int64
	for j := 1; j <= 3; j++ {
		w, err := items[j].LoadWhole()
		require.NoError(t, err)
		<-b.asked
		want += w.Size
	}
	require.Eventually(t, func() bool { return p.held.Load() == want }, 10*time.Second, time.Millisecond)
	for j := 1; j <= 3; j++ {
		p.at(j)
		got := p.take(j)
		require.NotNil(t, got, "message %d", j)
		w, err := items[j].LoadWhole()
		require.NoError(t, err)
		<-b.asked
		assert.Equal(t, bytes.Join(w.Pieces, nil), bytes.Join(got.Pieces, nil))
		assert.Equal(t, w.MessageID, got.MessageID)
		assert.Equal(t, w.Subject, got.Subject)
		assert.Equal(t, w.Attachments, got.Attachments)
		assert.Nil(t, p.take(j), "taken once")
		if j < 3 {
			// the preparer moves on with the writer
			<-b.asked
		}
	}
	p.stop()
	// what is left: the two after the last message taken
	require.NotNil(t, p.wholes[4].Load())
	require.NotNil(t, p.wholes[5].Load())
	assert.Equal(t, p.wholes[4].Load().Size+p.wholes[5].Load().Size, p.held.Load())

	// Handed after the writer has reached it (the writer loaded it
	// itself), or past the budget: not kept.
	p = startPreparer(testPrepareSem, items, seqs, 3, true)
	w, err := items[4].LoadWhole()
	require.NoError(t, err)
	p.cur.Store(4)
	p.hand(4, w)
	assert.Nil(t, p.wholes[4].Load())
	p.hand(5, w)
	assert.Same(t, w, p.wholes[5].Load())
	big := &store.Whole{Size: prepareHeld}
	p.hand(5, big)
	assert.Same(t, w, p.wholes[5].Load(), "past the budget")
	assert.Equal(t, w.Size, p.held.Load())
	p.stop()

	// Not a download of BODY[] alone: nothing is handed.
	p = startPreparer(testPrepareSem, items, seqs, 3, false)
	p.hand(5, w)
	assert.Nil(t, p.take(5))
	p.stop()
}

// testPrepareSem is the rendering slots of the preparers these tests start.
var testPrepareSem = make(chan struct{}, 2)

// Config.BulkWriters sizes the server's bulk writers (default GOMAXPROCS−1,
// at least 1) and its preparers' rendering slots (one fewer, at least 1).
func TestBulkWriters(t *testing.T) {
	clk := clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC))
	newServer := func(writers int) *Server {
		st := store.New(fakeBase{counts: map[string]uint32{"INBOX": 3}}, clk, store.Options{})
		srv, err := New(Config{Store: st, Directory: fakeDir{}, Bus: audit.NewBus(clk, audit.BusOptions{}), BulkWriters: writers})
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		return srv
	}
	def := newServer(0)
	assert.Equal(t, max(1, runtime.GOMAXPROCS(0)-1), def.bulk.size)
	assert.Equal(t, max(1, def.bulk.size-1), cap(def.prepare))
	assert.Equal(t, 1, cap(newServer(1).prepare), "at least one preparer renders")

	srv := newServer(2)
	assert.Equal(t, 2, srv.bulk.size)
	assert.Equal(t, 1, cap(srv.prepare))
}

// A preparer that has caught up sleeps until the writer has taken half its
// window, and then prepares that half in one go: woken about once per
// half window rather than once per message written; every message is
// still prepared once.
func TestPreparerWakesPerHalfWindow(t *testing.T) {
	const n, window = 64, 8
	b := preparingBase{fakeBase{counts: map[string]uint32{"INBOX": n}}, make(chan uint32, n)}
	st := store.New(b, nil, store.Options{})
	mb, err := st.Mailbox("agent@interieur.test", "INBOX")
	require.NoError(t, err)
	items := mb.Items(func(uint32, uint32) bool { return true })
	require.Len(t, items, n)
	seqs := make([]uint32, n)
	for i := range seqs {
		seqs[i] = uint32(i + 1)
	}
	p := startPreparer(testPrepareSem, items, seqs, window, false)
	for i := range n {
		p.at(i)
		// A writer slower than its preparer, which catches up before
		// each next message.
		time.Sleep(2 * time.Millisecond)
	}
	p.stop()
	asked := map[uint32]int{}
	for len(b.asked) > 0 {
		asked[<-b.asked]++
	}
	for _, it := range items[1:] {
		assert.Equal(t, 1, asked[it.UID], "message %d prepared once", it.UID)
	}
	assert.LessOrEqual(t, p.wakes.Load(), int64(n/(window/2)+2), "woken about once per half window")
	assert.Positive(t, p.wakes.Load())
}
