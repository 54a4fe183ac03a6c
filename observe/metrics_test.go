package observe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sony/gobreaker/v2"

	"github.com/photogate/photogate/policy"
)

// The policy package talks to its observer through this interface; the
// lead passes *Metrics as policy.Options.Observer.
var _ policy.Observer = (*Metrics)(nil)

func TestBuildInfoAndRuntimeCollectors(t *testing.T) {
	_, reg := newTest(t)
	if v := value(t, reg, "photogate_build_info", lbl("version", "v9.9.9", "commit", "abc123", "goversion", "go1.26.8")); v != 1 {
		t.Fatalf("photogate_build_info = %v, want 1", v)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n == 0 {
			t.Errorf("%s missing (n=%d, err=%v)", name, n, err)
		}
	}
}

func TestBuildInfoDefaults(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, BuildInfo{})
	v := labelValues(t, reg, "photogate_build_info", "version")
	if len(v) != 1 || v[0] != "dev" {
		t.Fatalf("version label = %v, want [dev]", v)
	}
	if c := labelValues(t, reg, "photogate_build_info", "commit"); len(c) != 1 || c[0] != "unknown" {
		t.Fatalf("commit label = %v, want [unknown]", c)
	}
	if g := labelValues(t, reg, "photogate_build_info", "goversion"); len(g) != 1 || !strings.HasPrefix(g[0], "go") {
		t.Fatalf("goversion label = %v", g)
	}
}

func TestNewTwiceOnOneRegistryPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, BuildInfo{})
	defer func() {
		if recover() == nil {
			t.Fatal("second New on the same registry did not panic")
		}
	}()
	New(reg, BuildInfo{})
}

func TestIndependentInstances(t *testing.T) {
	// No default registry, no package state: two instances do not see
	// each other's counts.
	a, regA := newTest(t)
	_, regB := newTest(t)
	a.RequestStarted()("GetObject", 200, 0, 10)
	if v := value(t, regB, "photogate_s3_requests_total", lbl("operation", "GetObject", "code", "200")); v != 0 {
		t.Fatalf("instance B counted A's request: %v", v)
	}
	if v := value(t, regA, "photogate_s3_requests_total", lbl("operation", "GetObject", "code", "200")); v != 1 {
		t.Fatalf("instance A: %v, want 1", v)
	}
}

func TestRequestStarted(t *testing.T) {
	m, reg := newTest(t)
	done1 := m.RequestStarted()
	done2 := m.RequestStarted()
	if v := value(t, reg, "photogate_s3_requests_in_flight", nil); v != 2 {
		t.Fatalf("in flight = %v, want 2", v)
	}
	done1("PutObject", 200, 1000, 0)
	done2("GetObject", 404, 0, 243)
	done2("GetObject", 404, 0, 243) // a second call is ignored
	if v := value(t, reg, "photogate_s3_requests_in_flight", nil); v != 0 {
		t.Fatalf("in flight after done = %v, want 0", v)
	}
	for _, c := range []struct {
		op, code string
		want     float64
	}{{"PutObject", "200", 1}, {"GetObject", "404", 1}, {"GetObject", "200", 0}} {
		if v := value(t, reg, "photogate_s3_requests_total", lbl("operation", c.op, "code", c.code)); v != c.want {
			t.Errorf("requests_total{%s,%s} = %v, want %v", c.op, c.code, v, c.want)
		}
	}
	if v := value(t, reg, "photogate_s3_received_bytes_total", lbl("operation", "PutObject")); v != 1000 {
		t.Errorf("received bytes = %v, want 1000", v)
	}
	if v := value(t, reg, "photogate_s3_sent_bytes_total", lbl("operation", "GetObject")); v != 243 {
		t.Errorf("sent bytes = %v, want 243", v)
	}
	if _, ok := find(t, reg, "photogate_s3_sent_bytes_total", lbl("operation", "PutObject")); ok {
		t.Errorf("a zero byte count created a series")
	}
	if n := histCount(t, reg, "photogate_s3_request_duration_seconds", lbl("operation", "GetObject")); n != 1 {
		t.Errorf("duration count{GetObject} = %d, want 1", n)
	}
}

