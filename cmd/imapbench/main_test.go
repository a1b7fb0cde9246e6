package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/mailsimtest"
)

func TestRun(t *testing.T) {
	ms := mailsimtest.New(t, mailsim.Config{Users: 3, MessagesPerUser: 20, AllowInsecureAuth: true})
	accFile := filepath.Join(t.TempDir(), "accounts.json")
	b, err := json.Marshal(ms.Accounts())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(accFile, b, 0o600))

	// What the first two people's INBOXes hold, by go-imap.
	var people []account.Account
	for _, a := range ms.Accounts() {
		if a.Kind == "person" {
			people = append(people, a)
		}
	}
	var wantMsgs, wantBytes int64
	for _, a := range people[:2] {
		c, err := imapclient.DialInsecure(ms.IMAPAddr, nil)
		require.NoError(t, err)
		require.NoError(t, c.Login(a.Address, a.Password).Wait())
		_, err = c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
		require.NoError(t, err)
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{RFC822Size: true}).Collect()
		require.NoError(t, err)
		for _, m := range msgs {
			wantMsgs++
			wantBytes += m.RFC822Size
		}
		c.Close()
	}

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, r Result)
	}{
		{"rounds", []string{"--conns", "2", "--rounds", "2", "--probe", "--probe-every", "1ms"}, func(t *testing.T, r Result) {
			assert.Equal(t, 2*wantMsgs, r.Messages)
			assert.Equal(t, 2*wantBytes, r.Bytes)
			assert.Equal(t, []string{people[0].Address, people[1].Address}, r.Users)
			require.NotNil(t, r.Probe)
			assert.Zero(t, r.Probe.Errors)
		}},
		{"parts", []string{"--conns", "1", "--rounds", "1", "--parts", "--label", "mailsim"}, func(t *testing.T, r Result) {
			assert.Equal(t, "mailsim", r.Label)
			assert.Positive(t, r.Messages)
			assert.Positive(t, r.Bytes)
			assert.Nil(t, r.Probe)
		}},
		{"duration", []string{"--conns", "1", "--duration", "300ms", "--same-mailbox"}, func(t *testing.T, r Result) {
			assert.Positive(t, r.Bytes)
			assert.InDelta(t, 0.3, r.Seconds, 0.05)
			if runtime.GOOS == "linux" {
				// Client and server are this process: the machine was at
				// least that busy, to /proc/stat's 10 ms ticks.
				assert.Positive(t, r.ClientCPU)
				assert.GreaterOrEqual(t, r.MachineCPU, r.ClientCPU-0.05-1e-9) // 1e-9: both are rounded, in float64
			}
		}},
		{"rate", []string{"--conns", "2", "--duration", "500ms", "--same-mailbox", "--rate", "2"}, func(t *testing.T, r Result) {
			// Unpaced, this download runs at hundreds of MB/s; paced, at
			// 2 MB/s, give or take the 64 KiB read that crosses the line.
			assert.Positive(t, r.Bytes)
			assert.LessOrEqual(t, r.MBPerSecond, 2.0+2*65536/1e6/0.5)
		}},
		{"probe alone", []string{"--conns", "0", "--probe", "--probe-every", "5ms", "--duration", "300ms"}, func(t *testing.T, r Result) {
			assert.Zero(t, r.Bytes)
			require.NotNil(t, r.Probe)
			assert.Greater(t, r.Probe.Count, 10)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"--addr", ms.IMAPAddr, "--accounts", accFile}, tc.args...)
			require.NoError(t, run(context.Background(), args, &out, &errOut), errOut.String())
			var r Result
			require.NoError(t, json.Unmarshal(out.Bytes(), &r), out.String())
			assert.Contains(t, errOut.String(), "MB/s")
			tc.check(t, r)
		})
	}

	t.Run("probe log", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "probe.tsv")
		var out, errOut bytes.Buffer
		before := time.Now()
		args := []string{"--addr", ms.IMAPAddr, "--accounts", accFile, "--conns", "0", "--probe", "--probe-every", "5ms", "--duration", "200ms", "--probe-log", path}
		require.NoError(t, run(context.Background(), args, &out, &errOut), errOut.String())
		var r Result
		require.NoError(t, json.Unmarshal(out.Bytes(), &r), out.String())
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		require.Equal(t, "sent_unix_ns\tround_trip_us", lines[0])
		require.Len(t, lines[1:], r.Probe.Count, "one line per probe")
		var maxUS int64
		for _, l := range lines[1:] {
			f := strings.Split(l, "\t")
			require.Len(t, f, 2, l)
			sent, err := strconv.ParseInt(f[0], 10, 64)
			require.NoError(t, err)
			us, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, sent, before.UnixNano(), "sent during the run")
			assert.LessOrEqual(t, sent, time.Now().UnixNano())
			maxUS = max(maxUS, us)
		}
		assert.InDelta(t, r.Probe.Max*1000, float64(maxUS), 10, "the slowest line is the summary's max")

		err = run(context.Background(), []string{"--addr", ms.IMAPAddr, "--accounts", accFile, "--conns", "0", "--probe", "--duration", "50ms", "--probe-log", filepath.Join(t.TempDir(), "no", "such", "dir")}, &out, &errOut)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--probe-log")
	})

	t.Run("bad rate", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"--addr", ms.IMAPAddr, "--accounts", accFile, "--rate", "-1"}, &out, &errOut)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--rate -1")
	})

	t.Run("bad login", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"--addr", ms.IMAPAddr, "--user", people[0].Address, "--password", "wrong"}, &out, &errOut)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "login "+people[0].Address)
	})
}

