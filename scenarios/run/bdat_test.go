package run

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/smtpd"
	"github.com/maildrill/maildrill/mailsim/target"
	"github.com/maildrill/maildrill/scenarios"
)

// sendBDAT sends the command and the chunk as announced and reads the
// reply as go-smtp's client does: nothing on 250, an *smtp.SMTPError with
// its enhanced code otherwise; a server that hangs up is an error.
func TestSendBDATReplies(t *testing.T) {
	for _, c := range []struct {
		reply   string
		wantErr *smtp.SMTPError
	}{
		{"250 2.0.0 Ok: queued as 12\r\n", nil},
		{"250-first\r\n250 2.0.0 second\r\n", nil},
		{"552 5.3.4 Message size exceeds fixed limit\r\n", &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message size exceeds fixed limit"}},
		{"451 try later\r\n", &smtp.SMTPError{Code: 451, Message: "try later"}},
		{"", nil}, // hang-up
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		got := make(chan string, 1)
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				got <- err.Error()
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			cmd, _ := br.ReadString('\n')
			var n int
			fmt.Sscanf(cmd, "BDAT %d LAST", &n)
			body := make([]byte, n)
			io.ReadFull(br, body)
			got <- cmd + string(body)
			io.WriteString(conn, c.reply)
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		msg := "Subject: x\r\n\r\n.leading dot\r\nbody\r\n"
		err = sendBDAT(conn, []byte(msg))
		conn.Close()
		ln.Close()
		assert.Equal(t, fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg), <-got, "the chunk as is, no dot-stuffing")
		switch {
		case c.reply == "":
			assert.Error(t, err, "hang-up")
		case c.wantErr == nil:
			assert.NoError(t, err, c.reply)
		default:
			var se *smtp.SMTPError
			require.True(t, errors.As(err, &se), "%v", err)
			assert.Equal(t, c.wantErr, se)
		}
	}
}

// On the embedded target, what an actor sends arrives whole: the data
// event's size is the message's, for a message with attachments sent to
// an outside address and one to a colleague.
func TestEmbeddedSendArrivesWhole(t *testing.T) {
	sc, err := scenarios.Parse("s.yaml", []byte(`
id: send-whole
title: send whole
environment: {users: 5, messages: 20, seed: 4, start: 2025-12-11T07:00:00+01:00, duration: 1h}
actors:
  - id: a
    kind: attacker
    source: 203.0.113.5
    credentials: {user: director, from: stolen}
    steps:
      - login: {}
      - download_attachments: {mailbox: INBOX, limit: 3}
      - send: {to: [x@example.org], attach: downloaded}
      - send: {to: [cabinet@interieur.test], body: "a line\r\n.a dot opening a line"}
      - logout
`))
	require.NoError(t, err)
	var sizes []int64
	res, err := Run(context.Background(), sc, Options{OnEvent: func(e audit.Event) {
		if e.Action == audit.SMTPData {
			assert.Equal(t, audit.Success, e.Outcome, e.Reason)
			sizes = append(sizes, e.MessageSize)
		}
	}})
	require.NoError(t, err)
	var sent []int64
	for _, r := range res.Truth {
		if r.Action == "smtp.send" && r.Outcome == "success" {
			sent = append(sent, r.Bytes)
		}
	}
	require.Len(t, sent, 2)
	assert.Equal(t, sent, sizes)
	assert.Greater(t, sent[0], int64(1000), "with attachments")
}

