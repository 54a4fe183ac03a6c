package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/gateway"
	"github.com/photogate/photogate/observe"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(readBody(t, resp))
}

// TestAdminEndpoints serves the admin handler as the binary wires it: over
// the stack's metrics, with readiness probing the backend, and an API
// behind SignedAdmin.
func TestAdminEndpoints(t *testing.T) {
	s := newStack(t, embeddedKind, stackOptions{policy: readerAndFullAccess(t)})
	signed := gateway.SignedAdmin(s.policy)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := signed(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, "admitted")
	})
	admin := httptest.NewServer(gateway.NewAdmin(gateway.AdminConfig{
		Gatherer: s.metrics,
		Ready:    s.observe.Ready([]observe.Check{observe.BackendProbe(s.backend.Probe)}, 2*time.Second),
		API:      api,
	}))
	t.Cleanup(admin.Close)

	if code, body := get(t, admin.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, admin.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with the backend up: %d %s", code, body)
	}

	s.bucket(t, "metered")
	put, _ := http.NewRequest(http.MethodPut, s.front.URL+"/metered/k", strings.NewReader("abc"))
	if resp := signedDo(t, put); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, s3Code(t, resp))
	}
	_, metrics := get(t, admin.URL+"/metrics")
	for _, want := range []string{
		`photogate_s3_requests_total{code="200",operation="PutObject"} 1`,
		`photogate_s3_received_bytes_total{operation="PutObject"} 3`,
		`photogate_backend_requests_total{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	apiAs := func(accessKey, secretKey string) int {
		req, _ := http.NewRequest(http.MethodGet, admin.URL+"/api/stats", nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		resp, err := http.DefaultClient.Do(signer.SignV4(*req, accessKey, secretKey, "", "us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := apiAs(userKey, userSecret); code != http.StatusOK {
		t.Errorf("the admin user's signed API call: %d, want 200", code)
	}
	for name, creds := range map[string][2]string{
		"a user without the admin grant": {readerKey, readerSecret},
		"a wrong secret":                 {userKey, "not-the-secret"},
	} {
		if code := apiAs(creds[0], creds[1]); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	if code, _ := get(t, admin.URL+"/api/stats"); code != http.StatusForbidden {
		t.Errorf("an unsigned API call: %d, want 403", code)
	}

	if err := s.origin.down(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, admin.URL+"/readyz"); code == http.StatusOK {
		t.Fatalf("/readyz with the backend down: %d %s", code, body)
	}
}
