package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/clock"
)

func TestBusOrderAndStamping(t *testing.T) {
	start := time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC)
	vc := clock.NewVirtual(start)
	b := NewBus(vc, BusOptions{RunID: "run1"})
	sub := b.Subscribe()
	_, err := b.Publish(Event{Action: IMAPLogin})
	require.NoError(t, err)
	require.NoError(t, vc.Advance(time.Minute))
	_, err = b.Publish(Event{Action: IMAPLogout})
	require.NoError(t, err)
	ctx := context.Background()
	e1, err := sub.Next(ctx)
	require.NoError(t, err)
	e2, err := sub.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), e1.Sequence)
	assert.Equal(t, "run1-1", e1.ID)
	assert.Equal(t, "run1", e1.RunID)
	assert.Equal(t, start, e1.Timestamp)
	assert.Equal(t, start.Add(time.Minute), e2.Timestamp)
	b.Close()
	_, err = sub.Next(ctx)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = b.Publish(Event{})
	assert.ErrorIs(t, err, ErrClosed)
}

// Under backpressure publishers wait; nothing is dropped.
func TestBusBackpressureLosesNothing(t *testing.T) {
	b := NewBus(nil, BusOptions{MaxLag: 16})
	sub := b.Subscribe()
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := b.Publish(Event{Action: IMAPFetch})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	got := 0
	var last uint64
	ctx := context.Background()
	for got < writers*each {
		time.Sleep(time.Microsecond) // a slow reader
		evs, err := sub.NextBatch(ctx, 7)
		require.NoError(t, err)
		for _, e := range evs {
			require.Equal(t, last+1, e.Sequence)
			last = e.Sequence
		}
		got += len(evs)
		b.mu.Lock()
		lag := b.last() - sub.cursor
		b.mu.Unlock()
		require.LessOrEqual(t, lag, uint64(16), "publishers must wait for the slow reader")
	}
	wg.Wait()
	assert.Equal(t, writers*each, got)
}

func TestSubscribeFromRetention(t *testing.T) {
	b := NewBus(nil, BusOptions{Retain: 10})
	for i := 0; i < 2000; i++ {
		_, err := b.Publish(Event{Action: SMTPConnect})
		require.NoError(t, err)
	}
	_, err := b.SubscribeFrom(1)
	require.ErrorIs(t, err, ErrNotRetained)
	sub, err := b.SubscribeFrom(1995)
	require.NoError(t, err)
	e, err := sub.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(1995), e.Sequence)

	all := NewBus(nil, BusOptions{Retain: -1})
	for i := 0; i < 3000; i++ {
		all.Publish(Event{})
	}
	sub, err = all.SubscribeFrom(1)
	require.NoError(t, err)
	evs, err := sub.NextBatch(context.Background(), 0)
	require.NoError(t, err)
	assert.Len(t, evs, 3000)
}

func TestFlushAndContext(t *testing.T) {
	b := NewBus(nil, BusOptions{})
	sub := b.Subscribe()
	b.Publish(Event{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.Flush(ctx), context.DeadlineExceeded)
	_, err := sub.Next(context.Background())
	require.NoError(t, err)
	require.NoError(t, b.Flush(context.Background()))

	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	_, err = sub.Next(ctx2)
	require.True(t, errors.Is(err, context.DeadlineExceeded))
	sub.Close()
	// A closed subscription no longer holds publishers back.
	for i := 0; i < 100000; i++ {
		b.Publish(Event{})
	}
}

func TestWriteJSONLines(t *testing.T) {
	b := NewBus(clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.FixedZone("", 3600))), BusOptions{})
	sub := b.Subscribe()
	var buf bytes.Buffer
	done := make(chan error)
	go func() { done <- WriteJSONLines(context.Background(), sub, &buf) }()
	b.Publish(Event{Action: IMAPLogin, Outcome: Success, UserName: "a@interieur.test", AuthCleartext: Bool(false), ServiceType: "imap"})
	b.Publish(Event{Action: SMTPData, AttachmentNames: []string{"a.pdf"}, AttachmentCount: 1})
	b.Close()
	require.NoError(t, <-done)
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	var m map[string]any
	require.NoError(t, json.Unmarshal(lines[0], &m))
	assert.Equal(t, "imap.login", m["event.action"])
	assert.Equal(t, "2025-12-11T23:40:00+01:00", m["@timestamp"])
	assert.Equal(t, false, m["auth.cleartext"])
	assert.Equal(t, "a@interieur.test", m["user.name"])
	_, hasFile := m["file.name"]
	assert.False(t, hasFile, "empty optional fields are omitted")
	var e Event
	require.NoError(t, json.Unmarshal(lines[1], &e))
	assert.Equal(t, []string{"a.pdf"}, e.AttachmentNames)
}

