package observability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/photogate/photogate/test/harness"
)

type readiness struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"checks"`
}

func ready(t *testing.T, admin string) (int, readiness) {
	t.Helper()
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, r
}

func TestLiveWorkloadMetricsAndReadiness(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs MinIO and the photogate binary")
	}
	ctx := context.Background()
	m := harness.StartMinIO(t)
	bin, err := harness.BuildGateway(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: bin, Backend: m,
		Env: []string{"PHOTOGATE_BACKEND_BREAKER_FAILURES=3", "PHOTOGATE_BACKEND_BREAKER_OPEN=30s"}})
	c, err := minio.New(g.Addr(), &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey(), g.SecretKey(), ""), MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if code, r := ready(t, g.AdminEndpoint()); code != 200 || r.Status != "ok" {
		t.Fatalf("readyz before the workload: %d %+v", code, r)
	}
	if err := c.MakeBucket(ctx, "obs", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	before := g.Metrics(t)

	sizes := []int{1000, 20000, 300000}
	total := 0
	for i, n := range sizes {
		total += n
		if _, err := c.PutObject(ctx, "obs", "k"+strconv.Itoa(i), bytes.NewReader(harness.RandomBytes(n)), int64(n),
			minio.PutObjectOptions{DisableMultipart: true}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		obj, err := c.GetObject(ctx, "obs", "k1", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := obj.Stat(); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(obj)
		obj.Close()
	}
	if err := c.RemoveObject(ctx, "obs", "k0", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StatObject(ctx, "obs", "missing", minio.StatObjectOptions{}); err == nil {
		t.Fatal("missing object found")
	}

	after := g.Metrics(t)
	delta := func(series string) float64 { return after[series] - before[series] }
	for series, want := range map[string]float64{
		`photogate_s3_requests_total{code="200",operation="PutObject"}`:         3,
		`photogate_s3_requests_total{code="200",operation="GetObject"}`:         2,
		`photogate_s3_requests_total{code="204",operation="DeleteObject"}`:      1,
		`photogate_s3_requests_total{code="404",operation="HeadObject"}`:        1,
		`photogate_backend_requests_total{operation="PutObject",outcome="2xx"}`: 3,
		`photogate_s3_received_bytes_total{operation="PutObject"}`:              float64(total),
		`photogate_s3_sent_bytes_total{operation="GetObject"}`:                  2 * 20000,
		`photogate_index_commit_duration_seconds_count`:                         8, // intent + record for 3 PUTs and 1 DELETE
	} {
		if got := delta(series); got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
	if got := after[`photogate_index_objects{bucket="obs"}`]; got != 2 {
		t.Errorf("index_objects{obs} = %v, want 2", got)
	}
	if got := after[`photogate_backend_breaker_state`]; got != 0 {
		t.Errorf("breaker state %v before the outage, want 0 (closed)", got)
	}

	// The backend goes away: requests fail fast, the breaker opens and
	// readiness names the backend check.
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		_, _ = c.BucketExists(ctx, "obs")
	}
	code, r := ready(t, g.AdminEndpoint())
	if code != http.StatusServiceUnavailable || r.Checks["backend"].Status != "fail" || r.Checks["index"].Status != "ok" {
		t.Fatalf("readyz with MinIO down: %d %+v", code, r)
	}
	down := g.Metrics(t)
	if down[`photogate_backend_breaker_state`] != 2 || down[`photogate_ready`] != 0 || down[`photogate_readiness_check{check="backend"}`] != 0 {
		t.Errorf("with MinIO down: breaker %v ready %v backend check %v; want 2, 0, 0",
			down[`photogate_backend_breaker_state`], down[`photogate_ready`], down[`photogate_readiness_check{check="backend"}`])
	}
	if down[`photogate_backend_breaker_transitions_total{from="closed",to="open"}`] < 1 {
		t.Error("no closed→open transition counted")
	}
}

func TestReadinessFailsBelowTheDiskThreshold(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs the photogate binary")
	}
	bin, err := harness.BuildGateway(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Embedded backend; no real disk is this large, so the check must fail.
	g := harness.StartGateway(t, harness.GatewayOptions{Binary: bin, Env: []string{"PHOTOGATE_MIN_FREE_DISK=1000000TiB"}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, r := ready(t, g.AdminEndpoint())
		if code == http.StatusServiceUnavailable && r.Checks["disk"].Status == "fail" && r.Checks["backend"].Status == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz with a 1000000 TiB free-space threshold: %d %+v", code, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp, err := http.Get(g.AdminEndpoint() + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatal("liveness must stay up while readiness fails")
	}
}
