package dovecot

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// A barrier proves that the log stream has caught up with everything the
// servers did before it: Barrier opens an IMAP connection announcing, in a
// PROXY header, an address of its own (2001:db8:ffff::<n>, documentation
// space that no actor uses), reads the greeting and hangs up. Dovecot logs
// the disconnection with that address; once the line arrives, every line
// Dovecot and Postfix wrote before it has arrived too (one log file, read
// in order). Marker lines are never parsed into events.
//
// The runner calls it before moving a virtual clock forward, so that
// events are stamped with the time of the action that caused them.

const markerPrefix = "rip=2001:db8:ffff::"

type barrierState struct {
	seq      atomic.Uint64
	Count    atomic.Uint64 // barriers passed
	Timeouts atomic.Uint64 // barriers given up on
}

// markerNumber reads n from a log line naming rip=2001:db8:ffff::<n hex>.
func markerNumber(line string) (uint64, bool) {
	i := strings.Index(line, markerPrefix)
	if i < 0 {
		return 0, false
	}
	s := line[i+len(markerPrefix):]
	j := 0
	for j < len(s) && strings.IndexByte("0123456789abcdef", s[j]) >= 0 {
		j++
	}
	n, err := strconv.ParseUint(s[:j], 16, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

// Barrier waits until the container's log has caught up with everything
// done before the call, and until Postfix has logged the delivery of every
// message it queued. It gives up after timeout (it then returns an error,
// and the events that are still on their way keep arriving later).
func (c *Container) Barrier(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n := c.barrier.seq.Add(1)
	if err := c.mark(ctx, n); err != nil {
		c.barrier.Timeouts.Add(1)
		return err
	}
	for wait := 200 * time.Microsecond; ; wait = min(wait*2, 5*time.Millisecond) {
		c.logs.mu.Lock()
		ok := c.logs.marker >= n && c.logs.p.Pending() == 0
		c.logs.mu.Unlock()
		if ok {
			c.barrier.Count.Add(1)
			return nil
		}
		select {
		case <-ctx.Done():
			c.barrier.Timeouts.Add(1)
			return fmt.Errorf("dovecot: log barrier %d: %w", n, ctx.Err())
		case <-c.follow:
			return fmt.Errorf("dovecot: log barrier %d: the log stream ended", n)
		case <-time.After(wait):
		}
	}
}

// BarrierStats tells how many barriers passed and how many timed out.
func (c *Container) BarrierStats() (passed, timedOut uint64) {
	return c.barrier.Count.Load(), c.barrier.Timeouts.Load()
}

func (c *Container) mark(ctx context.Context, n uint64) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.IMAPProxyAddr)
	if err != nil {
		return fmt.Errorf("dovecot: log barrier: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(conn, "PROXY TCP6 2001:db8:ffff::%x 2001:db8:ffff::1 40000 143\r\n", n); err != nil {
		return fmt.Errorf("dovecot: log barrier: %w", err)
	}
	// The greeting: Dovecot has taken the header, the session exists.
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
		return fmt.Errorf("dovecot: log barrier: no greeting: %w", err)
	}
	return nil
}
