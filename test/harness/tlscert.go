package harness

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
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// TestCert is a throw-away certificate authority and a server certificate
// it signed for 127.0.0.1, ::1 and localhost, as PEM files. Clients are
// told to trust CAFile (AWS_CA_BUNDLE, --ca-cert, ...), exactly as they
// would trust a private CA in production; the server presents CertFile.
type TestCert struct {
	CAFile   string // the CA certificate: what clients trust
	CertFile string // the server certificate, signed by the CA
	KeyFile  string // the server certificate's private key (PKCS#8)
}

// WriteTestCert creates a fresh CA and a server certificate signed by it in
// dir: ca.pem, and the server's certificate and key under certName and
// keyName (MinIO insists on public.crt and private.key).
//
// A separate CA, rather than a self-signed server certificate, is what the
// clients see in real deployments, and what strict verifiers (OpenSSL's
// X509_STRICT, on by default in newer Pythons) accept: a leaf that is its
// own CA is rejected by some of them.
func WriteTestCert(dir, certName, keyName string) (TestCert, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return TestCert{}, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return TestCert{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "photogate test CA " + RandomString(6)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return TestCert{}, fmt.Errorf("test CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return TestCert{}, err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return TestCert{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(47 * time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return TestCert{}, fmt.Errorf("test server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return TestCert{}, err
	}
	tc := TestCert{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, certName),
		KeyFile:  filepath.Join(dir, keyName),
	}
	for _, f := range []struct {
		path, typ string
		der       []byte
		mode      os.FileMode
	}{
		{tc.CAFile, "CERTIFICATE", caDER, 0o644},
		{tc.CertFile, "CERTIFICATE", der, 0o644},
		{tc.KeyFile, "PRIVATE KEY", keyDER, 0o600},
	} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), f.mode); err != nil {
			return TestCert{}, err
		}
	}
	return tc, nil
}

func randomSerial() *big.Int {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return serial
}

// CertPool returns a pool holding only the PEM certificates in caFile.
func CertPool(caFile string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s: no PEM certificates", caFile)
	}
	return pool, nil
}

// httpClientTrusting returns a client that trusts the PEM certificates in
// caFile (and nothing else), or a plain client when caFile is empty.
func httpClientTrusting(caFile string, timeout time.Duration) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil}}, nil
	}
	pool, err := CertPool(caFile)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Proxy: nil},
	}, nil
}
