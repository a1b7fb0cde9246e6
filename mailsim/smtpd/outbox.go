package smtpd

import (
	"context"
	"slices"
	"sync"
	"time"
)

// DefaultOutboxRawBytes is the default cap on raw message bytes an Outbox
// keeps.
const DefaultOutboxRawBytes = 64 << 20

// OutboxMessage is one message sent to the outside world: the mail that
// would have left the organisation.
type OutboxMessage struct {
	// ID numbers captured messages from 1.
	ID uint64 `json:"id"`
	// Time is when the message was accepted, on the scenario clock.
	Time      time.Time `json:"time"`
	SessionID string    `json:"session_id"`
	Service   string    `json:"service"`
	// User is the authenticated sender (empty on MX).
	User     string   `json:"user,omitempty"`
	MailFrom string   `json:"mail_from"`
	RcptTo   []string `json:"rcpt_to"`
	// Size is the message as the client sent it, in bytes.
	Size            int64    `json:"size"`
	Subject         string   `json:"subject,omitempty"`
	MessageID       string   `json:"message_id,omitempty"`
	AttachmentCount int      `json:"attachment_count"`
	Attachments     []string `json:"attachments,omitempty"`
	// Raw is the message with the server's trace headers, unless the
	// outbox cap forced it out (RawDropped). Do not modify it.
	Raw        []byte `json:"raw,omitempty"`
	RawDropped bool   `json:"raw_dropped,omitempty"`
}

// Metadata returns m without its raw bytes, for listings.
func (m OutboxMessage) Metadata() OutboxMessage {
	m.Raw = nil
	return m
}

// Outbox captures outbound mail. Metadata is always kept; raw bytes are kept
// up to a cap, oldest dropped first. It is safe for concurrent use.
type Outbox struct {
	maxRaw int64

	mu      sync.Mutex
	msgs    []OutboxMessage
	rawSize int64
	oldest  int // index of the oldest message that may still hold raw bytes
	changed chan struct{}
}

// NewOutbox returns an outbox keeping at most maxRawBytes of raw messages
// (0 keeps none).
func NewOutbox(maxRawBytes int64) *Outbox {
	if maxRawBytes < 0 {
		maxRawBytes = 0
	}
	return &Outbox{maxRaw: maxRawBytes, changed: make(chan struct{})}
}

func (o *Outbox) add(m OutboxMessage) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m.ID = uint64(len(o.msgs)) + 1
	m.RcptTo = slices.Clone(m.RcptTo)
	m.Attachments = slices.Clone(m.Attachments)
	if int64(len(m.Raw)) > o.maxRaw {
		m.Raw, m.RawDropped = nil, true
	}
	o.msgs = append(o.msgs, m)
	o.rawSize += int64(len(m.Raw))
	for o.rawSize > o.maxRaw && o.oldest < len(o.msgs) {
		old := &o.msgs[o.oldest]
		if old.Raw != nil {
			o.rawSize -= int64(len(old.Raw))
			old.Raw, old.RawDropped = nil, true
		}
		o.oldest++
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

// List returns every captured message, oldest first.
func (o *Outbox) List() []OutboxMessage {
	return o.Since(0)
}

// Since returns the messages with an ID greater than id.
func (o *Outbox) Since(id uint64) []OutboxMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	if id >= uint64(len(o.msgs)) {
		return nil
	}
	return slices.Clone(o.msgs[id:])
}

// Get returns the message with the given ID.
func (o *Outbox) Get(id uint64) (OutboxMessage, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if id == 0 || id > uint64(len(o.msgs)) {
		return OutboxMessage{}, false
	}
	return o.msgs[id-1], true
}

// Len returns the number of captured messages.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}

// RawBytes returns the raw bytes currently kept.
func (o *Outbox) RawBytes() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rawSize
}

// Changed returns a channel closed at the next capture.
func (o *Outbox) Changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

// Wait blocks until at least n messages have been captured, then returns
// them all; or returns ctx's error.
func (o *Outbox) Wait(ctx context.Context, n int) ([]OutboxMessage, error) {
	for {
		o.mu.Lock()
		if len(o.msgs) >= n {
			out := slices.Clone(o.msgs)
			o.mu.Unlock()
			return out, nil
		}
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
