package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fullEvent is an event with every field set (strings with quotes,
// control characters and non-ASCII), from r.
func fullEvent(r *rand.Rand) Event {
	var e Event
	v := reflect.ValueOf(&e).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Interface().(type) {
		case time.Time:
			loc := []*time.Location{time.UTC, time.Local, time.FixedZone("", 3600), time.FixedZone("", -5*3600-1800)}[r.IntN(4)]
			f.Set(reflect.ValueOf(time.Unix(1_760_000_000+r.Int64N(1e8), r.Int64N(1e9)).In(loc)))
		case time.Duration:
			f.SetInt(r.Int64N(1e12))
		case string:
			f.SetString(fmt.Sprintf("v%d \"q\" \\ \x01 é ✓ %s", r.Int(), v.Type().Field(i).Name))
		case bool:
			f.SetBool(r.IntN(2) == 0)
		case *bool:
			f.Set(reflect.ValueOf(Bool(r.IntN(2) == 0)))
		case *int:
			f.Set(reflect.ValueOf(Int(r.IntN(1000) - 500)))
		case []string:
			f.Set(reflect.ValueOf([]string{"a.pdf", "b \"c\".docx", strconv.Itoa(r.Int())}))
		case int, int64:
			f.SetInt(r.Int64() >> r.IntN(63))
		case uint32, uint64:
			f.SetUint(r.Uint64() >> (64 - f.Type().Bits() + r.IntN(f.Type().Bits())))
		default:
			panic("fullEvent: no value for field " + v.Type().Field(i).Name)
		}
	}
	return e
}

// sameEvent fails unless got is want: every field, the time as an
// instant and as the JSON and the Field values show it.
func sameEvent(t *testing.T, want, got *Event) {
	t.Helper()
	require.True(t, want.Timestamp.Equal(got.Timestamp), "time %v, got %v", want.Timestamp, got.Timestamp)
	_, wo := want.Timestamp.Zone()
	_, go_ := got.Timestamp.Zone()
	require.Equal(t, wo, go_, "time zone offset")
	w, g := *want, *got
	w.Timestamp, g.Timestamp = time.Time{}, time.Time{}
	require.Equal(t, w, g)
	wj, err := json.Marshal(want)
	require.NoError(t, err)
	gj, err := json.Marshal(got)
	require.NoError(t, err)
	require.Equal(t, string(wj), string(gj))
	for _, name := range []string{"@timestamp", "event.id", "tls.established", "imap.search.hits", "email.attachments.names"} {
		wv, wok := want.Field(name)
		gv, gok := got.Field(name)
		require.Equal(t, wok, gok, name)
		require.Equal(t, wv, gv, name)
	}
}

// Events every subscriber has read, kept for late ones, are frozen, and
// a late subscriber reads them back as they were published.
func TestFrozenEventsReadBackAsPublished(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := NewBus(nil, BusOptions{Retain: -1, RunID: "run-f"})
	sub := b.Subscribe()
	const total = 5*freezeBatch + 17
	var sent []*Event
	for i := 0; i < total; i++ {
		e := fullEvent(r)
		if i%3 == 0 {
			e = Event{Action: IMAPFetch} // sparse events too; the bus stamps the time
		}
		_, err := b.Publish(e)
		require.NoError(t, err)
	}
	for len(sent) < total {
		evs, err := sub.NextBatch(context.Background(), 100)
		require.NoError(t, err)
		sent = append(sent, evs...)
	}
	b.mu.Lock()
	frozen := b.ncold
	b.mu.Unlock()
	require.Equal(t, total/freezeBatch*freezeBatch, frozen, "whole batches of read events frozen")
	require.Nil(t, b.freezeErr.Load())

	late, err := b.SubscribeFrom(1)
	require.NoError(t, err)
	var got []*Event
	for len(got) < total {
		evs, err := late.NextBatch(context.Background(), 70) // batches across the frozen and the unfrozen
		require.NoError(t, err)
		got = append(got, evs...)
	}
	for i := range sent {
		require.Equal(t, uint64(i+1), got[i].Sequence)
		sameEvent(t, sent[i], got[i])
	}
	for i := frozen; i < total; i++ {
		require.Same(t, sent[i], got[i], "an event not frozen is the published struct")
	}
}

