// Package acceptloop is the back-off every accept loop of the mail system
// shares (IMAP, SMTP, the PROXY-protocol front): after a failed Accept (out
// of descriptors, a connection aborted in the backlog) wait, doubling from
// Min to Max as net/http's Server.Serve does, and try again, so that a
// listener recovers instead of stopping for good.
package acceptloop

import "time"

// The back-off's bounds (net/http's).
const (
	Min = 5 * time.Millisecond
	Max = time.Second
)

// Backoff is the delay before the next Accept; the zero value is ready.
type Backoff struct{ delay time.Duration }

// Next doubles the delay, from Min up to Max, and returns it.
func (b *Backoff) Next() time.Duration {
	if b.delay == 0 {
		b.delay = Min
	} else {
		b.delay = min(2*b.delay, Max)
	}
	return b.delay
}

// Reset starts over after a successful Accept.
func (b *Backoff) Reset() { b.delay = 0 }

// Sleep waits d, or until done is closed; it reports whether the wait ran
// its course (false: the listener is shutting down).
func Sleep(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
