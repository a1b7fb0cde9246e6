package imapd

import (
	"net"
	"syscall"
	"time"
)

// While a command runs, the shim does not read from the client (it relays
// one command at a time and is suspended until the server reads again),
// so neither a
// client that hangs up nor a timeout would be noticed until the command
// ends — and a command can wait long (an authentication failure delay of
// an hour, a FETCH whose client reads nothing). watchClient, called every
// watchEvery from a timer while the server runs a command (armWatch), tells whether the connection must end
// now, and why:
//   - the client closed or reset its connection (seen without consuming
//     anything: a peek at the socket), so the session ends at once as it
//     would have had the shim been reading;
//   - before authentication, the pre-authentication deadline passed;
//   - after it, a response has been stuck for IdleTimeout (the client
//     reads nothing either).
const (
	watchAfter = 100 * time.Millisecond // quiet commands are not watched
	watchEvery = 200 * time.Millisecond
)

// watchClient returns the close reason, and whether the client can still
// be told BYE (a timeout) or not (it is gone).
func (c *conn) watchClient(now time.Time) (reason string, bye bool) {
	if r := peekGone(c.raw); r != "" {
		return r, false
	}
	dc, ok := c.raw.(*deadlineConn)
	if !ok {
		return "", false
	}
	if !c.info.Authenticated() {
		if !now.Before(dc.start.Add(dc.preAuth)) {
			return reasonTimeoutPreAuth, true
		}
		return "", false
	}
	if dc.writingFor(now) >= dc.idle {
		return reasonTimeoutIdle, true
	}
	return "", false
}

// rawSocket finds the socket under the layers mailsim puts on a connection.
func rawSocket(nc net.Conn) syscall.RawConn {
	for i := 0; i < 8 && nc != nil; i++ {
		switch v := nc.(type) {
		case *deadlineConn:
			nc = v.Conn
		case syscall.Conn:
			rc, err := v.SyscallConn()
			if err != nil {
				return nil
			}
			return rc
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}
