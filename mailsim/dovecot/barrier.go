package dovecot

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// The marker alone is not enough: each connection is served by a process
// of its own, and a client's disconnection is logged when its process
// notices it, which under load can be after a marker connection opened
// later has been logged. So the barrier also waits, per client address,
// until the log holds as many connection ends (IMAP logouts and
// disconnections, Postfix's "disconnect from") as ConnClosed reported
// closed connections from that address before the barrier began: Dovecot's
// stock logging names no client port, so connections are counted by
// address.
//
// The runner calls it before moving a virtual clock forward, so that
// events are stamped with the time of the action that caused them.

const markerPrefix = "rip=2001:db8:ffff::"

type barrierState struct {
	seq      atomic.Uint64
	Count    atomic.Uint64 // barriers passed
	Timeouts atomic.Uint64 // barriers given up on
	Wait     atomic.Int64  // nanoseconds spent in barriers
	mu       sync.Mutex
	closed   map[string]uint64 // client address → connections reported closed
}

// connAddr is a client address as the log names it ("203.0.113.7",
// "2001:db8::7"): src may be an address or address:port.
func connAddr(src string) (string, bool) {
	if ap, err := netip.ParseAddrPort(src); err == nil {
		return ap.Addr().Unmap().String(), true
	}
	if a, err := netip.ParseAddr(src); err == nil {
		return a.Unmap().String(), true
	}
	return "", false
}

// ConnClosed tells the barrier that a client connection announcing src
// (address or address:port, as in its PROXY header) to one of the PROXY
// listeners has been closed: the next barrier also waits until the log
// holds its end. Call it once per connection, after closing it. An
// address that does not parse is ignored.
func (c *Container) ConnClosed(src string) {
	a, ok := connAddr(src)
	if !ok {
		return
	}
	c.barrier.mu.Lock()
	if c.barrier.closed == nil {
		c.barrier.closed = map[string]uint64{}
	}
	c.barrier.closed[a]++
	c.barrier.mu.Unlock()
}

// closedSnapshot is a copy of the closed connections so far.
func (c *Container) closedSnapshot() map[string]uint64 {
	c.barrier.mu.Lock()
	defer c.barrier.mu.Unlock()
	m := make(map[string]uint64, len(c.barrier.closed))
	for a, n := range c.barrier.closed {
		m[a] = n
	}
	return m
}

// unlogged lists the addresses of want whose connection ends the log does
// not hold yet, sorted, as "address (n of m)"; c.logs.mu is held.
func (c *Container) unlogged(want map[string]uint64) []string {
	var out []string
	for a, n := range want {
		if got := c.logs.ended[a]; got < n {
			out = append(out, fmt.Sprintf("%s (%d of %d)", a, got, n))
		}
	}
	slices.Sort(out)
	return out
}

// forgive lowers the closed counts to what the log holds after a barrier
// gave up, so that one end that is never logged does not make every later
// barrier wait its whole timeout.
func (c *Container) forgive(want map[string]uint64) {
	c.logs.mu.Lock()
	ended := make(map[string]uint64, len(want))
	for a := range want {
		ended[a] = c.logs.ended[a]
	}
	c.logs.mu.Unlock()
	c.barrier.mu.Lock()
	defer c.barrier.mu.Unlock()
	for a, n := range want {
		if got := ended[a]; got < n {
			c.barrier.closed[a] -= min(n-got, c.barrier.closed[a])
		}
	}
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
// done before the call: the log holds the end of every connection
// reported by ConnClosed, and Postfix has logged the delivery of every
// message it queued. It gives up after timeout (it then returns an error
// naming what is missing, and the events that are still on their way keep
// arriving later; ends still missing then are not waited for again).
func (c *Container) Barrier(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	defer func() { c.barrier.Wait.Add(int64(time.Since(t0))) }()
	n := c.barrier.seq.Add(1)
	want := c.closedSnapshot()
	if err := c.mark(ctx, n); err != nil {
		c.barrier.Timeouts.Add(1)
		return err
	}
	for wait := 200 * time.Microsecond; ; wait = min(wait*2, 5*time.Millisecond) {
		c.logs.mu.Lock()
		marked, pending, missing := c.logs.marker >= n, c.logs.p.Pending(), c.unlogged(want)
		c.logs.mu.Unlock()
		if marked && pending == 0 && len(missing) == 0 {
			c.barrier.Count.Add(1)
			return nil
		}
		select {
		case <-ctx.Done():
			c.barrier.Timeouts.Add(1)
			var why []string
			if !marked {
				why = append(why, "its marker line not read")
			}
			if pending > 0 {
				why = append(why, fmt.Sprintf("%d queued messages without a delivery line", pending))
			}
			if len(missing) > 0 {
				why = append(why, "connection ends not logged from "+strings.Join(missing, ", "))
				c.forgive(want)
			}
			return fmt.Errorf("dovecot: log barrier %d: %w after %s: %s", n, ctx.Err(), timeout, strings.Join(why, "; "))
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

// BarrierTime is the wall time spent in barriers so far.
func (c *Container) BarrierTime() time.Duration { return time.Duration(c.barrier.Wait.Load()) }

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
