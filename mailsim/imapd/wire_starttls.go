package imapd

import (
	"net"
	"time"

	"github.com/maildrill/maildrill/internal/tlsio"
)

// handleStartTLS intercepts STARTTLS when it applies; otherwise it lets
// imapserver answer (it will refuse).
func (c *conn) handleStartTLS(tag string) error {
	if c.srv.tlsConfig == nil || c.info.TLS() || c.info.Authenticated() {
		c.srv.auditRefusal(c.info, "STARTTLS", "not_available")
		return c.writeClient(tag + " BAD STARTTLS not available\r\n")
	}
	c.addPending(tag, pending{kind: pendingStartTLS, cmd: "STARTTLS"})
	if _, err := c.toServer([]byte(tag + " NOOP\r\n")); err != nil {
		return err
	}
	// Wait until the writer flushed our OK, then handshake.
	select {
	case <-c.tlsGo:
	case <-c.closed:
		return net.ErrClosed
	}

	// Discard plaintext pipelined after STARTTLS (command injection).
	if n := c.cr.Buffered(); n > 0 {
		c.cr.Discard(n)
	}
	tc := tlsio.Server(c.raw, c.srv.tlsConfig)
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	err := tc.Handshake()
	tc.SetDeadline(time.Time{})
	if err == nil {
		c.client = tc
		c.cr.Reset(tc)
		c.info.setTLS(tc.ConnectionState())
		c.srv.auditStartTLS(c.info, nil)
	} else {
		c.srv.auditStartTLS(c.info, err)
	}
	c.tlsDone <- err
	if _, werr := c.waitVerdict(); werr != nil { // the NOOP's, once the writer is done with it
		return werr
	}
	return err
}
