// Package metrics is photogate's observability surface: the Prometheus
// metrics of the S3 front, the backend client, policy and the index; the
// readiness handler behind /readyz; and the audit log of mutations.
//
// Everything is registered on the prometheus.Registerer passed to New, never
// on the global default registry: tests build as many independent instances
// as they like, and the admin server exposes exactly what it registered.
//
// Label values are bounded by construction. Operations are S3 operation
// names from the classifier, users are configured user names (never access
// keys of unknown callers, never secrets), buckets appear only on index
// metrics, whose bucket set is what the index holds. Object keys, request
// IDs and error messages never become labels. As a second line of defence
// every free-form label goes through a cap (see boundedLabel) so that a bug
// upstream degrades a label to "other" instead of exhausting Prometheus.
//
// A nil *Metrics is valid and records nothing, so code paths and tests that
// have no metrics need no special casing.
package observe

import (
	"context"
	"errors"
	"net"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sony/gobreaker/v2"
)

// Namespace prefixes every photogate metric name.
const Namespace = "photogate"

// Label values used when the real one is missing or over its cap.
const (
	// UnknownOperation labels a request that ended before its operation was
	// known (bad signature, unresolvable host, unclassifiable request).
	UnknownOperation = "unknown"
	// Anonymous labels refusals of callers that are not (yet) a user.
	Anonymous = "anonymous"
	// Other replaces label values beyond a label's cardinality cap.
	Other = "other"
)

// Cardinality caps. The classifier knows about 80 operations and the error
// table about 40 codes; users are bounded by the config but a generous cap
// still protects Prometheus from a misconfiguration with thousands.
const (
	maxOperations = 256
	maxUsers      = 200
	maxReasons    = 32
	maxErrorCodes = 128
)

// BuildInfo identifies the running binary in photogate_build_info.
type BuildInfo struct {
	Version   string // release version, e.g. "v1.2.0" or `git describe` output
	Commit    string // VCS revision
	GoVersion string // empty: runtime.Version()
}

// ReadBuildInfo fills a BuildInfo for version from what the Go toolchain
// stamped into the binary (the VCS revision when built with -buildvcs).
func ReadBuildInfo(version string) BuildInfo {
	b := BuildInfo{Version: version, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if b.Commit != "" && modified {
			b.Commit += "-dirty"
		}
	}
	return b
}

// Metrics records photogate's metrics. Create it with New; all methods are
// safe for concurrent use and cheap enough for the request path.
type Metrics struct {
	reg prometheus.Registerer // kept for the Watch* collectors

	// S3 front.
	inFlight prometheus.Gauge
	requests *prometheus.CounterVec   // operation, code
	duration *prometheus.HistogramVec // operation
	received *prometheus.CounterVec   // operation
	sent     *prometheus.CounterVec   // operation
	s3Errors *prometheus.CounterVec   // operation, error_code

	// Backend.
	backendReqs  *prometheus.CounterVec   // operation, outcome
	backendDur   *prometheus.HistogramVec // operation
	backendErrs  *prometheus.CounterVec   // operation, kind
	backendRetry *prometheus.CounterVec   // operation
	breaker      *breakerCollector
	breakerTrans *prometheus.CounterVec // from, to

	// Policy.
	refusals *prometheus.CounterVec   // reason, user
	rateWait *prometheus.HistogramVec // user

	// Index.
	indexCommit   prometheus.Histogram
	indexErrors   prometheus.Counter
	searchLatency prometheus.Histogram

	// Renditions.
	renditionJobs     *prometheus.CounterVec   // kind, outcome
	renditionDuration *prometheus.HistogramVec // kind
	renditionFailures *prometheus.CounterVec   // class
	renditionRunning  prometheus.Gauge

	ready *readyMetrics

	// Caps on label values (see boundedLabel).
	operations, backendOps, errorCodes, users, reasons *boundedLabel
}

