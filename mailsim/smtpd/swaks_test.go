package smtpd_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/smtpd"
)

// TestSwaks drives the submission port with swaks, the tool red teams and
// admins actually use. CI installs it (apt-get install -y swaks).
func TestSwaks(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks not installed (apt-get install -y swaks); skipping the swaks interoperability test")
	}
	tests := []struct {
		mech string
		user string
		pass string
		ok   bool
		want string
	}{
		{"LOGIN", jean, jeanPass, true, "smtp.auth outcome=success user=" + jean + " mech=LOGIN cleartext=false tls=true"},
		{"PLAIN", "jdupont", jeanPass, true, "smtp.auth outcome=success user=jdupont mech=PLAIN cleartext=false tls=true"},
		{"LOGIN", jean, "wrong", false, "smtp.auth outcome=failure reason=invalid_credentials user=" + jean + " mech=LOGIN cleartext=false tls=true"},
	}
	for _, tc := range tests {
		t.Run(tc.mech+"/"+tc.user+"/ok="+map[bool]string{true: "yes", false: "no"}[tc.ok], func(t *testing.T) {
			h := newHarness(t)
			dir := t.TempDir()
			att := filepath.Join(dir, "liste-agents-2026.xlsx")
			require.NoError(t, os.WriteFile(att, []byte("PK\x03\x04 fake spreadsheet"), 0o600))
			host, port, err := net.SplitHostPort(h.subAddr)
			require.NoError(t, err)
			cmd := exec.Command(swaks,
				"--server", host, "--port", port,
				"--ehlo", "ws-042.interieur.test",
				"--from", jean, "--to", outsider,
				"--tls", "--tls-verify", "--tls-ca-path", h.tls.CAFile,
				"--auth", tc.mech, "--auth-user", tc.user, "--auth-password", tc.pass,
				"--header", "Subject: swaks "+tc.mech,
				"--attach", "@"+att,
				"--timeout", "10",
			)
			out, err := cmd.CombinedOutput()
			if tc.ok {
				require.NoError(t, err, "swaks:\n%s", out)
			} else {
				require.Error(t, err, "swaks:\n%s", out)
			}

			evs := h.events(1)
			checkCommon(t, evs, smtpd.ServiceSubmission)
			auths := filter(evs, audit.SMTPAuth)
			require.Len(t, auths, 1, "swaks:\n%s", out)
			assert.Equal(t, tc.want, summary(auths[0]))
			if !tc.ok {
				assert.Equal(t, 0, h.srv.Outbox().Len())
				assert.Zero(t, countActions(evs)[audit.SMTPData])
				return
			}
			n := countActions(evs)
			assert.Equal(t, 1, n[audit.SMTPStartTLS])
			assert.Equal(t, 1, n[audit.SMTPData])
			assert.Equal(t, 1, n[audit.SMTPDeliver])
			data := filter(evs, audit.SMTPData)[0]
			assert.Equal(t, "swaks "+tc.mech, data.MessageSubj)
			assert.Equal(t, []string{"liste-agents-2026.xlsx"}, data.AttachmentNames)
			require.Equal(t, 1, h.srv.Outbox().Len())
			m := h.srv.Outbox().List()[0]
			assert.Equal(t, []string{outsider}, m.RcptTo)
			assert.Equal(t, jean, m.User)
			assert.Equal(t, []string{"liste-agents-2026.xlsx"}, m.Attachments)
			assert.Equal(t, 1, m.AttachmentCount)
		})
	}
}