func TestRequestDurationIsMeasured(t *testing.T) {
	m, reg := newTest(t)
	done := m.RequestStarted()
	time.Sleep(20 * time.Millisecond)
	done("HeadObject", 200, 0, 0)
	s, ok := find(t, reg, "photogate_s3_request_duration_seconds", lbl("operation", "HeadObject"))
	if !ok {
		t.Fatal("no duration series")
	}
	if sum := s.GetHistogram().GetSampleSum(); sum < 0.02 || sum > 5 {
		t.Fatalf("duration sum = %v, want about 0.02", sum)
	}
	// Buckets cover 1 ms .. 5 min as documented.
	b := s.GetHistogram().GetBucket()
	if first, last := b[0].GetUpperBound(), b[len(b)-1].GetUpperBound(); first != 0.001 || last != 300 {
		t.Fatalf("bucket range %v..%v, want 0.001..300", first, last)
	}
}

func TestUnclassifiedRequestAndOddStatus(t *testing.T) {
	m, reg := newTest(t)
	m.RequestStarted()("", 403, 0, 0)
	m.RequestStarted()("GetObject", 0, 0, 0)
	if v := value(t, reg, "photogate_s3_requests_total", lbl("operation", "unknown", "code", "403")); v != 1 {
		t.Errorf("unclassified request: %v, want 1 under operation=unknown", v)
	}
	if v := value(t, reg, "photogate_s3_requests_total", lbl("operation", "GetObject", "code", "0")); v != 1 {
		t.Errorf("no response: %v, want 1 under code=0", v)
	}
}

func TestS3Error(t *testing.T) {
	m, reg := newTest(t)
	m.S3Error("", "SignatureDoesNotMatch")
	m.S3Error("", "SignatureDoesNotMatch")
	m.S3Error("PutObject", "SlowDown")
	if v := value(t, reg, "photogate_s3_errors_total", lbl("operation", "unknown", "error_code", "SignatureDoesNotMatch")); v != 2 {
		t.Errorf("SignatureDoesNotMatch = %v, want 2", v)
	}
	if v := value(t, reg, "photogate_s3_errors_total", lbl("operation", "PutObject", "error_code", "SlowDown")); v != 1 {
		t.Errorf("SlowDown = %v, want 1", v)
	}
}

// timeoutErr is a net.Error that timed out, like the transport's
// "timeout awaiting response headers".
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "net/http: timeout awaiting response headers" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

// clientErr mimics gateway's clientError once it implements ClientFault.
type clientErr struct{ err error }

func (e clientErr) Error() string     { return e.err.Error() }
func (e clientErr) Unwrap() error     { return e.err }
func (e clientErr) ClientFault() bool { return true }

