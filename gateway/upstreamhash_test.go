package gateway_test

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/photogate/photogate/test/harness"
)

// TestSignedPayloadIsHashedOnce: photogate verifies the SHA-256 a client
// signed (holding back the body's end until it matches), so the backend is
// sent UNSIGNED-PAYLOAD rather than being made to hash every byte again
// (issue 17: the second SHA-256 was most of MinIO's CPU per large PUT).
// The object must still land byte for byte, and a wrong hash must still
// land nothing (TestWrongSignedPayloadHashLeavesNoObject).
func TestSignedPayloadIsHashedOnce(t *testing.T) {
	for _, kind := range allBackends {
		t.Run(kind.name, func(t *testing.T) {
			var mu sync.Mutex
			var sent []string
			recording := backendKind{kind.name, func(t *testing.T) *origin {
				o := kind.start(t)
				target, err := url.Parse(o.endpoint)
				if err != nil {
					t.Fatal(err)
				}
				// Forwarded as received: httputil.ReverseProxy would add to
				// X-Forwarded-For, which photogate signs.
				front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPut {
						mu.Lock()
						sent = append(sent, r.Header.Get("X-Amz-Content-Sha256"))
						mu.Unlock()
					}
					out := r.Clone(r.Context())
					out.RequestURI, out.URL.Scheme, out.URL.Host = "", target.Scheme, target.Host
					resp, err := http.DefaultTransport.RoundTrip(out)
					if err != nil {
						http.Error(w, err.Error(), http.StatusBadGateway)
						return
					}
					defer resp.Body.Close()
					maps.Copy(w.Header(), resp.Header)
					w.WriteHeader(resp.StatusCode)
					_, _ = io.Copy(w, resp.Body)
				}))
				t.Cleanup(front.Close)
				o.endpoint = front.URL
				return o
			}}
			s := newStack(t, recording, stackOptions{})
			s.bucket(t, "once")
			mu.Lock()
			sent = nil
			mu.Unlock()

			data := harness.RandomBytes(300 << 10)
			resp := signedDo(t, signedPayloadRequest(t, http.MethodPut, s.front.URL+"/once/k", data))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("signed-payload PUT: %d %s", resp.StatusCode, readBody(t, resp))
			}
			resp.Body.Close()
			if got, ok := s.stored(t, "once", "k"); !ok || !bytes.Equal(got, data) {
				t.Fatalf("stored %v, %d bytes; want the %d bytes sent", ok, len(got), len(data))
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sent) != 1 || sent[0] != "UNSIGNED-PAYLOAD" {
				t.Fatalf("the backend was sent x-amz-content-sha256 %q; want one PUT with UNSIGNED-PAYLOAD", sent)
			}
		})
	}
}
