package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/test/harness"
)

// TestClientFaultsDoNotOpenTheBreaker: uploads cut off because the
// client's body failed its checks say nothing about the backend, so more
// of them than the breaker's failure threshold (3) leave it closed.
func TestClientFaultsDoNotOpenTheBreaker(t *testing.T) {
	eachBackend(t, stackOptions{}, func(t *testing.T, s *stack) {
		s.bucket(t, "faults")
		data := harness.RandomBytes(200 << 10)
		for range 5 {
			req, _ := http.NewRequest(http.MethodPut, s.front.URL+"/faults/k", bytes.NewReader(data))
			req.ContentLength = int64(len(data))
			signed := signer.StreamingSignV4(req, userKey, userSecret, "", "us-east-1", int64(len(data)), time.Now().UTC(), sha256Hasher{sha256.New()})
			signed.Body = io.NopCloser(&flipAt{r: signed.Body, at: 150 << 10})
			resp, err := http.DefaultClient.Do(signed)
			if err != nil {
				t.Fatal(err)
			}
			if code := s3Code(t, resp); code != "SignatureDoesNotMatch" {
				t.Fatalf("tampered upload: %d %s", resp.StatusCode, code)
			}
		}
		if got := s.backend.BreakerState().String(); got != "closed" {
			t.Fatalf("breaker %s after client faults only, want closed", got)
		}
		req, _ := http.NewRequest(http.MethodHead, s.front.URL+"/faults/", nil)
		if resp := signedDo(t, req); resp.StatusCode != http.StatusOK {
			t.Fatalf("HEAD bucket after client faults: %d", resp.StatusCode)
		}
	})
}

// TestVirtualHostStyle: a bucket named in the Host header reaches the same
// object as path style (photogate addresses its backend path-style).
func TestVirtualHostStyle(t *testing.T) {
	eachBackend(t, stackOptions{baseDomains: []string{"s3.photos.test"}}, func(t *testing.T, s *stack) {
		s.bucket(t, "vhost")
		data := harness.RandomBytes(33 << 10)
		port := s.front.Listener.Addr().(*net.TCPAddr).Port
		put := signedPayloadRequest(t, http.MethodPut, s.front.URL+"/dir/v.jpg", data)
		put.Host = fmt.Sprintf("vhost.s3.photos.test:%d", port)
		if resp := signedDo(t, put); resp.StatusCode != http.StatusOK {
			t.Fatalf("virtual-host PUT: %d %s", resp.StatusCode, s3Code(t, resp))
		}
		if got, ok := s.stored(t, "vhost", "dir/v.jpg"); !ok || !bytes.Equal(got, data) {
			t.Fatalf("the backend holds %d bytes under vhost/dir/v.jpg, want the %d sent", len(got), len(data))
		}
		get, _ := http.NewRequest(http.MethodGet, s.front.URL+"/vhost/dir/v.jpg", nil)
		if resp := signedDo(t, get); !bytes.Equal(readBody(t, resp), data) {
			t.Fatalf("path-style GET of the virtual-host PUT: %d", resp.StatusCode)
		}
		other, _ := http.NewRequest(http.MethodGet, s.front.URL+"/dir/v.jpg", nil)
		other.Host = fmt.Sprintf("vhost.elsewhere.test:%d", port)
		if resp := signedDo(t, other); resp.StatusCode == http.StatusOK {
			t.Fatal("a Host outside the base domains was taken as a bucket")
		}
	})
}
