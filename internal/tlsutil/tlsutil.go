// Package tlsutil builds photogate's TLS configurations: the serving side
// (with certificates that reload without dropping connections), the client
// side towards the backend (custom CA bundle), and development certificates.
package tlsutil

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
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Reloader serves a certificate from files and picks up new files when they
// change (checked at most once per second, on handshakes) or when Reload is
// called (on SIGHUP). Connections already open keep their certificate.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	certMod   time.Time
	keyMod    time.Time
	lastCheck time.Time
}

// NewReloader loads the pair once; it fails if the files are unusable.
func NewReloader(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again. A broken pair is reported and the previous
// certificate stays in use.
func (r *Reloader) Reload() error {
	certMod, keyMod, err := r.modTimes()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s: %w", r.certFile, err)
	}
	r.mu.Lock()
	r.cert, r.certMod, r.keyMod, r.lastCheck = &cert, certMod, keyMod, time.Now()
	r.mu.Unlock()
	if r.log != nil {
		r.log.Info("TLS certificate loaded", "cert", r.certFile, "not_after", cert.Leaf.NotAfter)
	}
	return nil
}

func (r *Reloader) modTimes() (time.Time, time.Time, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("TLS certificate: %w", err)
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("TLS key: %w", err)
	}
	return c.ModTime(), k.ModTime(), nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	stale := time.Since(r.lastCheck) > time.Second
	if stale {
		r.lastCheck = time.Now()
	}
	certMod, keyMod := r.certMod, r.keyMod
	r.mu.Unlock()
	if stale {
		// Both files must have settled: a rotation that replaced only the
		// certificate so far would not load, and is tried again next second.
		if c, k, err := r.modTimes(); err == nil && (!c.Equal(certMod) || !k.Equal(keyMod)) {
			if err := r.Reload(); err != nil && r.log != nil {
				r.log.Warn("TLS certificate changed but does not load; keeping the old one", "error", err)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert, nil
}

// ServerConfig is TLS 1.2 or newer with forward-secret AEAD suites only
// (TLS 1.3 suites are not configurable and all qualify).
func ServerConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: getCert,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"http/1.1"},
	}
}

// ClientConfig is the TLS configuration towards the backend: the system
// roots plus the PEM bundle in caFile (if any). insecureSkipVerify disables
// verification entirely and is for test setups only; the caller logs it.
func ClientConfig(caFile string, insecureSkipVerify bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecureSkipVerify} //nolint:gosec // opt-in, logged loudly by the caller
	if caFile == "" {
		return cfg, nil
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("backend CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("backend CA bundle %s: no PEM certificates found", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// DevCert is a certificate authority and a server certificate signed by it,
// for local HTTPS and tests.
type DevCert struct {
	CAFile, CertFile, KeyFile string
}

// WriteDevCert creates dir/ca.pem, dir/cert.pem and dir/key.pem: a fresh CA
// and a server certificate for hosts (DNS names or IP addresses) valid for
// validFor. Clients trust ca.pem (e.g. AWS_CA_BUNDLE).
func WriteDevCert(dir string, hosts []string, validFor time.Duration) (DevCert, error) {
	if len(hosts) == 0 {
		return DevCert{}, errors.New("dev cert: no hosts")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return DevCert{}, fmt.Errorf("dev cert: %w", err)
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return DevCert{}, fmt.Errorf("dev cert: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "photogate development CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return DevCert{}, fmt.Errorf("dev cert: CA: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return DevCert{}, fmt.Errorf("dev cert: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return DevCert{}, fmt.Errorf("dev cert: server: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return DevCert{}, fmt.Errorf("dev cert: %w", err)
	}
	out := DevCert{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
	}
	files := []struct {
		path  string
		block *pem.Block
		mode  os.FileMode
	}{
		{out.CAFile, &pem.Block{Type: "CERTIFICATE", Bytes: caDER}, 0o644},
		{out.CertFile, &pem.Block{Type: "CERTIFICATE", Bytes: der}, 0o644},
		{out.KeyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}, 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(f.block), f.mode); err != nil {
			return DevCert{}, fmt.Errorf("dev cert: %w", err)
		}
	}
	return out, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
