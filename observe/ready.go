package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Check is one readiness check. A failing Required check makes /readyz
// answer 503, which takes the instance out of load balancing; an optional
// one is reported (and alerted on through photogate_readiness_check) but
// leaves the instance in service.
type Check struct {
	Name     string
	Required bool
	// Run returns nil when the dependency is usable. It must honour ctx:
	// Ready gives up on it at the timeout, and does not start it again
	// while a previous run is still going.
	Run func(ctx context.Context) error
}

// DefaultReadyTimeout bounds a readiness round when Ready is given 0.
const DefaultReadyTimeout = 2 * time.Second

// maxErrorLen keeps one failing check from producing a huge answer.
const maxErrorLen = 512

// CheckResult is one check's entry in the /readyz answer.
type CheckResult struct {
	Status    string  `json:"status"` // ok or fail
	Required  bool    `json:"required"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// ReadyResponse is the /readyz answer.
type ReadyResponse struct {
	Status string                 `json:"status"` // ok, or fail when a required check failed
	Checks map[string]CheckResult `json:"checks"`
}

// Ready returns the /readyz handler: it runs checks concurrently, each
// bounded by timeout (0: DefaultReadyTimeout), and answers ReadyResponse as
// JSON with 200, or 503 when a required check failed or timed out.
//
// Keep timeout below the prober's own (Kubernetes' timeoutSeconds defaults
// to 1 s): a probe that gives up first sees a failure whatever the checks say.
func Ready(checks []Check, timeout time.Duration) http.Handler {
	return newReadyHandler(checks, timeout, nil)
}

// Ready is the package-level Ready that also exports each round's result:
// photogate_ready, photogate_readiness_check{check} and
// photogate_readiness_last_run_timestamp_seconds. The gauges appear with the
// first round, so an instance nothing probes does not claim a state.
func (m *Metrics) Ready(checks []Check, timeout time.Duration) http.Handler {
	if m == nil {
		return Ready(checks, timeout)
	}
	return newReadyHandler(checks, timeout, m.ready)
}

type readyHandler struct {
	checks  []Check
	running []atomic.Bool // per check: a run from an earlier round has not returned
	timeout time.Duration
	metrics *readyMetrics
	redact  *redactor
}

func newReadyHandler(checks []Check, timeout time.Duration, rm *readyMetrics) *readyHandler {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	seen := map[string]bool{}
	for _, c := range checks {
		if c.Name == "" || c.Run == nil {
			panic("metrics.Ready: a check needs a Name and a Run")
		}
		if seen[c.Name] {
			panic("metrics.Ready: duplicate check " + c.Name)
		}
		seen[c.Name] = true
	}
	return &readyHandler{
		checks:  append([]Check(nil), checks...),
		running: make([]atomic.Bool, len(checks)),
		timeout: timeout,
		metrics: rm,
		redact:  newRedactor(),
	}
}

// errStillRunning reports a check whose previous run ignored its deadline.
// Starting it again would pile up goroutines (and load on a struggling
// dependency) with every probe.
var errStillRunning = errors.New("previous run has not finished")

func (h *readyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, ok := h.run(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(resp)
	}
}

// run performs one round and reports whether every required check passed.
func (h *readyHandler) run(parent context.Context) (ReadyResponse, bool) {
	// The round runs to its own timeout even if the prober hangs up first
	// (a kubelet with a shorter timeoutSeconds): the gauges then record
	// what the checks found, not a cancellation dressed up as a failure.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), h.timeout)
	defer cancel()
	type done struct {
		i   int
		err error
		d   time.Duration
	}
	// Buffered for every check: a check that returns after the round
	// ended must not block on a channel nobody reads any more.
	results := make(chan done, len(h.checks))
	start := time.Now()
	pending := make(map[int]bool, len(h.checks))
	for i, c := range h.checks {
		if !h.running[i].CompareAndSwap(false, true) {
			results <- done{i: i, err: errStillRunning}
			pending[i] = true
			continue
		}
		pending[i] = true
		go func() {
			defer h.running[i].Store(false)
			t0 := time.Now()
			err := safeRun(ctx, c.Run)
			results <- done{i: i, err: err, d: time.Since(t0)}
		}()
	}

	resp := ReadyResponse{Status: "ok", Checks: make(map[string]CheckResult, len(h.checks))}
	record := func(i int, err error, d time.Duration) {
		c := h.checks[i]
		res := CheckResult{Status: "ok", Required: c.Required, LatencyMS: float64(d.Microseconds()) / 1000}
		if err != nil {
			res.Status, res.Error = "fail", h.redact.clean(err.Error(), maxErrorLen)
		}
		resp.Checks[c.Name] = res
		delete(pending, i)
	}
wait:
	for len(pending) > 0 {
		select {
		case d := <-results:
			record(d.i, d.err, d.d)
		case <-ctx.Done():
			break wait
		}
	}
	// Collect what finished in the same instant as the deadline, then
	// fail the rest.
	for len(pending) > 0 {
		select {
		case d := <-results:
			record(d.i, d.err, d.d)
			continue
		default:
		}
		for i := range pending {
			record(i, fmt.Errorf("timed out after %v", h.timeout), time.Since(start))
		}
	}

	ok := true
	for _, c := range h.checks {
		res := resp.Checks[c.Name]
		if res.Status != "ok" && c.Required {
			ok = false
		}
		if h.metrics != nil {
			h.metrics.checks.WithLabelValues(c.Name).Set(boolFloat(res.Status == "ok"))
		}
	}
	if !ok {
		resp.Status = "fail"
	}
	if h.metrics != nil {
		h.metrics.ready.WithLabelValues().Set(boolFloat(ok))
		h.metrics.lastRun.WithLabelValues().Set(float64(time.Now().UnixNano()) / 1e9)
	}
	return resp, ok
}

// safeRun turns a panicking check into a failed one: readiness must keep
// answering whatever a dependency's client does.
func safeRun(ctx context.Context, run func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check panicked: %v", p)
		}
	}()
	return run(ctx)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// readyMetrics are the readiness gauges. They are vectors (photogate_ready
// and the timestamp with no labels) so that nothing is exported before the
// first round: a plain gauge would read 0, "not ready", on an instance
// that simply has no prober.
type readyMetrics struct {
	ready   *prometheus.GaugeVec
	checks  *prometheus.GaugeVec
	lastRun *prometheus.GaugeVec
}

func newReadyMetrics() *readyMetrics {
	return &readyMetrics{
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "ready",
			Help: "1 if the last /readyz round passed every required check, else 0.",
		}, nil),
		checks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "readiness_check",
			Help: "1 if the readiness check passed in the last /readyz round, else 0, by check.",
		}, []string{"check"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "readiness_last_run_timestamp_seconds",
			Help: "Unix time of the last /readyz round; the readiness gauges are only as fresh as this.",
		}, nil),
	}
}

// IndexProbe is the required "index" check. probe should read and write
// the index (a write proves the file is writable and the disk not full,
// which a read alone would not).
func IndexProbe(probe func(ctx context.Context) error) Check {
	return Check{Name: "index", Required: true, Run: probe}
}

// BackendProbe is the required "backend" check, for Backend.Probe.
func BackendProbe(probe func(ctx context.Context) error) Check {
	return Check{Name: "backend", Required: true, Run: probe}
}