// Histogram buckets (functions, so that no caller can change a shared
// slice). S3 requests span a HEAD answered in a millisecond to a
// multi-gigabyte GET streaming for minutes: 1 ms .. 5 min. Index commits are
// fsync-bound (sub-millisecond on NVMe, tens of milliseconds on network
// disks) and searches are index walks: 100 µs .. 10 s. Rate-limit waits are
// bounded by the limiter's burst refill: 1 ms .. 10 s.
func requestBuckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
}

func indexBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// renditionBuckets: a thumbnail of a small PNG takes milliseconds, a
// 100-megapixel JPEG read over the network seconds.
func renditionBuckets() []float64 {
	return []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
}

func waitBuckets() []float64 { return []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10} }

// New creates photogate's metrics and registers them, together with the Go
// runtime and process collectors and photogate_build_info, on reg. It
// panics if reg already holds any of them (as MustRegister does): metrics
// are wired once, at start-up.
func New(reg prometheus.Registerer, build BuildInfo) *Metrics {
	if build.GoVersion == "" {
		build.GoVersion = runtime.Version()
	}
	if build.Version == "" {
		build.Version = "dev"
	}
	if build.Commit == "" {
		build.Commit = "unknown"
	}
	m := &Metrics{
		reg: reg,
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "s3", Name: "requests_in_flight",
			Help: "S3 requests being served right now.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "s3", Name: "requests_total",
			Help: "S3 requests served, by operation and HTTP status code (0: no response was sent).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "s3", Name: "request_duration_seconds",
			Help:    "Time from receiving an S3 request to the end of its response body, by operation.",
			Buckets: requestBuckets(),
		}, []string{"operation"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "s3", Name: "received_bytes_total",
			Help: "Decoded request body bytes received from S3 clients and forwarded, by operation.",
		}, []string{"operation"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "s3", Name: "sent_bytes_total",
			Help: "Response body bytes sent to S3 clients, by operation.",
		}, []string{"operation"}),
		s3Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "s3", Name: "errors_total",
			Help: "S3 error responses photogate itself produced (not the backend's, which are relayed), by operation and S3 error code.",
		}, []string{"operation", "error_code"}),
		backendReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "backend", Name: "requests_total",
			Help: "Attempts to send a request to the backend, by operation and outcome (2xx..5xx: the backend answered; error: it did not).",
		}, []string{"operation", "outcome"}),
		backendDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "backend", Name: "request_duration_seconds",
			Help:    "Time from sending a request to the backend until its response headers (or failure), by operation. Breaker refusals are not observed.",
			Buckets: requestBuckets(),
		}, []string{"operation"}),
		backendErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "backend", Name: "errors_total",
			Help: "Failed backend attempts by operation and kind: connection, timeout, 5xx, breaker_open, client_gone.",
		}, []string{"operation", "kind"}),
		backendRetry: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "backend", Name: "retries_total",
			Help: "Backend attempts repeated after a retryable failure, by operation.",
		}, []string{"operation"}),
		breaker: newBreakerCollector(),
		breakerTrans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "backend", Name: "breaker_transitions_total",
			Help: "Circuit breaker state changes, by from and to state (closed, half-open, open).",
		}, []string{"from", "to"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "policy", Name: "refusals_total",
			Help: "Requests refused by policy, by reason and user name (anonymous: not authenticated).",
		}, []string{"reason", "user"}),
		rateWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "policy", Name: "rate_limit_wait_seconds",
			Help:    "Time requests were held back by a user's rate limit before being admitted, by user name.",
			Buckets: waitBuckets(),
		}, []string{"user"}),
		indexCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "index", Name: "commit_duration_seconds",
			Help:    "Latency of index writes (intents and commits), including waiting for a shared group-commit fsync.",
			Buckets: indexBuckets(),
		}),
		indexErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "index", Name: "commit_errors_total",
			Help: "Index writes that failed; their intents stay for recovery.",
		}),
		searchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "index", Name: "search_duration_seconds",
			Help:    "Latency of index searches from the admin API.",
			Buckets: indexBuckets(),
		}),
		renditionJobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "renditions", Name: "jobs_total",
			Help: "Rendition jobs worked, by kind (rendition, rendition-delete) and outcome: rendered, failed (cannot be rendered), stale (the object changed), current (rendered already), deleted, retry (the backend failed).",
		}, []string{"kind", "outcome"}),
		renditionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "renditions", Name: "job_duration_seconds",
			Help:    "Time to work one rendition job, reading the source and writing the renditions included, by kind.",
			Buckets: renditionBuckets(),
		}, []string{"kind"}),
		renditionFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "renditions", Name: "failures_total",
			Help: "Photos that cannot be rendered, by class: too_large (over the byte or pixel limit), unsupported (not an image format rendered), undecodable (damaged, truncated or hostile).",
		}, []string{"class"}),
		renditionRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "renditions", Name: "jobs_running",
			Help: "Rendition jobs this process is working on right now (photogate_index_jobs_queued counts them too, with those waiting).",
		}),
		ready:      newReadyMetrics(),
		operations: newBoundedLabel(maxOperations),
		backendOps: newBoundedLabel(maxOperations),
		errorCodes: newBoundedLabel(maxErrorCodes),
		users:      newBoundedLabel(maxUsers),
		reasons:    newBoundedLabel(maxReasons),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; the labels identify the running photogate binary.",
		ConstLabels: prometheus.Labels{"version": build.Version, "commit": build.Commit, "goversion": build.GoVersion},
	})
	buildInfo.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.inFlight, m.requests, m.duration, m.received, m.sent, m.s3Errors,
		m.backendReqs, m.backendDur, m.backendErrs, m.backendRetry, m.breaker, m.breakerTrans,
		m.refusals, m.rateWait,
		m.indexCommit, m.indexErrors, m.searchLatency,
		m.renditionJobs, m.renditionDuration, m.renditionFailures, m.renditionRunning,
		m.ready.ready, m.ready.checks, m.ready.lastRun,
	)
	// Transitions that can happen are created at zero, so that
	// increase(...[15m]) sees the first open as an increase from 0 rather
	// than as a new series with no history.
	for _, t := range [][2]string{{"closed", "open"}, {"open", "half-open"}, {"half-open", "closed"}, {"half-open", "open"}} {
		m.breakerTrans.WithLabelValues(t[0], t[1])
	}
	return m
}

