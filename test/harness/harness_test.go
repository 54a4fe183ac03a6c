package harness

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestMinIORestart checks the lifecycle the circuit-breaker tests rely on:
// data and address survive Stop and Start.
func TestMinIORestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO: skipped with -short")
	}
	Require(t, "minio")
	m := StartMinIO(t)
	ctx := t.Context()
	c := m.Client()
	if err := c.MakeBucket(ctx, "restart", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	body := RandomBytes(1000)
	if _, err := c.PutObject(ctx, "restart", "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(m.Endpoint() + "/minio/health/live"); err == nil {
		t.Fatal("MinIO still answers after Stop")
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, "restart", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, _, err := SHA256Reader(obj)
	if err != nil {
		t.Fatal(err)
	}
	if sum != SHA256Hex(body) {
		t.Fatal("object changed across restart")
	}
}

func TestParseLogLine(t *testing.T) {
	line := `{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"request","request_id":"r1","op":"PutObject","bucket":"b","key":"k/1.jpg","status":200,"bytes_in":"12","bytes_out":0,"duration_ms":1.5,"payload":"signed","checksum":"crc32"}`
	e, ok := parseLogLine([]byte(line))
	if !ok {
		t.Fatal("not parsed")
	}
	want := LogEntry{Time: "2026-01-01T00:00:00Z", Level: "INFO", Msg: "request", RequestID: "r1", Op: "PutObject",
		Bucket: "b", Key: "k/1.jpg", Status: 200, BytesIn: 12, DurationMS: 1.5, Payload: "signed", Checksum: "crc32"}
	if e.Fields["op"] != "PutObject" {
		t.Errorf("Fields not kept: %v", e.Fields)
	}
	e.Fields = nil
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got %+v\nwant %+v", e, want)
	}
	if _, ok := parseLogLine([]byte("WARNING: DATA RACE")); ok {
		t.Fatal("non-JSON line parsed")
	}
}

// TestWriteTestCert checks the certificate chain the TLS tests rely on: the
// server certificate verifies against the CA alone, for 127.0.0.1 and
// localhost, and is not itself a CA.
func TestWriteTestCert(t *testing.T) {
	tc, err := WriteTestCert(t.TempDir(), "cert.pem", "key.pem")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool, err := CertPool(tc.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if leaf.IsCA {
		t.Error("the server certificate is a CA")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), DNSName: "127.0.0.1"}); err == nil {
		t.Error("the server certificate verifies without its CA")
	}
}

// TestMinIOTLS checks MinIO serving HTTPS from --certs-dir: an https
// endpoint, a Client that trusts it, and a TLS handshake that fails
// without the CA.
func TestMinIOTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO: skipped with -short")
	}
	Require(t, "minio")
	m := StartMinIOTLS(t)
	if got := m.Endpoint(); got != "https://"+m.Addr() {
		t.Fatalf("Endpoint() = %s, want https://%s", got, m.Addr())
	}
	ctx := t.Context()
	if err := m.Client().MakeBucket(ctx, "tls", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket over HTTPS: %v", err)
	}
	body := RandomBytes(1000)
	if _, err := m.Client().PutObject(ctx, "tls", "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject over HTTPS: %v", err)
	}
	resp, err := m.HTTPClient().Get(m.Endpoint() + "/minio/health/live")
	if err != nil {
		t.Fatalf("health over HTTPS with the CA: %v", err)
	}
	resp.Body.Close()
	_, err = (&http.Client{Transport: &http.Transport{}}).Get(m.Endpoint() + "/minio/health/live")
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Errorf("health over HTTPS without the CA: %v, want a certificate verification error", err)
	}
	if _, err := os.Stat(filepath.Join(m.certsDir, "CAs", "ca.crt")); err != nil {
		t.Errorf("the CA is not in MinIO's CAs dir: %v", err)
	}
}
