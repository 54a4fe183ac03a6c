// Package indexmetrics exports the index's state to Prometheus: a collector
// that reads the store at scrape time, and search timing. It sits above both
// observe (the registry) and metastore, so neither imports the other.
package indexmetrics

import (
	"context"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/api"
	"github.com/photogate/photogate/observe"
)

// IndexStats is what the index collector reads at scrape time (every
// metastore.Index satisfies it). If the value also has
// WriteStats() metastore.WriteStats and Path() string, as *metastore.Store
// does, group-commit counters and the index file size are exported too.
type IndexStats interface {
	Stats(ctx context.Context) (metastore.Stats, error)
}

type indexWriteStats interface {
	WriteStats() metastore.WriteStats
}

type indexPath interface {
	Path() string
}

// indexStatsTimeout bounds one scrape's read of the index. Stats is
// O(buckets + statuses + job kinds) in a read transaction, so this is only
// hit when something is badly wrong; the scrape then reports index_up 0
// instead of hanging until Prometheus gives up on the whole target.
const indexStatsTimeout = 5 * time.Second

// WatchIndex registers a collector that reads s at every scrape: objects and
// bytes per bucket, pending intents, records per extraction status, jobs
// queued and failed per kind, and, where s offers them, group-commit
// counters and the index file size. Reading at scrape time keeps the values
// exact without a background loop. Call it once.
func Watch(m *observe.Metrics, s IndexStats) {
	if m == nil || s == nil {
		return
	}
	m.MustRegister(newIndexCollector(s))
}

type indexCollector struct {
	stats IndexStats

	up, objects, bytes, intents, extraction, queued, failed *prometheus.Desc
	writeCalls, writeTxs, fileBytes                         *prometheus.Desc
}

func newIndexCollector(s IndexStats) *indexCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(observe.Namespace+"_index_"+name, help, labels, nil)
	}
	return &indexCollector{
		stats:      s,
		up:         d("up", "1 if the index statistics could be read at this scrape, else 0 (the other index gauges are then missing)."),
		objects:    d("objects", "Objects in the index, by bucket.", "bucket"),
		bytes:      d("object_bytes", "Total size of the indexed objects, by bucket.", "bucket"),
		intents:    d("pending_intents", "Write intents neither committed nor abandoned: mutations in flight, plus any left by a crash or a failed index update until recovery resolves them."),
		extraction: d("extraction_records", "Index records by metadata extraction status (ok, partial, none, failed).", "status"),
		queued:     d("jobs_queued", "Background jobs waiting or running, by kind.", "kind"),
		failed:     d("jobs_failed", "Background jobs given up (failed) and kept until retried, by kind.", "kind"),
		writeCalls: d("write_calls_total", "Index write requests (intents, commits, jobs) since start."),
		writeTxs:   d("write_transactions_total", "Fsynced index write transactions since start; write_calls / write_transactions is the group-commit batching factor."),
		fileBytes:  d("file_bytes", "Size of the index file on disk (bbolt files grow and reuse free pages, they do not shrink)."),
	}
}

func (c *indexCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.objects, c.bytes, c.intents, c.extraction, c.queued, c.failed, c.writeCalls, c.writeTxs, c.fileBytes} {
		ch <- d
	}
}

func (c *indexCollector) Collect(ch chan<- prometheus.Metric) {
	// Counters kept in memory need no index read: export them even when
	// the read below fails.
	if ws, ok := c.stats.(indexWriteStats); ok {
		w := ws.WriteStats()
		ch <- prometheus.MustNewConstMetric(c.writeCalls, prometheus.CounterValue, float64(w.Calls))
		ch <- prometheus.MustNewConstMetric(c.writeTxs, prometheus.CounterValue, float64(w.Transactions))
	}
	if p, ok := c.stats.(indexPath); ok {
		if fi, err := os.Stat(p.Path()); err == nil {
			ch <- prometheus.MustNewConstMetric(c.fileBytes, prometheus.GaugeValue, float64(fi.Size()))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), indexStatsTimeout)
	defer cancel()
	st, err := c.stats.Stats(ctx)
	if err != nil {
		// Not prometheus.NewInvalidMetric: that fails the whole scrape,
		// losing every other metric exactly when they are needed.
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, b := range st.Buckets {
		name := observe.ValidUTF8(b.Name)
		ch <- prometheus.MustNewConstMetric(c.objects, prometheus.GaugeValue, float64(b.Objects), name)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(b.Bytes), name)
	}
	ch <- prometheus.MustNewConstMetric(c.intents, prometheus.GaugeValue, float64(st.PendingIntents))
	for status, n := range st.Status {
		ch <- prometheus.MustNewConstMetric(c.extraction, prometheus.GaugeValue, float64(n), observe.ValidUTF8(status))
	}
	for kind, j := range st.Jobs {
		kind = observe.ValidUTF8(kind)
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(j.Queued), kind)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(j.Failed), kind)
	}
}

// InstrumentSearcher returns s with every Search timed into
// photogate_index_search_duration_seconds; the other methods pass through.
// Pass the result to api.New as Config.Index, so the admin API needs no
// metrics dependency of its own.
func InstrumentSearcher(m *observe.Metrics, s api.Searcher) api.Searcher {
	if m == nil || s == nil {
		return s
	}
	return timedSearcher{Searcher: s, m: m}
}

// timedSearcher embeds the interface, so methods api.Searcher gains later
// pass through without a change here.
type timedSearcher struct {
	api.Searcher
	m *observe.Metrics
}

func (t timedSearcher) Search(ctx context.Context, q metastore.Query) (metastore.Page, error) {
	start := time.Now()
	page, err := t.Searcher.Search(ctx, q)
	t.m.SearchLatency(time.Since(start))
	return page, err
}
