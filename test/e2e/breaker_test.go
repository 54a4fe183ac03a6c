package e2e_test

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// TestCircuitBreaker takes MinIO away from a running gateway and brings it
// back. While the backend is down the gateway must fail fast with 503 and
// Retry-After instead of piling up requests, stay alive, and recover on its
// own once MinIO returns. It runs its own MinIO and gateway so the outage
// does not hit the other tests.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	getTarget(t).requireGateway(t)
	m := harness.StartMinIO(t)
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: shared.binary, Backend: m})
	tg := &target{Endpoint: g.Endpoint(), Addr: g.Addr(), AccessKey: g.AccessKey(), SecretKey: g.SecretKey(), Backend: m, Gateway: g}
	ctx := t.Context()
	// Retries off: each call is exactly one request, so its latency and
	// status are the gateway's.
	c := tg.clientWith(t, g.AccessKey(), g.SecretKey(), 1)

	bucket := tg.makeBucket(t, "breaker")
	body := harness.RandomBytes(100_000)
	if _, err := c.PutObject(ctx, bucket, "before.jpg", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject before the outage: %v", err)
	}

	if err := m.Stop(); err != nil {
		t.Fatalf("stop MinIO: %v", err)
	}

	// Enough requests to trip any sensible failure threshold; every one of
	// them, the first included, must come back quickly.
	const fast = 2 * time.Second
	for i := range 10 {
		start := time.Now()
		_, err := c.BucketExists(ctx, bucket)
		took := time.Since(start)
		if _, status := errCode(err); status != http.StatusServiceUnavailable {
			t.Errorf("HeadBucket %d with MinIO down: %v, want 503", i+1, err)
		}
		if took > fast {
			t.Errorf("HeadBucket %d with MinIO down took %v, want < %v", i+1, took.Round(time.Millisecond), fast)
		}
	}

	start := time.Now()
	resp := do(t, tg.signedRequest(t, http.MethodGet, "/"+bucket+"/before.jpg", "", nil))
	if took := time.Since(start); took > fast {
		t.Errorf("GetObject with MinIO down took %v, want < %v", took.Round(time.Millisecond), fast)
	}
	if resp.Status != http.StatusServiceUnavailable || (resp.Code != "ServiceUnavailable" && resp.Code != "SlowDown") {
		t.Errorf("GetObject with MinIO down: %d %q, want 503 ServiceUnavailable or SlowDown\n%s", resp.Status, resp.Code, resp.Body)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" {
		t.Errorf("503 without Retry-After; headers %v", resp.Header)
	} else if n, err := strconv.Atoi(ra); err != nil || n < 0 {
		t.Errorf("Retry-After %q is not a non-negative integer", ra)
	}
	tg.checkLoggedStatus(t, resp)

	start = time.Now()
	_, err := c.PutObject(ctx, bucket, "during.jpg", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
	if took := time.Since(start); took > fast {
		t.Errorf("PutObject with MinIO down took %v, want < %v", took.Round(time.Millisecond), fast)
	}
	if _, status := errCode(err); status != http.StatusServiceUnavailable {
		t.Errorf("PutObject with MinIO down: %v, want 503", err)
	}

	// The gateway itself must still be alive.
	if h, err := http.Get(g.AdminEndpoint() + "/healthz"); err != nil || h.StatusCode != http.StatusOK {
		t.Errorf("/healthz with MinIO down: %v %v, want 200", h, err)
	} else {
		h.Body.Close()
	}
	if r, err := http.Get(g.AdminEndpoint() + "/readyz"); err == nil {
		t.Logf("/readyz with MinIO down: %s", r.Status)
		r.Body.Close()
	}

	if err := m.Start(); err != nil {
		t.Fatalf("restart MinIO: %v", err)
	}
	restarted := time.Now()
	recovered := waitFor(30*time.Second, 250*time.Millisecond, func() bool {
		ok, err := c.BucketExists(ctx, bucket)
		return err == nil && ok
	})
	if !recovered {
		_, err := c.BucketExists(ctx, bucket)
		t.Fatalf("gateway did not recover within 30s of MinIO's return; last HeadBucket: %v", err)
	}
	t.Logf("recovered %v after MinIO came back", time.Since(restarted).Round(time.Millisecond))

	obj, err := c.GetObject(ctx, bucket, "before.jpg", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if sum, _, err := harness.SHA256Reader(obj); err != nil || sum != harness.SHA256Hex(body) {
		t.Errorf("GetObject after recovery: sha256 %s (%v), want %s", sum, err, harness.SHA256Hex(body))
	}
	tg.assertBackendMissing(t, bucket, "during.jpg")
	if _, err := c.PutObject(ctx, bucket, "after.jpg", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Errorf("PutObject after recovery: %v", err)
	}
	if g.Pid() == 0 {
		t.Error("the gateway is not running any more")
	}
}
