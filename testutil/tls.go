package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// SelfSignedTLS returns a server config with a fresh self-signed ECDSA
// certificate valid for localhost, 127.0.0.1, ::1 and hosts (names or IP
// addresses), and a client config that trusts only that certificate. It
// fails t if the certificate cannot be made; [NewSelfSignedTLS] is the
// same for code that is not a test.
func SelfSignedTLS(t testing.TB, hosts ...string) (server, client *tls.Config) {
	t.Helper()
	server, client, err := NewSelfSignedTLS(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

// NewSelfSignedTLS is [SelfSignedTLS] for programs — examples, demos, a
// local test server — that have no testing.TB: it returns a server config
// with a fresh self-signed ECDSA certificate valid for a day for
// localhost, 127.0.0.1, ::1 and hosts, and a client config that trusts
// only that certificate, or the error that kept it from making them.
// Nobody else trusts such a certificate: it is no substitute for a real
// one.
func NewSelfSignedTLS(hosts ...string) (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("testutil: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("testutil: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "streams test"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1"}, hosts...) {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("testutil: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("testutil: parse certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client, nil
}

// CertFiles writes cfg's first certificate (a self-signed one is its own
// CA) and its key as PEM files in a temporary directory of tb, for a peer
// outside Go — python3's ssl module, openssl — and returns their paths.
// It fails tb when cfg has no certificate or the key cannot be encoded.
func CertFiles(tb testing.TB, cfg *tls.Config) (certFile, keyFile string) {
	tb.Helper()
	if len(cfg.Certificates) == 0 {
		tb.Fatal("testutil: CertFiles: the config has no certificate")
	}
	cert := cfg.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile
}
