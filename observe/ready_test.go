package observe

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type discardResponse struct{}

func (discardResponse) Header() http.Header         { return http.Header{} }
func (discardResponse) Write(p []byte) (int, error) { return len(p), nil }
func (discardResponse) WriteHeader(int)             {}

func readyRequest() *http.Request { return httptest.NewRequest(http.MethodGet, "/readyz", nil) }

func ok(context.Context) error { return nil }

func failing(msg string) func(context.Context) error {
	return func(context.Context) error { return errors.New(msg) }
}

// serveReady runs h once and decodes the answer.
func serveReady(t *testing.T, h http.Handler) (int, ReadyResponse, time.Duration) {
	t.Helper()
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, readyRequest())
	took := time.Since(start)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var resp ReadyResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, resp, took
}

func TestReadyAllOK(t *testing.T) {
	code, resp, _ := serveReady(t, Ready([]Check{
		{Name: "backend", Required: true, Run: ok},
		{Name: "index", Required: true, Run: ok},
		{Name: "disk", Run: ok},
	}, time.Second))
	if code != 200 || resp.Status != "ok" || len(resp.Checks) != 3 {
		t.Fatalf("code %d, %+v", code, resp)
	}
	for name, c := range resp.Checks {
		if c.Status != "ok" || c.Error != "" || c.LatencyMS < 0 {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if !resp.Checks["backend"].Required || resp.Checks["disk"].Required {
		t.Errorf("required flags wrong: %+v", resp.Checks)
	}
}

func TestReadyRawJSONShape(t *testing.T) {
	rec := httptest.NewRecorder()
	Ready([]Check{{Name: "backend", Required: true, Run: failing("down")}}, time.Second).ServeHTTP(rec, readyRequest())
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	checks := raw["checks"].(map[string]any)
	backend := checks["backend"].(map[string]any)
	for _, k := range []string{"status", "latency_ms", "error", "required"} {
		if _, ok := backend[k]; !ok {
			t.Errorf("check lacks %q: %s", k, rec.Body.String())
		}
	}
	if raw["status"] != "fail" || backend["status"] != "fail" || backend["error"] != "down" {
		t.Errorf("body %s", rec.Body.String())
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("readiness answers must not be cached")
	}
}

func TestReadyRequiredFailure(t *testing.T) {
	code, resp, _ := serveReady(t, Ready([]Check{
		{Name: "backend", Required: true, Run: failing("backend answered ListBuckets with 500")},
		{Name: "index", Required: true, Run: ok},
	}, time.Second))
	if code != http.StatusServiceUnavailable || resp.Status != "fail" {
		t.Fatalf("code %d status %q, want 503 fail", code, resp.Status)
	}
	if c := resp.Checks["backend"]; c.Status != "fail" || !strings.Contains(c.Error, "500") {
		t.Errorf("backend: %+v", c)
	}
	if c := resp.Checks["index"]; c.Status != "ok" {
		t.Errorf("index: %+v", c)
	}
}

func TestReadyOptionalFailureStaysReady(t *testing.T) {
	code, resp, _ := serveReady(t, Ready([]Check{
		{Name: "backend", Required: true, Run: ok},
		{Name: "disk", Required: false, Run: failing("data dir: 2.0% free")},
	}, time.Second))
	if code != http.StatusOK || resp.Status != "ok" {
		t.Fatalf("code %d status %q, want 200 ok", code, resp.Status)
	}
	if c := resp.Checks["disk"]; c.Status != "fail" || c.Error == "" {
		t.Errorf("disk: %+v", c)
	}
}

func TestReadyTimeout(t *testing.T) {
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	ignoresCtx := func(context.Context) error { time.Sleep(2 * time.Second); return nil }
	h := Ready([]Check{
		{Name: "backend", Required: true, Run: hang},
		{Name: "stuck", Required: false, Run: ignoresCtx},
		{Name: "index", Required: true, Run: ok},
	}, 100*time.Millisecond)
	code, resp, took := serveReady(t, h)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("code %d, want 503", code)
	}
	if took > time.Second {
		t.Fatalf("handler took %v with a 100ms timeout", took)
	}
	if c := resp.Checks["backend"]; c.Status != "fail" {
		t.Errorf("backend: %+v", c)
	}
	if c := resp.Checks["stuck"]; c.Status != "fail" || !strings.Contains(c.Error, "timed out") {
		t.Errorf("stuck: %+v", c)
	}
	if c := resp.Checks["index"]; c.Status != "ok" {
		t.Errorf("index: %+v", c)
	}
	// The stuck check is still running: the next round must not start a
	// second copy of it.
	_, resp, _ = serveReady(t, h)
	if c := resp.Checks["stuck"]; c.Status != "fail" || !strings.Contains(c.Error, "previous run") {
		t.Errorf("second round, stuck: %+v", c)
	}
}

func TestReadyChecksRunConcurrently(t *testing.T) {
	var running, peak atomic.Int32
	slow := func(context.Context) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(150 * time.Millisecond)
		running.Add(-1)
		return nil
	}
	code, _, took := serveReady(t, Ready([]Check{
		{Name: "a", Required: true, Run: slow},
		{Name: "b", Required: true, Run: slow},
		{Name: "c", Required: true, Run: slow},
	}, 2*time.Second))
	if code != 200 {
		t.Fatalf("code %d", code)
	}
	// The peak proves concurrency; the time is only a loose sanity
	// bound, as a loaded CI machine stretches sleeps.
	if peak.Load() != 3 || took > 2*time.Second {
		t.Fatalf("peak concurrency %d, took %v: checks did not run side by side", peak.Load(), took)
	}
}