// RequestStarted marks the start of an S3 request: it raises the in-flight
// gauge and starts the clock. Call the returned done exactly once, when the
// response is finished (or abandoned), with the operation name ("" if it was
// never classified), the status code sent (0 if none), the decoded body bytes
// received and the body bytes sent. Later calls of done are ignored.
func (m *Metrics) RequestStarted() (done func(op string, status int, bytesIn, bytesOut int64)) {
	if m == nil {
		return func(string, int, int64, int64) {}
	}
	start := time.Now()
	m.inFlight.Inc()
	var once atomic.Bool
	return func(op string, status int, bytesIn, bytesOut int64) {
		if once.Swap(true) {
			return
		}
		m.inFlight.Dec()
		op = m.operations.value(op, UnknownOperation)
		m.requests.WithLabelValues(op, statusCode(status)).Inc()
		m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
		if bytesIn > 0 {
			m.received.WithLabelValues(op).Add(float64(bytesIn))
		}
		if bytesOut > 0 {
			m.sent.WithLabelValues(op).Add(float64(bytesOut))
		}
	}
}

// S3Error counts an S3 error response photogate produced itself, by its S3
// error code (AccessDenied, SignatureDoesNotMatch, SlowDown, ...). Errors
// the backend answered are relayed, not produced, and are not counted here.
func (m *Metrics) S3Error(op, code string) {
	if m == nil {
		return
	}
	m.s3Errors.WithLabelValues(m.operations.value(op, UnknownOperation), m.errorCodes.value(code, "InternalError")).Inc()
}

// statusCode renders an HTTP status as a label; anything outside the valid
// range (0 when no response went out) becomes "0".
func statusCode(status int) string {
	if status < 100 || status > 599 {
		return "0"
	}
	return strconv.Itoa(status)
}

