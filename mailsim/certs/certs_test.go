package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/certs"
)

var scenarioNow = time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC)

func TestGenerateFilesAndValidity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	b, err := certs.Generate(dir, []string{"imap.interieur.test", "smtp.interieur.test", "10.0.0.7"}, scenarioNow)
	require.NoError(t, err)

	for path, mode := range map[string]os.FileMode{b.CAFile: 0o644, b.CertFile: 0o644, b.KeyFile: 0o600} {
		st, err := os.Stat(path)
		require.NoError(t, err, path)
		assert.Equal(t, mode, st.Mode().Perm(), path)
	}
	assert.Equal(t, filepath.Join(dir, "ca.pem"), b.CAFile)
	assert.Equal(t, filepath.Join(dir, "server.pem"), b.CertFile)
	assert.Equal(t, filepath.Join(dir, "server-key.pem"), b.KeyFile)
	assert.NoFileExists(t, filepath.Join(dir, "ca-key.pem"))

	leaf := b.Leaf
	assert.Equal(t, scenarioNow.Add(-24*time.Hour), leaf.NotBefore, "a day before the scenario's clock, which is earlier than the wall clock")
	assert.False(t, leaf.NotAfter.Before(time.Now().Add(364*24*time.Hour)), "a year after the wall clock, which is later: %v", leaf.NotAfter)
	assert.ElementsMatch(t, []string{"imap.interieur.test", "smtp.interieur.test", "localhost"}, leaf.DNSNames)
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	assert.ElementsMatch(t, []string{"10.0.0.7", "127.0.0.1", "::1"}, ips)
	assert.Equal(t, "imap.interieur.test", leaf.Subject.CommonName)
	assert.Equal(t, uint16(tls.VersionTLS12), b.TLSConfig.MinVersion)

	for _, name := range []string{"imap.interieur.test", "smtp.interieur.test", "localhost", "127.0.0.1", "::1"} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: b.CAPool, CurrentTime: scenarioNow})
		assert.NoError(t, err, name)
	}
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "evil.example", Roots: b.CAPool, CurrentTime: scenarioNow})
	assert.Error(t, err)
}

// The certificates verify against the wall clock and against the
// scenario's own, for a scenario set years before today or years after:
// clients check them against the wall clock. They used to be valid for a
// year from the scenario's start only, so that every scenario set more
// than a year back (the flagship's December 2025 among them, from
// December 2026) failed its first TLS handshake.
func TestValidAtWallClockAndScenarioClock(t *testing.T) {
	wall := time.Now()
	for _, scenario := range []time.Time{
		time.Date(2019, 3, 31, 1, 30, 0, 0, time.UTC),
		scenarioNow,
		wall,
		wall.AddDate(3, 0, 0),
	} {
		b, err := certs.Generate(t.TempDir(), []string{"imap.interieur.test"}, scenario)
		require.NoError(t, err)
		for _, at := range []time.Time{scenario, wall, wall.Add(300 * 24 * time.Hour)} {
			_, err := b.Leaf.Verify(x509.VerifyOptions{DNSName: "imap.interieur.test", Roots: b.CAPool, CurrentTime: at})
			assert.NoError(t, err, "scenario clock %v, verified at %v", scenario, at)
		}
		handshake(t, b.TLSConfig, b.ClientConfig("imap.interieur.test"))
	}
}

func TestHandshakeWithCAPool(t *testing.T) {
	b, err := certs.Generate(t.TempDir(), []string{"smtp.interieur.test"}, time.Now())
	require.NoError(t, err)

	for _, serverName := range []string{"smtp.interieur.test", "localhost", "127.0.0.1"} {
		t.Run(serverName, func(t *testing.T) {
			handshake(t, b.TLSConfig, b.ClientConfig(serverName))
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		err := tryHandshake(t, b.TLSConfig, &tls.Config{ServerName: "localhost", RootCAs: x509.NewCertPool()})
		require.Error(t, err)
	})
	t.Run("tls1.1 refused", func(t *testing.T) {
		cfg := b.ClientConfig("localhost")
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		require.Error(t, tryHandshake(t, b.TLSConfig, cfg))
	})
}

func TestLoadReusesFiles(t *testing.T) {
	dir := t.TempDir()
	gen, err := certs.Generate(dir, []string{"imap.interieur.test"}, time.Now())
	require.NoError(t, err)
	loaded, err := certs.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, gen.Leaf.Raw, loaded.Leaf.Raw)
	// A client trusting the generated CA talks to a server using the loaded files.
	handshake(t, loaded.TLSConfig, gen.ClientConfig("imap.interieur.test"))

	_, err = certs.Load(t.TempDir())
	require.ErrorContains(t, err, "run Generate first")
}

func handshake(t *testing.T, srv, cli *tls.Config) {
	t.Helper()
	require.NoError(t, tryHandshake(t, srv, cli))
}

func tryHandshake(t *testing.T, srv, cli *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	require.NoError(t, err)
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.(*tls.Conn).Handshake()
		_, _ = c.Write([]byte("ok"))
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cli)
	if err == nil {
		buf, rerr := io.ReadAll(c)
		c.Close()
		if rerr == nil && string(buf) != "ok" {
			t.Errorf("read %q after handshake", buf)
		}
	}
	ln.Close()
	<-done
	return err
}

// TestCertDirLock: a directory locked by one server cannot be locked by a
// second (same process or not, flock is per open file) until released.
func TestCertDirLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	l1, err := certs.Lock(dir)
	require.NoError(t, err)
	_, err = certs.Lock(dir)
	require.ErrorIs(t, err, certs.ErrInUse)
	assert.Contains(t, err.Error(), dir)
	assert.Contains(t, err.Error(), "another maildrill")
	assert.Contains(t, err.Error(), "--cert-dir")
	assert.Contains(t, err.Error(), "pid ")
	require.NoError(t, l1.Unlock())
	require.NoError(t, l1.Unlock(), "twice is fine")
	l2, err := certs.Lock(dir)
	require.NoError(t, err, "free again once released")
	require.NoError(t, l2.Unlock())
}