func TestBackendRequestOutcomesAndKinds(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	cases := []struct {
		name          string
		status        int
		err           error
		outcome, kind string
		observed      bool
	}{
		{"ok", 200, nil, "2xx", "", true},
		{"not modified", 304, nil, "3xx", "", true},
		{"no such key", 404, nil, "4xx", "", true},
		{"5xx", 503, fmt.Errorf("wrapped: %w", errors.New("backend answered 503")), "5xx", "5xx", true},
		{"5xx without err", 500, nil, "5xx", "5xx", true},
		{"501 is an answer", 501, nil, "5xx", "", true},
		{"breaker open", 0, gobreaker.ErrOpenState, "error", "breaker_open", false},
		{"breaker half-open full", 0, gobreaker.ErrTooManyRequests, "error", "breaker_open", false},
		{"client canceled", 0, fmt.Errorf("client went away: %w", context.Canceled), "error", "client_gone", true},
		{"client body", 0, clientErr{errors.New("XAmzContentChecksumMismatch")}, "error", "client_gone", true},
		{"deadline", 0, clientErr{fmt.Errorf("client went away: %w", context.DeadlineExceeded)}, "error", "timeout", true},
		{"header timeout", 0, fmt.Errorf("backend GET: %w", timeoutErr{}), "error", "timeout", true},
		{"os deadline", 0, os.ErrDeadlineExceeded, "error", "timeout", true},
		{"refused", 0, fmt.Errorf("backend PUT: %w", dialErr), "error", "connection", true},
		{"reset", 0, errors.New("read: connection reset by peer"), "error", "connection", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, reg := newTest(t)
			m.BackendRequest("PutObject", c.status, 30*time.Millisecond, c.err)
			if v := value(t, reg, "photogate_backend_requests_total", lbl("operation", "PutObject", "outcome", c.outcome)); v != 1 {
				t.Errorf("requests_total{outcome=%q} = %v, want 1", c.outcome, v)
			}
			kinds := labelValues(t, reg, "photogate_backend_errors_total", "kind")
			switch {
			case c.kind == "" && len(kinds) != 0:
				t.Errorf("errors by kind %v, want none", kinds)
			case c.kind != "" && (len(kinds) != 1 || kinds[0] != c.kind):
				t.Errorf("errors by kind %v, want [%s]", kinds, c.kind)
			}
			if c.kind != "" {
				if v := value(t, reg, "photogate_backend_errors_total", lbl("operation", "PutObject", "kind", c.kind)); v != 1 {
					t.Errorf("errors_total{kind=%q} = %v, want 1", c.kind, v)
				}
			}
			want := uint64(0)
			if c.observed {
				want = 1
			}
			if n := histCount(t, reg, "photogate_backend_request_duration_seconds", lbl("operation", "PutObject")); n != want {
				t.Errorf("duration observations = %d, want %d", n, want)
			}
		})
	}
}

func TestBackendRetryAndOperationContext(t *testing.T) {
	m, reg := newTest(t)
	ctx := WithOperation(context.Background(), "ListObjectsV2")
	op := OperationFrom(ctx)
	m.BackendRetry(op)
	m.BackendRetry(op)
	m.BackendRetry(OperationFrom(context.Background()))
	if v := value(t, reg, "photogate_backend_retries_total", lbl("operation", "ListObjectsV2")); v != 2 {
		t.Errorf("retries{ListObjectsV2} = %v, want 2", v)
	}
	if v := value(t, reg, "photogate_backend_retries_total", lbl("operation", "unknown")); v != 1 {
		t.Errorf("retries{unknown} = %v, want 1", v)
	}
}

func TestBreakerState(t *testing.T) {
	m, reg := newTest(t)
	state := func() float64 { return value(t, reg, "photogate_backend_breaker_state", nil) }
	trans := func(from, to string) float64 {
		return value(t, reg, "photogate_backend_breaker_transitions_total", lbl("from", from, "to", to))
	}
	if _, ok := find(t, reg, "photogate_backend_breaker_state", nil); !ok || state() != 0 {
		t.Fatalf("initial breaker state missing or not closed")
	}
	if _, ok := find(t, reg, "photogate_backend_breaker_transitions_total", lbl("from", "closed", "to", "open")); !ok {
		t.Fatalf("closed->open transition not pre-created at 0")
	}
	// Drive a real gobreaker through its states so the strings are the
	// ones it produces.
	cb := gobreaker.NewCircuitBreaker[int](gobreaker.Settings{
		Name: "backend", Timeout: 20 * time.Millisecond,
		ReadyToTrip:   func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 },
		OnStateChange: func(_ string, from, to gobreaker.State) { m.BreakerState(from.String(), to.String()) },
	})
	_, _ = cb.Execute(func() (int, error) { return 0, errors.New("down") })
	if state() != 2 || trans("closed", "open") != 1 {
		t.Fatalf("after trip: state %v, closed->open %v", state(), trans("closed", "open"))
	}
	time.Sleep(30 * time.Millisecond)
	_ = cb.State() // gobreaker moves to half-open when asked
	if state() != 1 || trans("open", "half-open") != 1 {
		t.Fatalf("after timeout: state %v, open->half-open %v", state(), trans("open", "half-open"))
	}
	_, _ = cb.Execute(func() (int, error) { return 1, nil })
	if state() != 0 || trans("half-open", "closed") != 1 {
		t.Fatalf("after recovery: state %v, half-open->closed %v", state(), trans("half-open", "closed"))
	}
	m.BreakerState("closed", "sideways")
	if state() != 0 || trans("closed", "unknown") != 1 {
		t.Fatalf("unknown state: gauge %v, closed->unknown %v", state(), trans("closed", "unknown"))
	}
}

