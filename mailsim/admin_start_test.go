package mailsim_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/certs"
	"github.com/maildrill/maildrill/mailsim/mailsimtest"
)

func adminGet(t *testing.T, url, token, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminAPIThroughStart: on loopback, with no token configured, the
// admin API still wants one (generated, on Server.AdminToken), checks the
// Host header, refuses a token in the query, never serves a password, and
// audits each refusal.
func TestAdminAPIThroughStart(t *testing.T) {
	ms := mailsimtest.New(t, mailsim.Config{AdminHosts: []string{"mailsim"}})
	require.NotEmpty(t, ms.AdminToken, "a token is generated on loopback too")
	base := "http://" + ms.AdminAddr

	code, _ := adminGet(t, base+"/healthz", "", "")
	assert.Equal(t, 200, code)
	code, body := adminGet(t, base+"/api/users", "", "")
	assert.Equal(t, 401, code)
	assert.NotContains(t, body, "@")
	code, _ = adminGet(t, base+"/api/users", "", "rebound.example:"+strings.Split(ms.AdminAddr, ":")[1])
	assert.Equal(t, http.StatusMisdirectedRequest, code)
	code, _ = adminGet(t, base+"/api/users?token="+ms.AdminToken, ms.AdminToken, "")
	assert.Equal(t, 400, code)

	for _, host := range []string{"", "localhost:8025", "mailsim:8025"} {
		code, body = adminGet(t, base+"/api/users", ms.AdminToken, host)
		require.Equal(t, 200, code, host)
		accs := ms.Accounts()
		require.NotEmpty(t, accs)
		assert.Contains(t, body, accs[0].Address)
		assert.NotContains(t, strings.ToLower(body), "password")
		for _, a := range accs {
			assert.NotContains(t, body, a.Password, "the password of %s is served", a.Address)
		}
	}

	var reasons []string
	for _, e := range ms.EventsFor(audit.AdminRequest) {
		reasons = append(reasons, e.Reason)
		assert.Equal(t, "127.0.0.1", e.SourceIP)
		assert.Equal(t, "/api/users", e.URLPath)
	}
	assert.Equal(t, []string{"missing_token", "host_refused", "token_in_query"}, reasons)
}

// TestCertDirInUse: a second server given a running one's --cert-dir fails
// at once, naming the directory, and leaves the first one's CA as it was,
// whether its ports are free or the first one's. Once the first closes,
// the directory is free.
func TestCertDirInUse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	first, err := mailsim.Start(context.Background(), mailsim.Config{Users: 5, MessagesPerUser: 10, CertDir: dir})
	require.NoError(t, err)
	defer first.Close()
	ca, err := os.ReadFile(filepath.Join(dir, certs.CAFileName))
	require.NoError(t, err)
	key, err := os.ReadFile(filepath.Join(dir, certs.KeyFileName))
	require.NoError(t, err)

	for name, cfg := range map[string]mailsim.Config{
		"free ports":  {Users: 5, MessagesPerUser: 10, CertDir: dir},
		"same ports":  {Users: 5, MessagesPerUser: 10, CertDir: dir, IMAPAddr: first.IMAPAddr, IMAPSAddr: first.IMAPSAddr, SubmissionAddr: first.SubmissionAddr, MXAddr: first.MXAddr, AdminAddr: first.AdminAddr},
		"dir with /.": {Users: 5, MessagesPerUser: 10, CertDir: dir + "/."},
	} {
		t.Run(name, func(t *testing.T) {
			second, err := mailsim.Start(context.Background(), cfg)
			if err == nil {
				second.Close()
			}
			require.ErrorIs(t, err, certs.ErrInUse)
			assert.Contains(t, err.Error(), dir)
			assert.Contains(t, err.Error(), "another maildrill")
			now, err := os.ReadFile(filepath.Join(dir, certs.CAFileName))
			require.NoError(t, err)
			assert.Equal(t, ca, now, "the running server's CA was overwritten")
			nowKey, err := os.ReadFile(filepath.Join(dir, certs.KeyFileName))
			require.NoError(t, err)
			assert.Equal(t, key, nowKey)
		})
	}
	// The first still serves IMAPS with a certificate its CA verifies.
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca))
	c, err := imapclient.DialTLS(first.IMAPSAddr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	require.NoError(t, err)
	require.NoError(t, c.Logout().Wait())
	c.Close()
	require.NoError(t, first.Close())
	again, err := mailsim.Start(context.Background(), mailsim.Config{Users: 5, MessagesPerUser: 10, CertDir: dir})
	require.NoError(t, err, "the lock is released by Close")
	require.NoError(t, again.Close())
}

// TestCertDirUntouchedWhenBindFails: listeners are bound before the
// certificates are written, so a start that cannot bind writes nothing.
func TestCertDirUntouchedWhenBindFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	dir := filepath.Join(t.TempDir(), "tls")
	_, err = mailsim.Start(context.Background(), mailsim.Config{Users: 5, MessagesPerUser: 10, CertDir: dir, MXAddr: busy.Addr().String()})
	require.Error(t, err)
	assert.NoFileExists(t, filepath.Join(dir, certs.CAFileName))
	assert.NoFileExists(t, filepath.Join(dir, certs.KeyFileName))
}
