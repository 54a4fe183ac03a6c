package gateway

import (
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminConfig assembles the admin handler.
type AdminConfig struct {
	Gatherer prometheus.Gatherer // what /metrics exposes
	Ready    http.Handler        // /readyz, e.g. observe.Ready over the checks
	API      http.Handler        // the token-protected /api/ routes; nil for none
	// Gallery, when set, serves /gallery/ (it does its own sign-in), and
	// / redirects there.
	Gallery http.Handler
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
	if cfg.Gallery != nil {
		mux.Handle("/gallery/", cfg.Gallery)
		mux.Handle("GET /{$}", http.RedirectHandler("/gallery/", http.StatusFound))
	}
	return mux
}
