package tlsio

import (
	"crypto/tls"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/certs"
)

// loopback is a connected pair of TCP sockets on loopback; what reaches
// the second is read and discarded.
func loopback(b *testing.B) (net.Conn, net.Conn) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		b.Fatal("accept failed")
	}
	b.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// BenchmarkTLSDownload: 1 MiB written in one Write and read by the other
// end, over crypto/tls as it is and over Conn, on loopback; cpu-ms/MB is
// the process's CPU time (both ends, user and system) per MB.
func BenchmarkTLSDownload(b *testing.B) {
	bundle, err := certs.Generate(b.TempDir(), nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	const total = 1 << 20
	data := make([]byte, total)
	type pairFn func(c, s net.Conn) (w, r net.Conn)
	for _, v := range []struct {
		name string
		mk   pairFn
	}{
		{"crypto-tls", func(c, s net.Conn) (net.Conn, net.Conn) {
			return tls.Server(s, bundle.TLSConfig), tls.Client(c, bundle.ClientConfig("localhost"))
		}},
		{"tlsio", func(c, s net.Conn) (net.Conn, net.Conn) {
			return Server(s, bundle.TLSConfig), Client(c, bundle.ClientConfig("localhost"))
		}},
	} {
		b.Run(v.name, func(b *testing.B) {
			c, s := loopback(b)
			w, r := v.mk(c, s)
			got := make(chan error, 1)
			go func() {
				buf := make([]byte, total)
				for {
					if _, err := io.ReadFull(r, buf); err != nil {
						got <- err
						return
					}
					got <- nil
				}
			}()
			b.SetBytes(total)
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := w.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := <-got; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/1e6/(float64(b.N)*total/1e6), "cpu-ms/MB")
		})
	}
}

// cpuTime is the process's CPU time so far, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
