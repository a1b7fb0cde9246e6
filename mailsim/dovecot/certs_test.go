package dovecot

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/certs"
)

// A certificate directory given again is reused while its certificate
// verifies now for the domain, and made anew when it has expired or names
// another domain: clients would refuse it.
func TestLoadOrGenerateCerts(t *testing.T) {
	dir := t.TempDir()
	first, err := loadOrGenerateCerts(dir, "interieur.test", time.Time{})
	require.NoError(t, err)
	again, err := loadOrGenerateCerts(dir, "interieur.test", time.Time{})
	require.NoError(t, err)
	assert.Equal(t, first.Leaf.SerialNumber, again.Leaf.SerialNumber, "a valid bundle is reused")

	other, err := loadOrGenerateCerts(dir, "finances.test", time.Time{})
	require.NoError(t, err)
	assert.NotEqual(t, first.Leaf.SerialNumber, other.Leaf.SerialNumber, "a bundle for another domain is replaced")
	assert.Contains(t, other.Leaf.DNSNames, "imap.finances.test")

	writeExpired(t, dir, "imap.finances.test")
	old, err := certs.Load(dir)
	require.NoError(t, err)
	require.True(t, old.Leaf.NotAfter.Before(time.Now()), "the test wrote an expired certificate")
	renewed, err := loadOrGenerateCerts(dir, "finances.test", time.Time{})
	require.NoError(t, err)
	assert.NotEqual(t, old.Leaf.SerialNumber, renewed.Leaf.SerialNumber, "an expired bundle is replaced")
	_, err = renewed.Leaf.Verify(x509.VerifyOptions{DNSName: "imap.finances.test", Roots: renewed.CAPool})
	assert.NoError(t, err)
}

// writeExpired writes a self-signed certificate for name that expired a
// year ago, as the CA, the server certificate and its key.
func writeExpired(t *testing.T, dir, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(-1, 0, 0),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	require.NoError(t, os.WriteFile(filepath.Join(dir, certs.CAFileName), certPEM, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, certs.CertFileName), certPEM, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, certs.KeyFileName), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
}
