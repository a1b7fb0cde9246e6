package mailsim_test

import (
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/mailsimtest"
)

// Config.OutboxRawBytes: by default the outbox keeps outbound messages
// whole; negative keeps their metadata only.
func TestOutboxRawBytes(t *testing.T) {
	for _, tc := range []struct {
		raw  int64
		kept bool
	}{{0, true}, {-1, false}} {
		ms := mailsimtest.New(t, mailsim.Config{OutboxRawBytes: tc.raw})
		sender := ms.Person("director")
		sc, err := smtp.DialStartTLS(ms.SubmissionAddr, ms.Certs.ClientConfig("localhost"))
		require.NoError(t, err)
		require.NoError(t, sc.Auth(sasl.NewPlainClient("", sender.Address, sender.Password)))
		body := "From: " + sender.Address + "\r\nTo: x@outside.example\r\nSubject: out\r\n\r\nhello\r\n"
		require.NoError(t, sc.SendMail(sender.Address, []string{"x@outside.example"}, strings.NewReader(body)))
		sc.Quit()
		out := ms.Outbox.List()
		require.Len(t, out, 1)
		assert.Equal(t, "out", out[0].Subject, "metadata is kept either way")
		assert.Equal(t, tc.kept, out[0].Raw != nil, "raw %d", tc.raw)
		assert.Equal(t, !tc.kept, out[0].RawDropped)
	}
}
