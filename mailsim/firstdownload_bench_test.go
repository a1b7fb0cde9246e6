package mailsim_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/maildrill/maildrill/mailsim"
)

// BenchmarkFirstDownload measures the first download of mailboxes nobody
// has touched: a fresh mail system (seed 1, 8 users × 400 messages), then
// `UID FETCH 1:* BODY.PEEK[]` of every person's INBOX in turn, over plain
// IMAP on loopback. MB/s counts the message bytes received (10^6 bytes).
// "cold": no attachment cache on disk, every document is rendered on first
// use; "disk-cache": the documents were rendered into Config.CorpusCacheDir
// by an earlier process (as `maildrill run` and `serve` keep them), the
// server itself is fresh.
//
//	go test ./mailsim -run X -bench FirstDownload -benchtime 1x
func BenchmarkFirstDownload(b *testing.B) {
	b.Run("cold", func(b *testing.B) { benchFirstDownload(b, "") })
	b.Run("disk-cache", func(b *testing.B) {
		dir := b.TempDir()
		// Fill the disk cache with every document the INBOXes use.
		srv, err := mailsim.Start(context.Background(), firstDownloadConfig(b, dir))
		if err != nil {
			b.Fatal(err)
		}
		for _, acc := range srv.Accounts() {
			if acc.Kind == "person" {
				downloadInbox(b, srv.IMAPAddr, acc.Address, acc.Password)
			}
		}
		srv.Close()
		b.ResetTimer()
		benchFirstDownload(b, dir)
	})
}

func firstDownloadConfig(b *testing.B, cacheDir string) mailsim.Config {
	return mailsim.Config{Seed: 1, Users: 8, MessagesPerUser: 400, CorpusCacheDir: cacheDir,
		AllowInsecureAuth: true, CertDir: b.TempDir(),
		IMAPSAddr: mailsim.Disabled, SubmissionAddr: mailsim.Disabled, MXAddr: mailsim.Disabled, AdminAddr: mailsim.Disabled}
}

func benchFirstDownload(b *testing.B, cacheDir string) {
	var total int64
	var wall time.Duration
	for b.Loop() {
		b.StopTimer()
		srv, err := mailsim.Start(context.Background(), firstDownloadConfig(b, cacheDir))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		for _, acc := range srv.Accounts() {
			if acc.Kind != "person" {
				continue
			}
			total += downloadInbox(b, srv.IMAPAddr, acc.Address, acc.Password)
		}
		wall += time.Since(t0)
		b.StopTimer()
		srv.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/wall.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(total)/float64(b.N)/1e6, "MB/run")
}

// downloadInbox fetches a whole INBOX and returns the bytes received. It
// reads each message's literal 64 KiB at a time, as a client that reads a
// literal whole does (Python's imaplib reads it with one file.read(size),
// which receives it in socket reads as large as what has arrived), rather
// than the 8 KiB at a time of io.Copy into io.Discard.
func downloadInbox(b *testing.B, addr, user, password string) int64 {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	sec := &imap.FetchItemBodySection{Peek: true}
	cmd := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{sec}})
	var n int64
	buf := make([]byte, 64<<10)
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		for it := m.Next(); it != nil; it = m.Next() {
			if bs, ok := it.(imapclient.FetchItemDataBodySection); ok && bs.Literal != nil {
				for {
					k, err := bs.Literal.Read(buf)
					n += int64(k)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	}
	if err := cmd.Close(); err != nil {
		b.Fatal(err)
	}
	_ = c.Logout().Wait()
	return n
}
