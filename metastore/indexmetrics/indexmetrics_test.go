package indexmetrics

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/observe/observetest"
)

type fakeStats struct {
	st  metastore.Stats
	err error
}

func (f fakeStats) Stats(context.Context) (metastore.Stats, error) { return f.st, f.err }

func sampleStats() metastore.Stats {
	return metastore.Stats{
		SchemaVersion: 1, Objects: 5, Bytes: 5000,
		Buckets: []metastore.BucketStats{
			{Name: "photos", Objects: 3, Bytes: 4000},
			{Name: "archive", Objects: 2, Bytes: 1000},
		},
		Status:         map[string]int64{"ok": 3, "partial": 1, "failed": 1},
		PendingIntents: 2,
		Jobs:           map[string]metastore.JobStats{"extract": {Queued: 4, Failed: 1}},
	}
}

func TestWatchIndexFake(t *testing.T) {
	m, reg := newTest(t)
	Watch(m, fakeStats{st: sampleStats()})
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"photogate_index_up", nil, 1},
		{"photogate_index_objects", observetest.Labels("bucket", "photos"), 3},
		{"photogate_index_object_bytes", observetest.Labels("bucket", "photos"), 4000},
		{"photogate_index_objects", observetest.Labels("bucket", "archive"), 2},
		{"photogate_index_object_bytes", observetest.Labels("bucket", "archive"), 1000},
		{"photogate_index_pending_intents", nil, 2},
		{"photogate_index_extraction_records", observetest.Labels("status", "ok"), 3},
		{"photogate_index_extraction_records", observetest.Labels("status", "failed"), 1},
		{"photogate_index_jobs_queued", observetest.Labels("kind", "extract"), 4},
		{"photogate_index_jobs_failed", observetest.Labels("kind", "extract"), 1},
	}
	for _, c := range checks {
		if v := observetest.Value(t, reg, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	// A fake without WriteStats/Path exports neither.
	for _, name := range []string{"photogate_index_write_calls_total", "photogate_index_file_bytes"} {
		if _, found := observetest.Find(t, reg, name, nil); found {
			t.Errorf("%s exported without a source", name)
		}
	}
}

func TestWatchIndexErrorKeepsScrapeAlive(t *testing.T) {
	m, reg := newTest(t)
	Watch(m, fakeStats{err: errors.New("bbolt: database not open")})
	if v := observetest.Value(t, reg, "photogate_index_up", nil); v != 0 {
		t.Fatalf("index_up = %v, want 0", v)
	}
	if _, found := observetest.Find(t, reg, "photogate_index_pending_intents", nil); found {
		t.Fatal("pending intents exported although stats failed")
	}
	// The rest of the scrape still works.
	if v := observetest.Value(t, reg, "photogate_build_info", observetest.Labels("version", "v9.9.9", "commit", "abc123", "goversion", "go1.26.8")); v != 1 {
		t.Fatal("scrape broken by the index error")
	}
}

// TestWatchIndexRealStore reads a real bbolt index: per-bucket counters,
// a pending intent, a queued job, group-commit counters and the file size.
func TestWatchIndexRealStore(t *testing.T) {
	ctx := context.Background()
	store, err := metastore.Open(filepath.Join(t.TempDir(), "index.db"), metastore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	err = store.Commit(ctx, 0,
		metastore.Put(metastore.Record{Bucket: "photos", Key: "a.jpg", Size: 100, Status: "ok"}),
		metastore.Put(metastore.Record{Bucket: "photos", Key: "b.jpg", Size: 50, Status: "failed"}),
		metastore.EnqueueJob(metastore.Job{Kind: "extract", Bucket: "photos", Key: "b.jpg", ETag: "x"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "photos", Keys: []string{"c.jpg"}}); err != nil {
		t.Fatal(err)
	}
	m, reg := newTest(t)
	Watch(m, store)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"photogate_index_up", nil, 1},
		{"photogate_index_objects", observetest.Labels("bucket", "photos"), 2},
		{"photogate_index_object_bytes", observetest.Labels("bucket", "photos"), 150},
		{"photogate_index_pending_intents", nil, 1},
		{"photogate_index_extraction_records", observetest.Labels("status", "failed"), 1},
		{"photogate_index_jobs_queued", observetest.Labels("kind", "extract"), 1},
		{"photogate_index_write_calls_total", nil, 2},
	} {
		if v := observetest.Value(t, reg, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if v := observetest.Value(t, reg, "photogate_index_write_transactions_total", nil); v < 1 || v > 2 {
		t.Errorf("write transactions = %v, want 1..2", v)
	}
	if v := observetest.Value(t, reg, "photogate_index_file_bytes", nil); v <= 0 {
		t.Errorf("index file bytes = %v", v)
	}
}

type fakeSearcher struct{ api.Searcher }

func (fakeSearcher) Search(context.Context, metastore.Query) (metastore.Page, error) {
	time.Sleep(5 * time.Millisecond)
	return metastore.Page{NextCursor: "c"}, nil
}

func (fakeSearcher) Stats(context.Context) (metastore.Stats, error) { return sampleStats(), nil }

func TestInstrumentSearcher(t *testing.T) {
	m, reg := newTest(t)
	s := InstrumentSearcher(m, fakeSearcher{})
	page, err := s.Search(context.Background(), metastore.Query{})
	if err != nil || page.NextCursor != "c" {
		t.Fatalf("Search passed through wrong: %+v %v", page, err)
	}
	if st, err := s.Stats(context.Background()); err != nil || st.Objects != 5 {
		t.Fatalf("Stats did not pass through: %+v %v", st, err)
	}
	sample, found := observetest.Find(t, reg, "photogate_index_search_duration_seconds", nil)
	if !found || sample.GetHistogram().GetSampleCount() != 1 || sample.GetHistogram().GetSampleSum() < 0.005 {
		t.Fatalf("search histogram: %v", sample)
	}
}

func TestWatchIndexTwicePanics(t *testing.T) {
	m, _ := newTest(t)
	Watch(m, fakeStats{})
	defer func() {
		if recover() == nil {
			t.Fatal("second Watch did not panic")
		}
	}()
	Watch(m, fakeStats{})
}

var _ prometheus.Collector = (*indexCollector)(nil)

func newTest(t *testing.T) (*observe.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return observe.New(reg, observe.BuildInfo{Version: "v9.9.9", Commit: "abc123", GoVersion: "go1.26.8"}), reg
}