func TestWatchBreakerReadsAtScrape(t *testing.T) {
	m, reg := newTest(t)
	cb := gobreaker.NewCircuitBreaker[int](gobreaker.Settings{
		Timeout:       20 * time.Millisecond,
		ReadyToTrip:   func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 },
		OnStateChange: func(_ string, from, to gobreaker.State) { m.BreakerState(from.String(), to.String()) },
	})
	m.WatchBreaker(func() string { return cb.State().String() })
	_, _ = cb.Execute(func() (int, error) { return 0, errors.New("down") })
	if v := value(t, reg, "photogate_backend_breaker_state", nil); v != 2 {
		t.Fatalf("state = %v, want 2 (open)", v)
	}
	// No traffic: only the scrape asks the breaker, and sees half-open.
	time.Sleep(30 * time.Millisecond)
	if v := value(t, reg, "photogate_backend_breaker_state", nil); v != 1 {
		t.Fatalf("state after open timeout with no traffic = %v, want 1 (half-open)", v)
	}
}

func TestPolicyObserver(t *testing.T) {
	m, reg := newTest(t)
	var obs policy.Observer = m
	obs.Refused(policy.ReasonRateLimited, "alice")
	obs.Refused(policy.ReasonRateLimited, "alice")
	obs.Refused(policy.ReasonAuthThrottled, "")
	obs.RateLimitWait("alice", 250*time.Millisecond)
	if v := value(t, reg, "photogate_policy_refusals_total", lbl("reason", "rate_limited", "user", "alice")); v != 2 {
		t.Errorf("refusals{rate_limited,alice} = %v, want 2", v)
	}
	if v := value(t, reg, "photogate_policy_refusals_total", lbl("reason", "auth_throttled", "user", "anonymous")); v != 1 {
		t.Errorf("refusals{auth_throttled,anonymous} = %v, want 1", v)
	}
	s, ok := find(t, reg, "photogate_policy_rate_limit_wait_seconds", lbl("user", "alice"))
	if !ok || s.GetHistogram().GetSampleCount() != 1 || s.GetHistogram().GetSampleSum() != 0.25 {
		t.Fatalf("rate limit wait histogram: %v", s)
	}
}

func TestLabelCardinalityIsCapped(t *testing.T) {
	m, reg := newTest(t)
	for i := range maxUsers + 50 {
		m.Refused(policy.ReasonAccessDenied, fmt.Sprintf("user-%d", i))
	}
	users := labelValues(t, reg, "photogate_policy_refusals_total", "user")
	if len(users) != maxUsers+1 {
		t.Fatalf("%d distinct user labels, want %d (cap + other)", len(users), maxUsers+1)
	}
	if v := value(t, reg, "photogate_policy_refusals_total", lbl("reason", "access_denied", "user", "other")); v != 50 {
		t.Fatalf("other = %v, want 50", v)
	}
	// A user admitted before the cap keeps its own series.
	m.Refused(policy.ReasonAccessDenied, "user-0")
	if v := value(t, reg, "photogate_policy_refusals_total", lbl("reason", "access_denied", "user", "user-0")); v != 2 {
		t.Fatalf("user-0 = %v, want 2", v)
	}
	// Invalid UTF-8 would make client_golang panic; it is repaired.
	m.RequestStarted()("Get\xffObject", 200, 0, 0)
}

