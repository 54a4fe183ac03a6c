package e2e_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// TestGatewayTLS checks photogate's own HTTPS listeners, on the shared
// gateway that the client matrix's HTTPS tests (TestAWSCLIHTTPS and the
// others) also use: the S3 and admin listeners present the configured
// certificate, which verifies against the test CA for 127.0.0.1; the admin
// endpoints answer over HTTPS; and nothing answers in plain text or below
// TLS 1.2.
func TestGatewayTLS(t *testing.T) {
	t.Parallel()
	tg := getTLSTarget(t)
	tg.requireGateway(t)
	g := tg.Gateway
	pool, err := harness.CertPool(g.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	served := certOf(t, g.TLSCert().CertFile)
	adminAddr := strings.TrimPrefix(g.AdminEndpoint(), "https://")

	for name, addr := range map[string]string{"S3": g.Addr(), "admin": adminAddr} {
		// tls.Dial verifies the chain against the CA and the name against
		// the certificate's IP address.
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Errorf("%s listener: TLS handshake trusting the test CA: %v", name, err)
			continue
		}
		st := conn.ConnectionState()
		conn.Close()
		if !st.PeerCertificates[0].Equal(served) {
			t.Errorf("%s listener presents %q, not the certificate in PHOTOGATE_TLS_CERT", name, st.PeerCertificates[0].Subject)
		}

		// A client that trusts only the system roots must refuse it: the
		// certificate really comes from the test CA.
		conn, err = tls.Dial("tcp", addr, &tls.Config{ServerName: "127.0.0.1"})
		if err == nil {
			conn.Close()
			t.Errorf("%s listener: a client without the test CA completed the handshake", name)
		} else if verr := (*tls.CertificateVerificationError)(nil); !errors.As(err, &verr) {
			t.Errorf("%s listener: a client without the test CA failed with %v, want a certificate verification error", name, err)
		}

		conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS11})
		if err == nil {
			conn.Close()
			t.Errorf("%s listener accepted TLS 1.1", name)
		}

		// Plain HTTP on the TLS port is never served.
		resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s listener answered plain HTTP with %s, want 400 (client sent an HTTP request to an HTTPS server)", name, resp.Status)
			}
		}
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := g.HTTPClient().Get(g.AdminEndpoint() + path)
		if err != nil {
			t.Errorf("GET %s over HTTPS: %v", path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s over HTTPS: %s, want 200", path, resp.Status)
		}
	}
}

// TestTamperedTrailerHTTPS sends, over TLS to photogate's own listener,
// hand-built STREAMING-UNSIGNED-PAYLOAD-TRAILER uploads the way the AWS
// SDKs send them over HTTPS, with CRC32 and CRC64NVME trailers. With the
// right trailer the object is stored; a wrong trailer, or a body corrupted
// under the right one, fails the upload with 400 BadDigest and leaves no
// object in MinIO (checked directly). The body spans many chunks, so
// photogate is already streaming it to MinIO when the trailer arrives and
// must abort that request, not complete it.
func TestTamperedTrailerHTTPS(t *testing.T) {
	t.Parallel()
	tg := getTLSTarget(t)
	bucket := tg.makeBucket(t, "trailer-tls")
	body := harness.RandomBytes(1<<20 + 4321) // 17 chunks of 64 KiB

	nvme := crc64.MakeTable(0x9a6c9329ac4bc9b5) // CRC-64/NVME, reflected
	for _, c := range []struct {
		algo, trailer string
		sum           []byte
	}{
		{"CRC32", "x-amz-checksum-crc32", binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(body))},
		{"CRC64NVME", "x-amz-checksum-crc64nvme", binary.BigEndian.AppendUint64(nil, crc64.Checksum(body, nvme))},
	} {
		t.Run(strings.ToLower(c.algo), func(t *testing.T) {
			t.Parallel()
			prefix := "/" + bucket + "/" + strings.ToLower(c.algo) + "/"

			// Control: the right trailer is accepted, verified and
			// stripped with the framing.
			resp := tg.send(t, tg.unsignedTrailerRequestWith(t, prefix+"control.jpg", body, c.trailer, c.sum))
			if resp.Status != http.StatusOK {
				t.Fatalf("control: STREAMING-UNSIGNED-PAYLOAD-TRAILER PUT with the right %s over HTTPS: %d %s\n%s", c.algo, resp.Status, resp.Code, resp.Body)
			}
			tg.assertBackendObject(t, bucket, strings.ToLower(c.algo)+"/control.jpg", harness.SHA256Hex(body), int64(len(body)))
			if tg.Gateway != nil {
				e, ok := tg.Gateway.LogFor(resp.Header.Get("X-Amz-Request-Id"), 5*time.Second)
				if !ok || e.Payload != "streaming-unsigned-trailer" || !strings.EqualFold(e.Checksum, c.algo) {
					t.Errorf("control: photogate logged payload %q checksum %q (found %v), want streaming-unsigned-trailer %s: %s", e.Payload, e.Checksum, ok, c.algo, e)
				}
			}

			// S3 answers a checksum mismatch with BadDigest; MinIO, the
			// reference when it is the target, says
			// XAmzContentChecksumMismatch.
			want := "BadDigest"
			if tg.Gateway == nil {
				want = "XAmzContentChecksumMismatch"
			}
			wrong := bytes.Clone(c.sum)
			wrong[0] ^= 0x5a
			resp = tg.send(t, tg.unsignedTrailerRequestWith(t, prefix+"wrong-trailer.jpg", body, c.trailer, wrong))
			tg.expectS3Error(t, resp, http.StatusBadRequest, want)
			tg.assertBackendMissing(t, bucket, strings.ToLower(c.algo)+"/wrong-trailer.jpg")

			// The right trailer over a body corrupted in the ninth chunk.
			req := tg.unsignedTrailerRequestWith(t, prefix+"corrupt-body.jpg", body, c.trailer, c.sum)
			req.Body = &flipReader{r: req.Body, at: 8*(64<<10+9) + 1000}
			tg.expectS3Error(t, tg.send(t, req), http.StatusBadRequest, want)
			tg.assertBackendMissing(t, bucket, strings.ToLower(c.algo)+"/corrupt-body.jpg")

			// Still nothing, after any late completion could have landed.
			tg.logBarrier(t, bucket)
			tg.assertBackendMissing(t, bucket, strings.ToLower(c.algo)+"/wrong-trailer.jpg")
		})
	}
}

// certOf returns the leaf certificate in a PEM file.
func certOf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
