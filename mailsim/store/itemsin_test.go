package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/stretchr/testify/require"
)

// randomSet is a set of the kind a client sends, "*" resolved: ranges in any
// order, overlapping, reversed, past the end, or empty (0 when the mailbox
// is).
func randomSet(r *rand.Rand, top uint32) [][2]uint32 {
	var out [][2]uint32
	for range 1 + r.IntN(4) {
		a := uint32(r.IntN(int(top) + 3))
		b := a
		switch r.IntN(3) {
		case 0:
			b = uint32(r.IntN(int(top) + 3))
		case 1:
			b = a + uint32(r.IntN(5))
		}
		out = append(out, [2]uint32{a, b})
	}
	return out
}

// ItemsIn must give exactly what Items gives with keep "in the set", for
// sequence and UID sets, dense and sparse mailboxes, views up to date and
// views with changes waiting.
func TestItemsInMatchesItems(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := New(&countingBase{}, nil, Options{})
	mb, err := s.Mailbox("a@x.test", "INBOX")
	require.NoError(t, err)
	check := func(v *View, stage string) {
		t.Helper()
		for i := range 300 {
			rs := randomSet(r, mb.UIDNext()+1)
			var seqs imap.SeqSet
			var uids imap.UIDSet
			for _, x := range rs {
				seqs = append(seqs, imap.SeqRange{Start: x[0], Stop: x[1]})
				uids = append(uids, imap.UIDRange{Start: imap.UID(x[0]), Stop: imap.UID(x[1])})
			}
			name := fmt.Sprintf("%s, set %d: %v", stage, i, rs)
			require.Equal(t, v.Items(func(c, _ uint32) bool { return seqs.Contains(c) }), v.ItemsIn(seqs), name+" (sequence numbers)")
			require.Equal(t, v.Items(func(_, u uint32) bool { return uids.Contains(imap.UID(u)) }), v.ItemsIn(uids), name+" (UIDs)")
		}
	}
	fresh := func(stage string) *View {
		v, _ := mb.Open(false)
		check(v, stage)
		return v
	}
	fresh("dense")
	older := fresh("dense, again")
	_, err = mb.StoreFlags([]uint32{2, 5, 6}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, nil)
	require.NoError(t, err)
	_, err = mb.Expunge(nil)
	require.NoError(t, err)
	for i := range 4 {
		_, err := mb.Append(fmt.Appendf(nil, "Subject: %d\r\n\r\nx\r\n", i), nil, time.Time{})
		require.NoError(t, err)
	}
	require.NotEmpty(t, older.queue, "the older view has changes waiting")
	check(older, "changes waiting")
	fresh("sparse")
	_, err = mb.StoreFlags([]uint32{1, 11, 14}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, nil)
	require.NoError(t, err)
	_, err = mb.Expunge(nil)
	require.NoError(t, err)
	fresh("sparse, the first and last gone")
	for _, it := range mb.Items(nil) {
		_, err := mb.StoreFlags([]uint32{it.UID}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, nil)
		require.NoError(t, err)
	}
	_, err = mb.Expunge(nil)
	require.NoError(t, err)
	require.Zero(t, mb.Count())
	fresh("empty")
}

// bigBase is one dense mailbox of n messages (never loaded here).
type bigBase struct{ n uint32 }

func (b bigBase) Folders(owner string) []BaseFolder {
	return []BaseFolder{{Name: "INBOX", Count: b.n, UIDValidity: 1}}
}

func (b bigBase) Message(owner, folder string, uid uint32) (BaseMessage, error) {
	return BaseMessage{Raw: []byte("Subject: x\r\n\r\nx\r\n")}, nil
}

// BenchmarkItemsOne resolves one message (FETCH n, UID FETCH n) in
// mailboxes of 1,000 and 100,000 messages, both ways side by side: "scan"
// is Items with keep, a pass over the mailbox, as FETCH resolved its set
// until ItemsIn; "ranges" is ItemsIn.
//
//	go test ./mailsim/store -run '^$' -bench ItemsOne
func BenchmarkItemsOne(b *testing.B) {
	for _, n := range []uint32{1_000, 100_000} {
		s := New(bigBase{n: n}, nil, Options{})
		mb, err := s.Mailbox("a@x.test", "INBOX")
		require.NoError(b, err)
		// Sparse, as a mailbox is once anything was expunged: UIDs by
		// binary search.
		_, err = mb.StoreFlags([]uint32{1}, FlagsAdd, []imap.Flag{imap.FlagDeleted}, nil)
		require.NoError(b, err)
		_, err = mb.Expunge(nil)
		require.NoError(b, err)
		v, _ := mb.Open(true)
		seq := imap.SeqSetNum(n / 2)
		uid := imap.UIDSetNum(imap.UID(n / 3))
		b.Run(fmt.Sprintf("messages=%d/seq/scan", n), func(b *testing.B) {
			for b.Loop() {
				if len(v.Items(func(c, _ uint32) bool { return seq.Contains(c) })) != 1 {
					b.Fatal("not one item")
				}
			}
		})
		b.Run(fmt.Sprintf("messages=%d/seq/ranges", n), func(b *testing.B) {
			for b.Loop() {
				if len(v.ItemsIn(seq)) != 1 {
					b.Fatal("not one item")
				}
			}
		})
		b.Run(fmt.Sprintf("messages=%d/uid/scan", n), func(b *testing.B) {
			for b.Loop() {
				if len(v.Items(func(_, u uint32) bool { return uid.Contains(imap.UID(u)) })) != 1 {
					b.Fatal("not one item")
				}
			}
		})
		b.Run(fmt.Sprintf("messages=%d/uid/ranges", n), func(b *testing.B) {
			for b.Loop() {
				if len(v.ItemsIn(uid)) != 1 {
					b.Fatal("not one item")
				}
			}
		})
	}
}