// Frozen events keep to the retention bounds: trimmed from the front by
// count, a late subscriber told when it asks for what is gone.
func TestFrozenEventsTrimmed(t *testing.T) {
	b := NewBus(nil, BusOptions{Retain: 3000})
	sub := b.Subscribe()
	const total = 20_000
	for i := 0; i < total; i++ {
		_, err := b.Publish(Event{Action: IMAPFetch, MessageUID: uint32(i + 1)})
		require.NoError(t, err)
		if i%97 == 0 || i == total-1 {
			for {
				evs, err := sub.NextBatch(context.Background(), 0)
				require.NoError(t, err)
				if evs[len(evs)-1].Sequence == uint64(i+1) {
					break
				}
			}
		}
	}
	n, bytes := b.Retained()
	require.LessOrEqual(t, n, 3000+1024)
	require.GreaterOrEqual(t, n, 3000)
	b.mu.Lock()
	require.Greater(t, b.ncold, 2000, "most retained events frozen")
	require.Len(t, b.refs, b.ncold)
	require.LessOrEqual(t, len(b.chunks), int(bytes/freezeChunk)+2, "chunks of dropped events released")
	var sum int64
	for i, sz := range b.sizes {
		sum += int64(sz)
		if i < b.ncold {
			require.Equal(t, int32(b.refs[i].end-b.refs[i].off), sz, "a frozen event counts at its encoded size")
		}
	}
	require.Equal(t, bytes, sum)
	b.mu.Unlock()

	_, err := b.SubscribeFrom(uint64(total - n))
	require.ErrorIs(t, err, ErrNotRetained)
	late, err := b.SubscribeFrom(uint64(total - n + 1))
	require.NoError(t, err)
	for want := uint64(total - n + 1); want <= total; {
		evs, err := late.NextBatch(context.Background(), 500)
		require.NoError(t, err)
		for _, e := range evs {
			require.Equal(t, want, e.Sequence)
			require.Equal(t, uint32(want), e.MessageUID)
			require.Equal(t, strconv.FormatUint(want, 10), e.ID)
			want++
		}
	}
}

