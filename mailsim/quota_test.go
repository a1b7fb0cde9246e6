package mailsim_test

import (
	"context"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/mailsimtest"
)

// TestMXDeliveryOverQuota: mail for an account over its quota is refused
// with 552 5.2.2 (not a temporary 451 that makes the sender retry for
// days), and the refusal is an smtp.deliver failure with reason limit_quota.
func TestMXDeliveryOverQuota(t *testing.T) {
	ms := mailsimtest.New(t, mailsim.Config{Limits: mailsim.Limits{QuotaBytes: 2000}})
	var rcpt string
	for _, a := range ms.Accounts() {
		if a.Kind == "person" {
			rcpt = a.Address
			break
		}
	}
	sub := ms.Bus.Subscribe()
	defer sub.Close()
	send := func(size int) error {
		msg := "From: someone@example.org\r\nTo: " + rcpt + "\r\nSubject: q\r\n\r\n" + strings.Repeat(strings.Repeat("x", 70)+"\r\n", size/72+1)
		c, err := smtp.Dial(ms.MXAddr)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Mail("someone@example.org"); err != nil {
			return err
		}
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(msg)); err != nil {
			return err
		}
		return w.Close()
	}
	require.NoError(t, send(100), "under the quota")
	err := send(5000)
	require.Error(t, err)
	require.Contains(t, err.Error(), "552")
	require.Contains(t, err.Error(), "5.2.2")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var outcomes []string
	for len(outcomes) < 2 {
		e, err := sub.Next(ctx)
		require.NoError(t, err)
		if e.Action == audit.SMTPDeliver {
			outcomes = append(outcomes, e.Outcome+"/"+e.Reason)
		}
	}
	require.Equal(t, []string{"success/", "failure/limit_quota"}, outcomes)
}
