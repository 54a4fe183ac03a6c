//go:build unix

package resilience

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/test/harness"
)

// s3Do sends one SigV4-signed request straight to the gateway (no SDK, so
// no client-side retries hide what the gateway answered) and times it.
func s3Do(t *testing.T, g *harness.Gateway, method, path string, body []byte) (harness.S3Response, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := harness.SignedRequest(ctx, method, g.Endpoint()+path, body, g.AccessKey(), g.SecretKey())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp := harness.SendS3(t, http.DefaultClient, req)
	return resp, time.Since(start)
}

// TestHungBackendAnswersSlowDownAndRecovers: with MinIO frozen, every
// client request gets 503 SlowDown with Retry-After within 10 s (the time
// to first byte is bounded, and the breaker opens), and once MinIO runs
// again service returns without anyone touching photogate.
func TestHungBackendAnswersSlowDownAndRecovers(t *testing.T) {
	t.Parallel()
	suite.Require(t)
	m := harness.StartMinIO(t)
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: suite.Binary, Backend: m})
	bucket := harness.BucketName("hung")
	if r, _ := s3Do(t, g, http.MethodPut, "/"+bucket, nil); r.Status != http.StatusOK {
		t.Fatalf("CreateBucket: %v", r)
	}
	body := harness.RandomBytes(64 << 10)
	if r, _ := s3Do(t, g, http.MethodPut, "/"+bucket+"/before.jpg", body); r.Status != http.StatusOK {
		t.Fatalf("PutObject: %v", r)
	}

	m.Pause(t)
	const bound = 10 * time.Second
	requests := []struct{ method, path string }{
		{http.MethodGet, "/" + bucket + "/before.jpg"},
		{http.MethodPut, "/" + bucket + "/during.jpg"},
		{http.MethodGet, "/" + bucket + "?list-type=2"},
		{http.MethodHead, "/" + bucket + "/before.jpg"},
	}
	var lastTook time.Duration
	for round := range 3 { // enough failures to open the breaker
		for _, rq := range requests {
			var b []byte
			if rq.method == http.MethodPut {
				b = body
			}
			r, took := s3Do(t, g, rq.method, rq.path, b)
			lastTook = took
			t.Logf("round %d: %s %s with MinIO hung: %d %s in %v", round, rq.method, rq.path, r.Status, r.Code, took.Round(time.Millisecond))
			if r.Status != http.StatusServiceUnavailable {
				t.Errorf("round %d: %s %s with MinIO hung: %v, want 503", round, rq.method, rq.path, r)
			}
			if rq.method != http.MethodHead && r.Code != "SlowDown" && r.Code != "ServiceUnavailable" {
				t.Errorf("round %d: %s %s: code %q, want SlowDown (or ServiceUnavailable once the breaker is open)", round, rq.method, rq.path, r.Code)
			}
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("round %d: %s %s: 503 without Retry-After", round, rq.method, rq.path)
			}
			if took > bound {
				// Seen for the first PUT: the gateway settles the write
				// intent of an upload whose answer was lost with a HEAD,
				// which waits a second response_timeout.
				t.Errorf("round %d: %s %s took %v with MinIO hung, want < %v", round, rq.method, rq.path, took.Round(time.Millisecond), bound)
			}
		}
	}
	// By now the breaker is open: refusals are immediate.
	if lastTook > time.Second {
		t.Errorf("the last request with MinIO hung took %v: the breaker did not open", lastTook.Round(time.Millisecond))
	}

	m.Resume(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, _ := s3Do(t, g, http.MethodGet, "/"+bucket+"/before.jpg", nil)
		if r.Status == http.StatusOK {
			if !bytes.Equal(r.Body, body) {
				t.Fatalf("GetObject after the hang returned %d bytes, want the %d uploaded", len(r.Body), len(body))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not return within 60 s of SIGCONT: last answer %v", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if r, _ := s3Do(t, g, http.MethodPut, "/"+bucket+"/after.jpg", body); r.Status != http.StatusOK {
		t.Errorf("PutObject after recovery: %v", r)
	}
}

// TestWrongBackendCredentials: photogate started with a wrong backend
// secret says so at start and on every refused request, answers clients
// 503 ServiceUnavailable (their own key is fine), and /readyz says why.
func TestWrongBackendCredentials(t *testing.T) {
	t.Parallel()
	suite.Require(t)
	m := harness.StartMinIO(t)
	g := harness.StartGateway(t, harness.GatewayOptions{
		Binary:           suite.Binary,
		BackendEndpoint:  m.Endpoint(),
		BackendAccessKey: m.AccessKey(),
		BackendSecretKey: "not-the-minio-secret-" + harness.RandomString(8),
	})
	const named = "photogate's credentials"
	if !strings.Contains(g.Stderr(), named) {
		t.Errorf("the start log does not name the backend credentials as the problem:\n%s", g.Stderr())
	}
	before := strings.Count(g.Stderr(), named)

	bucket := harness.BucketName("creds")
	for _, rq := range []struct{ method, path string }{
		{http.MethodPut, "/" + bucket},
		{http.MethodGet, "/" + bucket + "/x.jpg"},
	} {
		r, _ := s3Do(t, g, rq.method, rq.path, nil)
		if r.Status != http.StatusServiceUnavailable || r.Code != "ServiceUnavailable" {
			t.Errorf("%s %s with wrong backend credentials: %v, want 503 ServiceUnavailable", rq.method, rq.path, r)
		}
		if strings.Contains(r.Message, "Check your key") || r.Code == "SignatureDoesNotMatch" {
			t.Errorf("%s %s: the client is blamed for photogate's credential: %v", rq.method, rq.path, r)
		}
	}
	waitFor(t, 5*time.Second, func() bool { return strings.Count(g.Stderr(), named) >= before+2 },
		"a log line naming photogate's backend credentials for each refused request")

	resp, err := http.Get(g.AdminEndpoint() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(raw), "credentials") {
		t.Errorf("/readyz = %d %s, want 503 naming the credentials", resp.StatusCode, raw)
	}
}

// TestCheckWithBackendStopped: `photogate check` while MinIO is down tells
// the operator the backend is unavailable, not "internal error".
func TestCheckWithBackendStopped(t *testing.T) {
	t.Parallel()
	suite.Require(t)
	m := harness.StartMinIO(t)
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: suite.Binary, Backend: m})
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.Binary, "check", "--admin-url", g.AdminEndpoint())
	cmd.Env = harness.ClientEnv(t.TempDir(), "PHOTOGATE_ADMIN_TOKEN="+g.AdminToken())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("photogate check succeeded with MinIO stopped:\n%s", out)
	}
	msg := string(out)
	if !strings.Contains(strings.ToLower(msg), "backend is unavailable") || strings.Contains(strings.ToLower(msg), "internal error") {
		t.Errorf("photogate check with MinIO stopped said:\n%s\nwant a clear backend-unavailable message", msg)
	}
}

func waitFor(t *testing.T, timeout time.Duration, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("timed out after %v waiting for %s", timeout, what)
			return
		}
	}
}
