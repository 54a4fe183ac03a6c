package observability

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/indexmetrics"
	"github.com/photogate/photogate/observe"
)

// exported describes what photogate's /metrics serves.
type exported struct {
	families map[string]dto.MetricType // family name -> type
	series   map[string]bool           // every name a PromQL selector can use
}

var exportedOnce struct {
	sync.Once
	e   exported
	err error
}

// exportedMetrics builds the real registry once per test binary.
func exportedMetrics(t *testing.T) exported {
	t.Helper()
	exportedOnce.Do(func() { exportedOnce.e, exportedOnce.err = buildExported() })
	if exportedOnce.err != nil {
		t.Fatal(exportedOnce.err)
	}
	return exportedOnce.e
}

// recordingRegisterer remembers every collector registered, so that the
// descriptors can be compared with what Gather returns.
type recordingRegisterer struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registry.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

func buildExported() (exported, error) {
	dir, err := os.MkdirTemp("", "photogate-observability-")
	if err != nil {
		return exported{}, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := metastore.Open(filepath.Join(dir, "index.db"), metastore.Options{NoSync: true})
	if err != nil {
		return exported{}, err
	}
	defer store.Close()
	// A record per status and a queued job, so that every labelled index
	// series exists.
	err = store.Commit(ctx, 0,
		metastore.Put(metastore.Record{Bucket: "photos", Key: "a.jpg", Size: 10, Status: "ok"}),
		metastore.Put(metastore.Record{Bucket: "photos", Key: "b.jpg", Size: 10, Status: "failed"}),
		metastore.EnqueueJob(metastore.Job{Kind: "extract", Bucket: "photos", Key: "b.jpg", ETag: "e"}),
	)
	if err != nil {
		return exported{}, err
	}

	reg := &recordingRegisterer{Registry: prometheus.NewRegistry()}
	m := observe.New(reg, observe.ReadBuildInfo("test"))
	indexmetrics.Watch(m, store)
	m.WatchDisk(dir)
	m.WatchBreaker(func() string { return "closed" })
	// Touch every metric once: vectors only export series that exist.
	m.RequestStarted()("GetObject", 200, 10, 10)
	m.S3Error("PutObject", "SlowDown")
	m.BackendRequest("GetObject", 503, time.Millisecond, nil)
	m.BackendRetry("GetObject")
	m.BreakerState("closed", "open")
	m.Refused("rate_limited", "alice")
	m.RateLimitWait("alice", time.Millisecond)
	m.IndexCommit(time.Millisecond, errors.New("x"))
	m.SearchLatency(time.Millisecond)
	m.RenditionJob("rendition", "failed", "too_large", 200*time.Millisecond)
	m.RenditionRunning(1)
	m.Ready([]observe.Check{observe.DiskFree(dir, 0, 0), observe.IndexProbe(func(context.Context) error { return nil })}, time.Second).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/readyz", nil))

	mfs, err := reg.Gather()
	if err != nil {
		return exported{}, err
	}
	e := exported{families: map[string]dto.MetricType{}, series: map[string]bool{}}
	for _, mf := range mfs {
		name := mf.GetName()
		e.families[name] = mf.GetType()
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			e.series[name+"_bucket"], e.series[name+"_sum"], e.series[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			e.series[name], e.series[name+"_sum"], e.series[name+"_count"] = true, true, true
		default:
			// Counters are gathered under their full name, _total included.
			e.series[name] = true
		}
	}

	// Every photogate metric a collector describes must have been
	// gathered; otherwise the exercise above missed one and the lists
	// below would be incomplete.
	descs := make(chan *prometheus.Desc, 1024)
	go func() {
		for _, c := range reg.collectors {
			c.Describe(descs)
		}
		close(descs)
	}()
	var missing []string
	for d := range descs {
		match := fqNameRE.FindStringSubmatch(d.String())
		if match == nil {
			continue
		}
		if _, ok := e.families[match[1]]; !ok && strings.HasPrefix(match[1], "photogate_") {
			missing = append(missing, match[1])
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return e, errors.New("described but not gathered (exercise them in buildExported): " + strings.Join(missing, ", "))
	}
	return e, nil
}

func TestExportedMetricsAreComplete(t *testing.T) {
	e := exportedMetrics(t)
	for _, name := range []string{
		"photogate_build_info", "photogate_s3_requests_total", "photogate_s3_request_duration_seconds",
		"photogate_backend_breaker_state", "photogate_index_objects", "photogate_data_dir_free_bytes",
		"photogate_readiness_check", "photogate_ready", "go_goroutines", "process_cpu_seconds_total",
	} {
		if _, ok := e.families[name]; !ok {
			t.Errorf("%s not exported", name)
		}
	}
	if !e.series["photogate_s3_request_duration_seconds_bucket"] || !e.series["go_gc_duration_seconds_count"] {
		t.Error("histogram/summary suffixes missing")
	}
	t.Logf("%d metric families exported", len(e.families))
}
