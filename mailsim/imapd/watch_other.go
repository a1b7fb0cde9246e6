//go:build !unix

package imapd

import "net"

// peekGone cannot look at the socket here; a hang-up is seen when the
// command ends.
func peekGone(net.Conn) string { return "" }
