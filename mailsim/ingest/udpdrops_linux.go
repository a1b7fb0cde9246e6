package ingest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// udpInode returns the inode of a UDP socket, by which the kernel's
// /proc/net/udp table names it ("" if it cannot be found).
func udpInode(c *net.UDPConn) string {
	rc, err := c.SyscallConn()
	if err != nil {
		return ""
	}
	var link string
	rc.Control(func(fd uintptr) {
		link, _ = os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	})
	if s, ok := strings.CutPrefix(link, "socket:["); ok {
		return strings.TrimSuffix(s, "]")
	}
	return ""
}

// udpDrops reads how many datagrams the kernel dropped for the socket
// with this inode because its receive buffer was full (the drops column
// of /proc/net/udp and udp6).
func udpDrops(inode string) (int64, bool) {
	if inode == "" {
		return 0, false
	}
	for _, table := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 13 && fields[9] == inode {
				f.Close()
				n, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
				return n, err == nil
			}
		}
		f.Close()
	}
	return 0, false
}