// Publishers, subscribers and late subscribers at once (run with -race):
// every subscriber reads every sequence in order, frozen or not.
func TestFreezeConcurrent(t *testing.T) {
	b := NewBus(nil, BusOptions{Retain: 50_000, MaxLag: 2000})
	const writers, each = 4, 5000
	const total = writers * each
	check := func(sub *Subscription, from uint64) error {
		defer sub.Close()
		for want := from; want <= total; {
			evs, err := sub.NextBatch(context.Background(), 300)
			if err != nil {
				return err
			}
			for _, e := range evs {
				if e.Sequence != want || e.ID != strconv.FormatUint(want, 10) || e.Action != IMAPFetch {
					return fmt.Errorf("want sequence %d, got %d (%q, %q)", want, e.Sequence, e.ID, e.Action)
				}
				want++
			}
		}
		return nil
	}
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for s := 0; s < 2; s++ {
		sub := b.Subscribe()
		wg.Go(func() { errs <- check(sub, 1) })
	}
	for w := 0; w < writers; w++ {
		wg.Go(func() {
			for i := 0; i < each; i++ {
				if _, err := b.Publish(Event{Action: IMAPFetch, SessionID: "s" + strconv.Itoa(w)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for l := 0; l < 6; l++ {
		wg.Go(func() {
			time.Sleep(time.Duration(l) * 3 * time.Millisecond)
			sub, err := b.SubscribeFrom(1)
			if err != nil {
				errs <- err
				return
			}
			errs <- check(sub, 1)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	assert.Greater(t, b.ncold, 0)
	require.Nil(t, b.freezeErr.Load())
}

// Frozen events are not memory the garbage collector scans: the heap it
// must scan grows by a small part of what the same events take as
// structs, read by nobody (not frozen).
func TestFrozenEventsNotScanned(t *testing.T) {
	const total = 40_000
	subj := strings.Repeat("s", 60)
	fill := func(b *Bus) {
		for i := 0; i < total; i++ {
			_, err := b.Publish(Event{Action: IMAPFetch, MessageSubj: subj, UserName: "u" + strconv.Itoa(i%50), SessionID: strconv.Itoa(i), Mailbox: "INBOX"})
			require.NoError(t, err)
		}
	}
	scannable := func() uint64 {
		runtime.GC()
		s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	base := scannable()
	held := NewBus(nil, BusOptions{Retain: -1, MaxLag: total + 1})
	idle := held.Subscribe() // reads nothing: every event stays a struct
	fill(held)
	asStructs := scannable() - min(base, scannable())
	_ = idle
	runtime.KeepAlive(held)
	held = nil

	base = scannable()
	frozen := NewBus(nil, BusOptions{Retain: -1, MaxLag: total + 1})
	sub := frozen.Subscribe()
	fill(frozen)
	for n := 0; n < total; {
		evs, err := sub.NextBatch(context.Background(), 0)
		require.NoError(t, err)
		n += len(evs)
	}
	asFrozen := scannable() - min(base, scannable())
	runtime.KeepAlive(frozen)
	t.Logf("scannable heap for %d retained events: %d bytes as structs, %d frozen", total, asStructs, asFrozen)
	require.Greater(t, asStructs, uint64(total*200), "the structs are scanned")
	require.Less(t, asFrozen, asStructs/10)
}

// fetchEvent is what a bulk download publishes for each message.
func fetchEvent() *Event {
	return &Event{Timestamp: time.Now(), ID: "run-1-123456", Sequence: 123456, Action: IMAPFetch, Outcome: "success",
		ServiceType: "imap", ServiceName: "mailsim-imap", SessionID: "imap-42", SourceIP: "127.0.0.1", SourcePort: 40512,
		DestPort: 31143, UserName: "jeanne.martin@interieur.test", MailboxOwner: "jeanne.martin@interieur.test",
		Mailbox: "INBOX", Command: "UID FETCH", FetchItems: "BODY.PEEK[]", MessageID: "<a1b2c3@interieur.test>",
		MessageUID: 1234, MessageSize: 102400, MessageSubj: "Note de service", BytesOut: 102400, RunID: "run-1"}
}

func BenchmarkFreezeEvent(b *testing.B) {
	e := fetchEvent()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = freezeEvent(buf[:0], e)
	}
	b.ReportMetric(float64(len(buf)), "bytes/event")
}

func BenchmarkThawEvent(b *testing.B) {
	enc, err := freezeEvent(nil, fetchEvent())
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := thawEvent(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBusRetaining: a publisher and a subscriber that keeps up, with
// serve's retention (1,000,000 events, DefaultRetainBytes), events
// frozen or not.
func BenchmarkBusRetaining(b *testing.B) {
	for _, frozen := range []bool{true, false} {
		b.Run("frozen="+strconv.FormatBool(frozen), func(b *testing.B) {
			defer func(v bool) { freezeOff = v }(freezeOff)
			freezeOff = !frozen
			bus := NewBus(nil, BusOptions{Retain: 1_000_000})
			sub := bus.Subscribe()
			done := make(chan int)
			go func() {
				n := 0
				for {
					evs, err := sub.NextBatch(context.Background(), 512)
					if err != nil {
						done <- n
						return
					}
					n += len(evs)
				}
			}()
			e := *fetchEvent()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bus.Publish(e); err != nil {
					b.Fatal(err)
				}
			}
			bus.Close()
			<-done
			n, bytes := bus.Retained()
			b.ReportMetric(float64(n), "retained-events")
			b.ReportMetric(float64(bytes)/float64(max(n, 1)), "bytes/retained-event")
		})
	}
}

// FuzzThawEvent: bytes that are not a frozen event are an error, never a
// panic; bytes that decode encode back to an event that decodes the same.
func FuzzThawEvent(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, e := range []Event{{}, *fetchEvent(), fullEvent(r)} {
		b, err := freezeEvent(nil, &e)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := thawEvent(b)
		if err != nil {
			return
		}
		again, err := freezeEvent(nil, e)
		require.NoError(t, err)
		e2, err := thawEvent(again)
		require.NoError(t, err)
		require.True(t, e.Timestamp.Equal(e2.Timestamp))
		e.Timestamp, e2.Timestamp = time.Time{}, time.Time{}
		require.Equal(t, e, e2)
	})
}