// Against the embedded target's submission server, a message sent as DATA
// (dot-stuffed here) and as BDAT arrives the same: its size in the data
// event is the message's, leading dots and all; one with a line too long
// for DATA is refused the same either way.
func TestSubmitDATAAndBDATAgainstTheEmbeddedTarget(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tg, err := target.Start(context.Background(), target.Spec{Seed: 2, Users: 4, Messages: 5,
		Clock: clock.NewVirtual(start), Start: start, RunID: "md-submit", CertDir: t.TempDir()})
	require.NoError(t, err)
	defer tg.Close()
	sub := tg.Events().Subscribe()
	defer sub.Close()
	r := &runner{target: tg, sessions: map[string]chan struct{}{}, ended: map[string]bool{}}
	ar := &actorRun{r: r, a: &scenarios.Actor{TLS: true}, src: netip.MustParseAddr("10.20.1.2"), port: 40000}
	var from, to account.Account
	for _, a := range tg.Accounts() {
		if a.Kind == "person" && from.Address == "" {
			from = a
		} else if a.Kind == "person" && to.Address == "" {
			to = a
		}
	}
	require.NotEmpty(t, to.Address)
	msg := []byte("From: " + from.Address + "\r\nTo: " + to.Address + "\r\nSubject: dots\r\n\r\n.one\r\n..two\r\nend\r\n")
	for _, bdat := range []bool{false, true} {
		// A line over the server's limit: refused as DATA refuses it, BDAT
		// or not (the runner sends it as DATA).
		c, _, raw, err := ar.smtpSession(context.Background(), cred{from.Address, from.Password})
		require.NoError(t, err)
		require.NoError(t, c.Auth(smtpd.NewLoginClient(from.Address, from.Password, false)))
		long := []byte("Subject: long\r\n\r\n" + strings.Repeat("x", 3000) + "\r\n")
		assert.Error(t, submit(c, raw, bdat, from.Address, []string{to.Address}, long), "bdat %v", bdat)
		c.Close()
		for {
			e, err := sub.Next(context.Background())
			require.NoError(t, err)
			if e.Action == audit.SMTPData {
				assert.Equal(t, audit.Failure, e.Outcome, "bdat %v", bdat)
				assert.Equal(t, smtpd.ReasonLineTooLong, e.Reason, "bdat %v", bdat)
				break
			}
		}

		c, _, raw, err = ar.smtpSession(context.Background(), cred{from.Address, from.Password})
		require.NoError(t, err)
		require.NoError(t, c.Auth(smtpd.NewLoginClient(from.Address, from.Password, false)))
		require.NoError(t, submit(c, raw, bdat, from.Address, []string{to.Address}, msg), "bdat %v", bdat)
		require.NoError(t, c.Quit())
		c.Close()
		for {
			e, err := sub.Next(context.Background())
			require.NoError(t, err)
			if e.Action == audit.SMTPData {
				assert.Equal(t, audit.Success, e.Outcome, "bdat %v: %s", bdat, e.Reason)
				assert.Equal(t, int64(len(msg)), e.MessageSize, "bdat %v", bdat)
				break
			}
		}
	}
}

func TestBDATAsData(t *testing.T) {
	long := strings.Repeat("x", 998)
	for _, c := range []struct {
		msg   string
		limit int
		want  bool
	}{
		{"Subject: x\r\n\r\nbody\r\n", 0, true},
		{"Subject: x\r\n\r\n.dot\r\n\r\n", 0, true},
		{"Subject: x\r\n\r\nbody\r\n", 100, true},
		{"Subject: x\r\n\r\nbody\r\n", 20, false},       // not under the SIZE offered
		{"Subject: x\r\n\r\nbody\r\n", 21, true},        // 20 bytes, under 21
		{"Subject: x\r\n\r\nbody", 0, false},            // no final CRLF
		{"Subject: x\n\nbody\n", 0, false},              // bare LF
		{"Subject: x\r\n\r\nbo\rdy\r\n", 0, false},      // bare CR
		{"Subject: x\r\n\r\n" + long + "\r\n", 0, true}, // 998
		{"Subject: x\r\n\r\n" + long + "y\r\n", 0, false},
		{"Subject: x\r\n\r\n." + long[1:] + "\r\n", 0, false}, // 999 once stuffed
		{"", 0, false},
	} {
		assert.Equal(t, c.want, bdatAsData([]byte(c.msg), c.limit), "%.40q limit %d", c.msg, c.limit)
	}
}
