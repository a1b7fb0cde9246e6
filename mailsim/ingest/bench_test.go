package ingest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
)

// BenchmarkIngestTCP measures what one Ingester takes over one TCP
// connection: the captured Dovecot and Postfix lines, over and over, as
// RFC 5424 octet-counted frames, received, taken apart and parsed into
// events (lines/s reported).
func BenchmarkIngestTCP(b *testing.B) {
	lines := captured(b)
	frames := make([]string, len(lines))
	for i, l := range lines {
		m := rfc5424(b, l)
		frames[i] = fmt.Sprintf("%d %s", len(m), m)
	}
	events := 0
	in, err := Start(context.Background(), Config{Syslog: "tcp://127.0.0.1:0", Parser: opts}, func(*audit.Event) { events++ })
	if err != nil {
		b.Fatal(err)
	}
	tcp, _ := in.Addr()
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(c, 64<<10)
	bytes := 0
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		f := frames[i%len(frames)]
		bytes += len(f)
		w.WriteString(f)
	}
	w.Flush()
	c.Close()
	for in.Stats().Lines < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	in.Close()
	el := time.Since(start).Seconds()
	b.SetBytes(int64(bytes / max(b.N, 1)))
	b.ReportMetric(float64(b.N)/el, "lines/s")
	b.ReportMetric(float64(events)/el, "events/s")
}
