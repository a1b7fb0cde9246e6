// Package certs makes the TLS material mailsim's servers present: a throwaway
// ECDSA P-256 certificate authority and a server certificate signed by it,
// written as PEM files so that clients (actors, swaks, openssl, Thunderbird)
// can trust the CA, and returned as a ready *tls.Config.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names written by Generate and read by Load.
const (
	CAFileName      = "ca.pem"
	CertFileName    = "server.pem"
	KeyFileName     = "server-key.pem"
	certValidity    = 365 * 24 * time.Hour
	backdate        = 24 * time.Hour
	organization    = "maildrill simulation"
	caCommonName    = "maildrill simulation CA"
	keyFileMode     = 0o600
	certFileMode    = 0o644
	defaultHostName = "localhost"
)

// Bundle is the TLS material of one run.
type Bundle struct {
	// CAFile, CertFile and KeyFile are the paths of the PEM files: the CA
	// certificate clients should trust, the server certificate, and the
	// server's private key (mode 0600).
	CAFile   string
	CertFile string
	KeyFile  string
	// TLSConfig serves the server certificate, TLS 1.2 and later. Clone it
	// before changing it.
	TLSConfig *tls.Config
	// CAPool holds the CA certificate, for clients' RootCAs.
	CAPool *x509.CertPool
	// Leaf is the parsed server certificate.
	Leaf *x509.Certificate
}

// ClientConfig returns a TLS client configuration that trusts the bundle's
// CA and verifies serverName.
func (b *Bundle) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: b.CAPool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// Generate creates a fresh CA and a server certificate in dir (created if
// missing) and returns the bundle. The server certificate names localhost,
// 127.0.0.1 and ::1 in addition to hosts (DNS names or IP addresses, e.g.
// "imap.interieur.test"); the first host is also its common name. now is the
// scenario's clock (zero: the wall clock). Both certificates are valid from
// a day before the earlier of now and the wall clock to a year after the
// later: clients verify them against the wall clock, whatever date the
// scenario is set on, and the dates still read as the scenario's own.
// Existing files are overwritten. The CA's private key is never written:
// nothing else can be signed with it once Generate returns.
func Generate(dir string, hosts []string, now time.Time) (*Bundle, error) {
	wall := time.Now()
	if now.IsZero() {
		now = wall
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("certs: create directory: %w", err)
	}
	dnsNames, ips, err := subjectAltNames(hosts)
	if err != nil {
		return nil, err
	}
	notBefore, notAfter := validity(now, wall)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          mustSerial(),
		Subject:               pkix.Name{CommonName: caCommonName, Organization: []string{organization}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("certs: sign CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("certs: parse CA certificate: %w", err)
	}

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate server key: %w", err)
	}
	cn := defaultHostName
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: mustSerial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{organization}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("certs: sign server certificate: %w", err)
	}

	srvKeyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return nil, fmt.Errorf("certs: encode server key: %w", err)
	}
	files := []struct {
		name  string
		typ   string
		der   []byte
		perm  os.FileMode
		chain []byte
	}{
		{CAFileName, "CERTIFICATE", caDER, certFileMode, nil},
		// The server file carries the chain (leaf then CA), as most servers expect.
		{CertFileName, "CERTIFICATE", srvDER, certFileMode, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		{KeyFileName, "EC PRIVATE KEY", srvKeyDER, keyFileMode, nil},
	}
	for _, f := range files {
		data := pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		data = append(data, f.chain...)
		if err := writeFile(filepath.Join(dir, f.name), data, f.perm); err != nil {
			return nil, err
		}
	}
	return Load(dir)
}

// Load reads the files a previous Generate wrote in dir and returns the
// bundle.
func Load(dir string) (*Bundle, error) {
	b := &Bundle{
		CAFile:   filepath.Join(dir, CAFileName),
		CertFile: filepath.Join(dir, CertFileName),
		KeyFile:  filepath.Join(dir, KeyFileName),
	}
	caPEM, err := os.ReadFile(b.CAFile)
	if err != nil {
		return nil, fmt.Errorf("certs: read CA certificate: %w (run Generate first)", err)
	}
	b.CAPool = x509.NewCertPool()
	if !b.CAPool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("certs: %s holds no PEM certificate", b.CAFile)
	}
	pair, err := tls.LoadX509KeyPair(b.CertFile, b.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: load server key pair from %s: %w", dir, err)
	}
	if len(pair.Certificate) == 0 {
		return nil, fmt.Errorf("certs: %s holds no certificate", b.CertFile)
	}
	b.Leaf, err = x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("certs: parse %s: %w", b.CertFile, err)
	}
	pair.Leaf = b.Leaf
	b.TLSConfig = &tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS12,
	}
	return b, nil
}

// validity is the certificates' NotBefore and NotAfter: from a day
// before the earlier of the scenario's clock and the wall clock to a year
// after the later, in whole seconds (what X.509 stores).
func validity(now, wall time.Time) (time.Time, time.Time) {
	from, to := now, wall
	if wall.Before(now) {
		from, to = wall, now
	}
	return from.Add(-backdate).UTC().Truncate(time.Second), to.Add(certValidity).UTC().Truncate(time.Second)
}

// subjectAltNames splits hosts into DNS names and IP addresses, always
// adding localhost, 127.0.0.1 and ::1, without duplicates.
func subjectAltNames(hosts []string) ([]string, []net.IP, error) {
	var dnsNames []string
	var ips []net.IP
	all := append(slices.Clone(hosts), defaultHostName, "127.0.0.1", "::1")
	for _, h := range all {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if strings.ContainsAny(h, " /:@") {
			return nil, nil, fmt.Errorf("certs: %q is not a host name or IP address", h)
		}
		if !slices.Contains(dnsNames, h) {
			dnsNames = append(dnsNames, h)
		}
	}
	return dnsNames, ips, nil
}

func mustSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("certs: read random serial: %v", err)) // crypto/rand never fails on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

// writeFile writes data with perm, also tightening the mode of an existing
// file (os.WriteFile keeps the old mode).
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	if err := os.Chmod(path, perm); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("certs: chmod %s: %w", path, err)
	}
	return nil
}