func TestReadyPanickingCheck(t *testing.T) {
	code, resp, _ := serveReady(t, Ready([]Check{
		{Name: "index", Required: true, Run: func(context.Context) error { panic("nil store") }},
	}, time.Second))
	if code != 503 || !strings.Contains(resp.Checks["index"].Error, "panicked") {
		t.Fatalf("code %d, %+v", code, resp)
	}
}

func TestReadyRedactsErrors(t *testing.T) {
	_, resp, _ := serveReady(t, Ready([]Check{
		{Name: "backend", Required: true, Run: failing(`Get "http://minio:s3cr3tpassw0rd@minio:9000/": dial tcp: connection refused`)},
	}, time.Second))
	if e := resp.Checks["backend"].Error; strings.Contains(e, "s3cr3t") || !strings.Contains(e, "REDACTED@minio:9000") {
		t.Fatalf("error not redacted: %q", e)
	}
}

func TestReadyExportsGauges(t *testing.T) {
	m, reg := newTest(t)
	if _, found := find(t, reg, "photogate_ready", nil); found {
		t.Fatal("photogate_ready exported before any /readyz round")
	}
	var backendUp atomic.Bool
	backendUp.Store(true)
	h := m.Ready([]Check{
		BackendProbe(func(context.Context) error {
			if backendUp.Load() {
				return nil
			}
			return errors.New("down")
		}),
		IndexProbe(ok),
		{Name: "disk", Run: failing("full")},
	}, time.Second)
	before := float64(time.Now().Unix())
	if code, _, _ := serveReady(t, h); code != 200 {
		t.Fatalf("code %d", code)
	}
	if v := value(t, reg, "photogate_ready", nil); v != 1 {
		t.Errorf("photogate_ready = %v, want 1", v)
	}
	for check, want := range map[string]float64{"backend": 1, "index": 1, "disk": 0} {
		if v := value(t, reg, "photogate_readiness_check", lbl("check", check)); v != want {
			t.Errorf("readiness_check{%s} = %v, want %v", check, v, want)
		}
	}
	if v := value(t, reg, "photogate_readiness_last_run_timestamp_seconds", nil); v < before {
		t.Errorf("last run timestamp %v before %v", v, before)
	}
	backendUp.Store(false)
	if code, _, _ := serveReady(t, h); code != 503 {
		t.Fatalf("code %d, want 503", code)
	}
	if v := value(t, reg, "photogate_ready", nil); v != 0 {
		t.Errorf("photogate_ready = %v, want 0", v)
	}
	if v := value(t, reg, "photogate_readiness_check", lbl("check", "backend")); v != 0 {
		t.Errorf("readiness_check{backend} = %v, want 0", v)
	}
}

func TestReadyRejectsBadChecks(t *testing.T) {
	for name, checks := range map[string][]Check{
		"no name":   {{Run: ok}},
		"no run":    {{Name: "x"}},
		"duplicate": {{Name: "x", Run: ok}, {Name: "x", Run: ok}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			Ready(checks, 0)
		}()
	}
}

func TestReadyNoChecks(t *testing.T) {
	code, resp, _ := serveReady(t, Ready(nil, 0))
	if code != 200 || resp.Status != "ok" {
		t.Fatalf("code %d %+v", code, resp)
	}
}

func TestReadyProberHangingUpDoesNotFailChecks(t *testing.T) {
	m, reg := newTest(t)
	h := m.Ready([]Check{{Name: "backend", Required: true, Run: func(ctx context.Context) error {
		select {
		case <-time.After(50 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}}, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the prober is already gone
	h.ServeHTTP(httptest.NewRecorder(), readyRequest().WithContext(ctx))
	if v := value(t, reg, "photogate_readiness_check", lbl("check", "backend")); v != 1 {
		t.Fatalf("readiness_check{backend} = %v after the prober hung up, want 1", v)
	}
}
