package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sony/gobreaker/v2"

	"github.com/photogate/photogate/gateway/metrics"
	"github.com/photogate/photogate/gateway/sigv4"
)

// AdminConfig assembles the admin handler.
type AdminConfig struct {
	Gatherer prometheus.Gatherer // what /metrics exposes
	Ready    http.Handler        // /readyz, e.g. metrics.Ready over the checks
	API      http.Handler        // the token-protected /api/ routes; nil for none
}

// NewAdmin serves the unauthenticated operational endpoints: /healthz
// (liveness), /readyz (readiness, with each check's result) and /metrics,
// and mounts cfg.API (which does its own authentication) at /api/.
func NewAdmin(cfg AdminConfig) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /readyz", cfg.Ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	if cfg.API != nil {
		mux.Handle("/api/", cfg.API)
	}
	return mux
}

// Probe checks that the backend answers a signed request (ListBuckets),
// through the breaker so that readiness reflects what clients would see.
func (b *Backend) Probe(ctx context.Context) error {
	if b.breaker.State() == gobreaker.StateOpen {
		return errors.New("circuit breaker is open")
	}
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Header: http.Header{}}
	resp, err := b.Do(metrics.WithOperation(ctx, "ReadinessProbe"), req, sigv4.EmptySHA256, nil, nil)
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
