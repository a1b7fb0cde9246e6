package mailsim_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/mailsimtest"
)

// 200 concurrent sessions: every action performed yields exactly its audit
// events, none lost, none duplicated, sequence numbers gap-free.
func TestConcurrentSessionsEventAccounting(t *testing.T) {
	ms := mailsimtest.New(t)
	var people []string
	pw := map[string]string{}
	for _, a := range ms.Accounts() {
		if a.Kind == "person" {
			people = append(people, a.Address)
			pw[a.Address] = a.Password
		}
	}
	const imapSessions, smtpSessions = 160, 40
	var wg sync.WaitGroup
	errs := make(chan error, imapSessions+smtpSessions)
	for i := 0; i < imapSessions; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u := people[i%len(people)]
			c, err := imapclient.DialTLS(ms.IMAPSAddr, &imapclient.Options{TLSConfig: ms.Certs.ClientConfig("localhost")})
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			steps := []func() error{
				func() error { return c.Login(u, pw[u]).Wait() },
				func() error { _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); return err },
				func() error {
					_, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
					return err
				},
				func() error {
					_, err := c.Search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
					return err
				},
				func() error { return c.Logout().Wait() },
			}
			for _, s := range steps {
				if err := s(); err != nil {
					errs <- fmt.Errorf("session %d (%s): %w", i, u, err)
					return
				}
			}
		}(i)
	}
	for i := 0; i < smtpSessions; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u := people[i%len(people)]
			to := people[(i+1)%len(people)]
			c, err := smtp.DialStartTLS(ms.SubmissionAddr, ms.Certs.ClientConfig("localhost"))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err == nil {
				err = c.Auth(sasl.NewPlainClient("", u, pw[u]))
			}
			if err == nil {
				err = c.SendMail(u, []string{to}, stringsReader(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: note %d\r\n\r\nbonjour\r\n", u, to, i)))
			}
			if err == nil {
				err = c.Quit()
			}
			if err != nil {
				errs <- fmt.Errorf("smtp %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	evs := ms.Events()
	count := map[string]int{}
	for i, e := range evs {
		require.Equal(t, uint64(i+1), e.Sequence, "sequence numbers are gap-free")
		count[e.Action]++
	}
	// Per IMAP session: connect, login, examine, one fetch (FLAGS), search, logout.
	for _, a := range []string{audit.IMAPConnect, audit.IMAPLogin, audit.IMAPExamine, audit.IMAPFetch, audit.IMAPSearch, audit.IMAPLogout} {
		assert.Equal(t, imapSessions, count[a], a)
	}
	// Per SMTP session: connect, starttls, auth, mail_from, rcpt, data, deliver, disconnect.
	for _, a := range []string{audit.SMTPConnect, audit.SMTPStartTLS, audit.SMTPAuth, audit.SMTPMailFrom, audit.SMTPRcpt, audit.SMTPData, audit.SMTPDeliver, audit.SMTPDisconnect} {
		assert.Equal(t, smtpSessions, count[a], a)
	}
	assert.Equal(t, imapSessions*6+smtpSessions*8, len(evs), "no other event: %v", count)
}