func TestIndexCommitAndSearch(t *testing.T) {
	m, reg := newTest(t)
	m.IndexCommit(2*time.Millisecond, nil)
	m.IndexCommit(3*time.Millisecond, errors.New("disk full"))
	m.SearchLatency(40 * time.Millisecond)
	if n := histCount(t, reg, "photogate_index_commit_duration_seconds", nil); n != 2 {
		t.Errorf("commit observations = %d, want 2", n)
	}
	if v := value(t, reg, "photogate_index_commit_errors_total", nil); v != 1 {
		t.Errorf("commit errors = %v, want 1", v)
	}
	if n := histCount(t, reg, "photogate_index_search_duration_seconds", nil); n != 1 {
		t.Errorf("search observations = %d, want 1", n)
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.RequestStarted()("GetObject", 200, 1, 1)
	m.S3Error("GetObject", "AccessDenied")
	m.BackendRequest("GetObject", 200, time.Millisecond, nil)
	m.BackendRetry("GetObject")
	m.BreakerState("closed", "open")
	m.WatchBreaker(func() string { return "open" })
	m.Refused("quota", "bob")
	m.RateLimitWait("bob", time.Second)
	m.IndexCommit(time.Millisecond, nil)
	m.SearchLatency(time.Millisecond)
	m.WatchDisk(t.TempDir())
}

func TestConcurrentUse(t *testing.T) {
	m, reg := newTest(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				done := m.RequestStarted()
				m.BackendRequest("PutObject", 200, time.Millisecond, nil)
				m.Refused("quota", fmt.Sprintf("u%d", (g+i)%5))
				done("PutObject", 200, 10, 1)
			}
		}()
	}
	wg.Wait()
	if v := value(t, reg, "photogate_s3_requests_total", lbl("operation", "PutObject", "code", "200")); v != 1600 {
		t.Fatalf("requests = %v, want 1600", v)
	}
	if v := value(t, reg, "photogate_s3_received_bytes_total", lbl("operation", "PutObject")); v != 16000 {
		t.Fatalf("received = %v, want 16000", v)
	}
	if v := value(t, reg, "photogate_s3_requests_in_flight", nil); v != 0 {
		t.Fatalf("in flight = %v, want 0", v)
	}
}

// TestNoSecretsOrKeysInMetrics feeds the metrics everything the request
// path has at hand (errors that quote credentials and object keys) and
// checks none of it comes out: only bounded labels are exported.
func TestNoSecretsOrKeysInMetrics(t *testing.T) {
	m, reg := newTest(t)
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	const accessKey = "AKIAIOSFODNN7EXAMPLE"
	const objectKey = "holidays/2024/IMG_0001.jpg"
	err := fmt.Errorf("PUT photos/%s?X-Amz-Credential=%s&X-Amz-Signature=%s: %w", objectKey, accessKey, secret, errors.New("connection reset"))
	done := m.RequestStarted()
	m.BackendRequest("PutObject", 0, time.Millisecond, err)
	m.IndexCommit(time.Millisecond, err)
	m.Refused(policy.ReasonAccessDenied, "alice")
	done("PutObject", 500, 5, 0)
	m.Ready([]Check{{Name: "backend", Required: true, Run: func(context.Context) error { return err }}}, time.Second).
		ServeHTTP(discardResponse{}, readyRequest())
	out := exposition(t, reg)
	for _, s := range []string{secret, accessKey, objectKey, "holidays", "connection reset"} {
		if strings.Contains(out, s) {
			t.Errorf("exposition contains %q", s)
		}
	}
}

func TestMetricNamesLint(t *testing.T) {
	m, reg := newTest(t)
	exerciseAll(t, m)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "photogate_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

// exerciseAll touches every metric so that vectors have series to lint.
func exerciseAll(t *testing.T, m *Metrics) {
	t.Helper()
	m.RequestStarted()("GetObject", 200, 1, 1)
	m.S3Error("GetObject", "AccessDenied")
	m.BackendRequest("GetObject", 503, time.Millisecond, nil)
	m.BackendRetry("GetObject")
	m.BreakerState("closed", "open")
	m.Refused("quota", "bob")
	m.RateLimitWait("bob", time.Second)
	m.IndexCommit(time.Millisecond, errors.New("x"))
	m.SearchLatency(time.Millisecond)
	m.WatchDisk(t.TempDir())
	m.Ready([]Check{{Name: "backend", Run: func(context.Context) error { return nil }}}, time.Second).
		ServeHTTP(discardResponse{}, readyRequest())
}
