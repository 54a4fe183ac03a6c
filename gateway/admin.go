package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sony/gobreaker/v2"

	"github.com/photogate/photogate/gateway/sigv4"
)

// AdminConfig assembles the admin handler.
type AdminConfig struct {
	Backend *Backend
	Logger  *slog.Logger
	Version string
	API     http.Handler // the token-protected /api/ routes; nil for none
}

// NewAdmin serves the unauthenticated operational endpoints: /healthz
// (liveness), /readyz (readiness, with each check's result) and /metrics,
// and mounts cfg.API (which does its own authentication) at /api/.
func NewAdmin(cfg AdminConfig) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ready(w, r, cfg.Backend)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if cfg.API != nil {
		mux.Handle("/api/", cfg.API)
	}
	return mux
}

type checkResult struct {
	Status    string  `json:"status"` // ok or fail
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

func ready(w http.ResponseWriter, r *http.Request, b *Backend) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]checkResult{"backend": timed(func() error { return b.Probe(ctx) })}
	status := http.StatusOK
	overall := "ok"
	for _, c := range checks {
		if c.Status != "ok" {
			status, overall = http.StatusServiceUnavailable, "fail"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": overall, "checks": checks})
}

func timed(check func() error) checkResult {
	start := time.Now()
	err := check()
	res := checkResult{Status: "ok", LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		res.Status, res.Error = "fail", err.Error()
	}
	return res
}

// Probe checks that the backend answers a signed request (ListBuckets),
// through the breaker so that readiness reflects what clients would see.
func (b *Backend) Probe(ctx context.Context) error {
	if b.breaker.State() == gobreaker.StateOpen {
		return errors.New("circuit breaker is open")
	}
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Header: http.Header{}}
	resp, err := b.Do(ctx, req, sigv4.EmptySHA256, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("backend answered ListBuckets with %d", resp.StatusCode)
	}
	return nil
}