func TestEventField(t *testing.T) {
	e := &Event{Action: IMAPFetch, FileSize: 42, UserName: "u", MailboxShared: Bool(true), TLS: true}
	v, ok := e.Field("event.action")
	assert.True(t, ok)
	assert.Equal(t, "imap.fetch", v)
	v, ok = e.Field("file.size")
	assert.True(t, ok)
	assert.Equal(t, int64(42), v)
	v, ok = e.Field("mailbox.shared")
	assert.True(t, ok)
	assert.Equal(t, true, v)
	_, ok = e.Field("file.name")
	assert.False(t, ok)
	_, ok = e.Field("auth.cleartext")
	assert.False(t, ok)
	_, ok = e.Field("no.such")
	assert.False(t, ok)
}

// failAfter accepts limit bytes, then fails every write like a full disk.
type failAfter struct {
	buf   bytes.Buffer
	limit int
}

func (f *failAfter) Write(p []byte) (int, error) {
	room := f.limit - f.buf.Len()
	if room >= len(p) {
		return f.buf.Write(p)
	}
	if room > 0 {
		f.buf.Write(p[:room])
	}
	return max(room, 0), errors.New("no space left on device")
}

// TestSinkCountsWhatItLost: a sink whose writer fails mid-batch reports
// the error at once, counts only whole lines as written, counts every
// later event as lost, and never holds the publishers back.
func TestSinkCountsWhatItLost(t *testing.T) {
	for _, stop := range []bool{false, true} {
		b := NewBus(clock.NewVirtual(time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC)), BusOptions{MaxLag: 16})
		sub := b.Subscribe()
		w := &failAfter{limit: 1000}
		errs := make(chan error, 10)
		s := &Sink{W: w, StopOnError: stop, OnError: func(err error) { errs <- err }}
		done := make(chan error, 1)
		go func() { done <- s.Run(context.Background(), sub) }()
		const n = 500 // far past MaxLag: publishers must not block on a dead sink
		for i := 0; i < n; i++ {
			_, err := b.Publish(Event{Action: IMAPLogin, UserName: "someone@interieur.test"})
			require.NoError(t, err)
		}
		b.Close()
		err := <-done
		require.ErrorContains(t, err, "no space left")
		require.Len(t, errs, 1, "OnError is called once")
		written, lost, serr := s.Stats()
		require.Equal(t, err, serr)
		lines := bytes.Count(w.buf.Bytes(), []byte("\n"))
		require.Equal(t, uint64(lines), written, "written counts the whole lines in the file")
		require.Greater(t, written, uint64(0))
		if !stop {
			require.Equal(t, uint64(n), written+lost, "every event is written or counted lost")
		} else {
			require.LessOrEqual(t, written+lost, uint64(n))
		}
	}
}

// The events kept for late subscribers are bounded in bytes as well as in
// number; a subscriber that lags still gets every event, in order (the
// publishers wait for it instead).
func TestRetainBytesBound(t *testing.T) {
	const bound = 1 << 20
	b := NewBus(nil, BusOptions{Retain: 1_000_000, RetainBytes: bound, MaxLag: 3000})
	subj := strings.Repeat("s", 200)
	const total = 50_000
	// The largest event published below: its action and the id the bus
	// gives it count too.
	probe := Event{Action: IMAPFetch, MessageSubj: subj, ID: strconv.Itoa(total)}
	one := probe.memSize()
	slow := b.Subscribe()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < total; i++ {
			if _, err := b.Publish(Event{Action: IMAPFetch, MessageSubj: subj}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var next uint64 = 1
	for next <= total {
		evs, err := slow.NextBatch(context.Background(), 100)
		require.NoError(t, err)
		for _, e := range evs {
			require.Equal(t, next, e.Sequence, "no event skipped for a lagging subscriber")
			next++
		}
		n, bytes := b.Retained()
		require.LessOrEqual(t, n, 3000+1024+int(bound/one)+1, "held events bounded by lag and retention")
		require.LessOrEqual(t, bytes, int64(3000+1024)*one+bound)
	}
	require.NoError(t, <-done)
	// Events every subscriber has read are frozen, and take less room
	// than counted when the lagging reader's were trimmed; with it caught
	// up, the retained events fill the bound again.
	for i := 0; i < 5000; i++ {
		_, err := b.Publish(Event{Action: IMAPFetch, MessageSubj: subj})
		require.NoError(t, err)
		if i%50 == 49 {
			_, err := slow.NextBatch(context.Background(), 0)
			require.NoError(t, err)
		}
	}
	n, bytes := b.Retained()
	assert.LessOrEqual(t, bytes, bound+1024*one, "retained: %d events, %d bytes", n, bytes)
	assert.Greater(t, bytes, int64(bound/2))
	_, err := b.SubscribeFrom(1)
	require.ErrorIs(t, err, ErrNotRetained, "a late subscriber is told what it cannot have")
	late, err := b.SubscribeFrom(total + 5000 - 10)
	require.NoError(t, err)
	e, err := late.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(total+5000-10), e.Sequence)
}
