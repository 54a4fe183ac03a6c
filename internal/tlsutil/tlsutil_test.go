package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestDevCertServesAndReloads(t *testing.T) {
	dir := t.TempDir()
	first, err := WriteDevCert(dir, []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReloader(first.CertFile, first.KeyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hi")
	}))
	// Not StartTLS: httptest would add its own certificate, which crypto/tls
	// prefers over GetCertificate when the client sends no SNI (an IP).
	srv.Listener = tls.NewListener(srv.Listener, ServerConfig(r.GetCertificate))
	srv.Start()
	defer srv.Close()
	url := "https://" + srv.Listener.Addr().String()

	get := func(caFile string) (*x509.Certificate, error) {
		cfg, err := ClientConfig(caFile, false)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return resp.TLS.PeerCertificates[0], nil
	}
	cert1, err := get(first.CAFile)
	if err != nil {
		t.Fatalf("trusting the dev CA: %v", err)
	}
	if _, err := get(""); err == nil {
		t.Fatal("system roots accepted a dev certificate")
	}

	// Rotate: a new CA and certificate written over the same files.
	time.Sleep(1100 * time.Millisecond) // mtime granularity and the once-a-second check
	rotated := t.TempDir()
	second, err := WriteDevCert(rotated, []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, second.CertFile, first.CertFile)
	copyFile(t, second.KeyFile, first.KeyFile)
	deadline := time.Now().Add(5 * time.Second)
	for {
		cert2, err := get(second.CAFile)
		if err == nil && !cert2.Equal(cert1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotated certificate not served: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A broken pair is refused and the working one stays.
	if err := os.WriteFile(first.KeyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload accepted a broken key")
	}
	if _, err := get(second.CAFile); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

func TestServerConfigRefusesOldTLS(t *testing.T) {
	cfg := ServerConfig(nil)
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("MinVersion = %x", cfg.MinVersion)
	}
	if _, err := ClientConfig("/nonexistent.pem", false); err == nil {
		t.Fatal("missing CA file accepted")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
