package pgstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/test/harness"
)

// BenchmarkCommitParallel measures the gateway's write path on both
// engines on this machine, fsync on for both: BeginIntent then
// Commit(Put), from many goroutines at once. One op is one indexed upload.
// The bbolt figures are measured in the same run so that the ratio is
// not skewed by whatever else the machine is doing.
func BenchmarkCommitParallel(b *testing.B) {
	pg := harness.StartPostgres(b)
	var dbs atomic.Int64
	engines := []struct {
		name string
		open func(b *testing.B) metastore.Index
	}{
		{"bbolt", func(b *testing.B) metastore.Index {
			s, err := metastore.Open(filepath.Join(b.TempDir(), "index.db"), metastore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"pg", func(b *testing.B) metastore.Index {
			s, err := Open(context.Background(), pg.CreateDatabase(b, fmt.Sprintf("bench%d", dbs.Add(1))), Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, goroutines := range []int{1, 16, 64} {
		for _, engine := range engines {
			b.Run(fmt.Sprintf("goroutines=%d/engine=%s", goroutines, engine.name), func(b *testing.B) {
				s := engine.open(b)
				defer s.Close()
				commitParallel(b, s, goroutines)
			})
		}
	}
}

func commitParallel(b *testing.B, s metastore.Index, goroutines int) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				key := fmt.Sprintf("g%d/%d", g, i)
				id, err := s.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "photos", Keys: []string{key}, Owner: "ann"})
				if err != nil {
					b.Error(err)
					return
				}
				r := library(1)[0]
				r.Bucket, r.Key, r.Owner = "photos", key, "ann"
				if err := s.Commit(ctx, id, metastore.Put(r)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

// BenchmarkSearch runs the search shapes over a 100k-photo library
// (PHOTOGATE_BENCH_LIBRARY=1000000 for a million), reporting the median
// and the p99 of each shape's searches.
func BenchmarkSearch(b *testing.B) {
	n := 100_000
	if v := os.Getenv("PHOTOGATE_BENCH_LIBRARY"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("PHOTOGATE_BENCH_LIBRARY=%q: want a record count", v)
		}
	}
	s := openLibrary(b, n)
	ctx := context.Background()
	for _, shape := range searchShapes() {
		b.Run(shape.name, func(b *testing.B) {
			var p metastore.Page
			var lat []time.Duration
			for b.Loop() {
				var err error
				start := time.Now()
				if p, err = s.Search(ctx, shape.q); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Millisecond), "p99-ms")
			b.ReportMetric(float64(len(p.Items)), "items")
		})
	}
}
