//go:build !linux

package ingest

import "net"

func udpInode(*net.UDPConn) string { return "" }

func udpDrops(string) (int64, bool) { return 0, false }