func TestFillAndBinary(t *testing.T) {
	ms := mailsimtest.New(t, mailsim.Config{Users: 2, MessagesPerUser: 5, AllowInsecureAuth: true})
	accFile := filepath.Join(t.TempDir(), "accounts.json")
	b, err := json.Marshal(ms.Accounts())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(accFile, b, 0o600))
	base := []string{"--addr", ms.IMAPAddr, "--accounts", accFile, "--mailbox", "Bench"}

	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), append(base, "--fill", "7", "--fill-size", "20000"), &out, &errb), errb.String())
	var fr FillResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &fr))
	assert.Equal(t, 7, fr.Messages)
	assert.InDelta(t, 7*20000, fr.Bytes, 7*200)

	// The same seed gives the same bytes; the attachment decodes to the PDF.
	msg := fillMessage(1, 3, 20000, fr.User, time.Now())
	assert.Equal(t, msg, fillMessage(1, 3, 20000, fr.User, time.Now()))

	// What the server says the decoded attachments weigh.
	c, err := imapclient.DialInsecure(ms.IMAPAddr, nil)
	require.NoError(t, err)
	defer c.Close()
	var pass string
	for _, a := range ms.Accounts() {
		if a.Address == fr.User {
			pass = a.Password
		}
	}
	require.NoError(t, c.Login(fr.User, pass).Wait())
	_, err = c.Select("Bench", &imap.SelectOptions{ReadOnly: true}).Wait()
	require.NoError(t, err)
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}}}).Collect()
	require.NoError(t, err)
	require.Len(t, msgs, 7)
	var want int64
	for _, m := range msgs {
		require.Len(t, m.BinarySectionSize, 1)
		assert.Greater(t, m.BinarySectionSize[0].Size, uint32(14000))
		want += int64(m.BinarySectionSize[0].Size)
	}

	out.Reset()
	require.NoError(t, run(context.Background(), append(base, "--binary", "2", "--rounds", "2", "--conns", "2", "--same-mailbox"), &out, &errb), errb.String())
	var r Result
	require.NoError(t, json.Unmarshal(out.Bytes(), &r))
	assert.Equal(t, int64(4*7), r.Messages)
	assert.Equal(t, 4*want, r.Bytes)

	out.Reset()
	assert.Error(t, run(context.Background(), append(base, "--binary", "x", "--rounds", "1"), &out, &errb))
}