// Backend error kinds, the values of the kind label.
const (
	KindConnection  = "connection"   // no answer: dial, reset, TLS, broken pipe
	KindTimeout     = "timeout"      // no answer in time: response-header timeout, request deadline
	Kind5xx         = "5xx"          // the backend answered with a server error
	KindBreakerOpen = "breaker_open" // the circuit breaker refused to send the request
	KindClientGone  = "client_gone"  // the client hung up or its body failed; not the backend's fault
)

// ClientFault is implemented by errors the client side of the proxy caused
// (it hung up, or its body failed verification mid-stream). BackendRequest
// counts them as client_gone rather than against the backend.
type ClientFault interface {
	ClientFault() bool
}

// BackendRequest records one attempt to send a request to the backend: op
// is the S3 operation being forwarded, status the backend's HTTP status (0
// when it did not answer), d the time until its response headers or the
// failure, err the attempt's error as the transport or breaker returned it.
func (m *Metrics) BackendRequest(op string, status int, d time.Duration, err error) {
	if m == nil {
		return
	}
	op = m.backendOps.value(op, UnknownOperation)
	outcome, kind := classifyBackend(status, err)
	m.backendReqs.WithLabelValues(op, outcome).Inc()
	if kind != "" {
		m.backendErrs.WithLabelValues(op, kind).Inc()
	}
	// A breaker refusal sent nothing; its zero duration would drag the
	// backend's latency percentiles down just when it is failing.
	if kind != KindBreakerOpen {
		m.backendDur.WithLabelValues(op).Observe(d.Seconds())
	}
}

// classifyBackend returns the outcome label and the error kind ("" for
// none). The order matters: a deadline is a timeout even when it reaches us
// wrapped as the client's error, and a client's failure is never held
// against the backend even if the backend had answered.
func classifyBackend(status int, err error) (outcome, kind string) {
	var cf ClientFault
	var ne net.Error
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return "error", KindBreakerOpen
	case errors.Is(err, context.DeadlineExceeded):
		return "error", KindTimeout
	case errors.Is(err, context.Canceled), errors.As(err, &cf) && cf.ClientFault():
		return "error", KindClientGone
	case status >= 500 && status <= 599 && status != 501:
		// 501 NotImplemented is the backend declining an operation, not
		// failing; the breaker does not count it either.
		return "5xx", Kind5xx
	case status >= 100 && status <= 599:
		return statusClass(status), ""
	case errors.As(err, &ne) && ne.Timeout():
		return "error", KindTimeout
	}
	return "error", KindConnection
}

func statusClass(status int) string {
	return string(rune('0'+status/100)) + "xx"
}

// BackendRetry counts a repeated attempt of op after a retryable failure.
func (m *Metrics) BackendRetry(op string) {
	if m == nil {
		return
	}
	m.backendRetry.WithLabelValues(m.backendOps.value(op, UnknownOperation)).Inc()
}

// BreakerState records a circuit breaker transition. from and to are the
// states as gobreaker.State.String() spells them: "closed", "half-open",
// "open". It sets photogate_backend_breaker_state (0 closed, 1 half-open,
// 2 open) and counts the transition. It is fast and never blocks, as
// gobreaker's OnStateChange (called under the breaker's lock) requires.
func (m *Metrics) BreakerState(from, to string) {
	if m == nil {
		return
	}
	if _, ok := breakerValue(from); !ok {
		from = UnknownOperation
	}
	if v, ok := breakerValue(to); ok {
		m.breaker.last.Store(v)
	} else {
		to = UnknownOperation
	}
	m.breakerTrans.WithLabelValues(from, to).Inc()
}

// WatchBreaker makes photogate_backend_breaker_state read the breaker's
// state at scrape time instead of remembering the last transition.
// gobreaker moves from open to half-open lazily, only when asked, so without
// this a breaker that opened during an outage would read "open" until the
// next request, however long traffic has been gone; calling state() (for
// example Backend.BreakerState().String()) performs that pending move.
func (m *Metrics) WatchBreaker(state func() string) {
	if m == nil || state == nil {
		return
	}
	m.breaker.state.Store(&state)
}

func breakerValue(s string) (int64, bool) {
	switch s {
	case "closed":
		return 0, true
	case "half-open":
		return 1, true
	case "open":
		return 2, true
	}
	return 0, false
}

// breakerCollector exports the breaker state gauge, either from the last
// transition seen or, after WatchBreaker, from the breaker itself.
type breakerCollector struct {
	desc  *prometheus.Desc
	last  atomic.Int64
	state atomic.Pointer[func() string]
}

func newBreakerCollector() *breakerCollector {
	return &breakerCollector{desc: prometheus.NewDesc(Namespace+"_backend_breaker_state",
		"Backend circuit breaker state: 0 closed (normal), 1 half-open (probing), 2 open (refusing requests).", nil, nil)}
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.last.Load()
	if fn := c.state.Load(); fn != nil {
		if sv, ok := breakerValue((*fn)()); ok {
			v = sv
		}
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v))
}

// Refused counts a policy refusal. It implements policy.Observer: reason is
// one of policy.Reasons(), user a configured user name or "" for a caller
// that is not authenticated.
func (m *Metrics) Refused(reason, user string) {
	if m == nil {
		return
	}
	m.refusals.WithLabelValues(m.reasons.value(reason, UnknownOperation), m.users.value(user, Anonymous)).Inc()
}

// RateLimitWait records how long a user's request waited for its rate
// limit before being admitted. It implements policy.Observer.
func (m *Metrics) RateLimitWait(user string, d time.Duration) {
	if m == nil {
		return
	}
	m.rateWait.WithLabelValues(m.users.value(user, Anonymous)).Observe(d.Seconds())
}

// IndexCommit records one index write (an intent or a commit): how long it
// took, group-commit wait and fsync included, and whether it failed.
func (m *Metrics) IndexCommit(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.indexCommit.Observe(d.Seconds())
	if err != nil {
		m.indexErrors.Inc()
	}
}

// RenditionJob records one rendition job: its kind and outcome (the
// renditions package's names), the class of a failure, how long it took.
func (m *Metrics) RenditionJob(kind, outcome, class string, took time.Duration) {
	if m == nil {
		return
	}
	m.renditionJobs.WithLabelValues(kind, outcome).Inc()
	m.renditionDuration.WithLabelValues(kind).Observe(took.Seconds())
	if class != "" {
		m.renditionFailures.WithLabelValues(class).Inc()
	}
}

// RenditionRunning counts a rendition job starting (+1) or ending (-1).
func (m *Metrics) RenditionRunning(delta int) {
	if m == nil {
		return
	}
	m.renditionRunning.Add(float64(delta))
}

// SearchLatency records the duration of one index search.
func (m *Metrics) SearchLatency(d time.Duration) {
	if m == nil {
		return
	}
	m.searchLatency.Observe(d.Seconds())
}

// boundedLabel admits up to max distinct values of one label and maps the
// rest to Other. Values seen once stay admitted, so a series never flips
// between its own name and "other".
type boundedLabel struct {
	max  int
	mu   sync.RWMutex
	seen map[string]struct{}
}

func newBoundedLabel(max int) *boundedLabel {
	return &boundedLabel{max: max, seen: make(map[string]struct{})}
}

// value returns v as a safe label value: empty becomes empty, invalid
// UTF-8 (which client_golang would panic on) is repaired, and values past
// the cap become Other.
func (b *boundedLabel) value(v, empty string) string {
	if v == "" {
		return empty
	}
	b.mu.RLock()
	_, ok := b.seen[v]
	b.mu.RUnlock()
	if ok {
		return v
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return Other
	}
	b.seen[v] = struct{}{}
	return v
}

// operationKey carries the S3 operation name of a request in its context,
// so that the backend client can label its metrics without a new parameter.
type operationKey struct{}

// WithOperation returns ctx carrying the S3 operation name op.
func WithOperation(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, operationKey{}, op)
}

// OperationFrom returns the operation name WithOperation stored in ctx, or
// UnknownOperation.
func OperationFrom(ctx context.Context) string {
	if op, ok := ctx.Value(operationKey{}).(string); ok && op != "" {
		return op
	}
	return UnknownOperation
}

// MustRegister adds collectors that live with the data they report (the
// index's, for one) to this registry.
func (m *Metrics) MustRegister(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }
