package metastore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkCommitParallel measures the gateway's write path with fsync on:
// BeginIntent then Commit(Put), from many goroutines at once. One op is one
// indexed upload (two group-committed calls). ops/s is the figure to quote;
// calls/fsync shows how much group commit shared.
func BenchmarkCommitParallel(b *testing.B) {
	for _, goroutines := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("goroutines=%d", goroutines), func(b *testing.B) {
			ctx := context.Background()
			s := openAt(b, filepath.Join(b.TempDir(), "index.db"), Options{})
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
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
						id, err := s.BeginIntent(ctx, Intent{Op: "PutObject", Bucket: "photos", Keys: []string{key}})
						if err != nil {
							b.Error(err)
							return
						}
						if err := s.Commit(ctx, id, Put(photo("photos", key))); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			ws := s.WriteStats()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
			b.ReportMetric(float64(ws.Calls)/float64(max(ws.Transactions, 1)), "calls/fsync")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// buildLibrary fills a store with n synthetic photos in large
// transactions (the benchmark measures search, not loading).
// benchLibrarySize is the search benchmarks' library size:
// PHOTOGATE_BENCH_LIBRARY, default 100000.
func benchLibrarySize(b *testing.B) int {
	n := 100_000
	if v := os.Getenv("PHOTOGATE_BENCH_LIBRARY"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("PHOTOGATE_BENCH_LIBRARY=%q: want a record count", v)
		}
	}
	return n
}

// percentileMs is the p-th percentile (0 < p < 100) of lat in
// milliseconds. It sorts lat.
func percentileMs(lat []time.Duration, p int) float64 {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return float64(lat[(len(lat)*p)/100]) / float64(time.Millisecond)
}

func buildLibrary(b testing.TB, n int) *Store {
	s := openAt(b, filepath.Join(b.TempDir(), "index.db"), Options{NoSync: true})
	rng := rand.New(rand.NewPCG(42, 42))
	makes := []string{"Canon", "Nikon", "Sony", "Fujifilm", "Apple", "Samsung", "Google", "Olympus", "Panasonic", "Leica",
		"Pentax", "Ricoh", "Sigma", "Hasselblad", "DJI", "GoPro", "Xiaomi", "Huawei", "OnePlus", "Motorola"}
	formats := []string{"jpeg", "jpeg", "jpeg", "heic", "heic", "png", "webp"}
	// Photos cluster around a few hundred places, like real libraries.
	type place struct{ lat, lon float64 }
	places := make([]place, 300)
	for i := range places {
		places[i] = place{rng.Float64()*140 - 70, rng.Float64()*360 - 180}
	}
	places[0] = place{48.8566, 2.3522} // Paris
	const chunk = 10000
	for lo := 0; lo < n; lo += chunk {
		err := s.db.Update(func(tx *bolt.Tx) error {
			t, err := openTxn(tx)
			if err != nil {
				return err
			}
			for i := lo; i < min(lo+chunk, n); i++ {
				mk := rng.IntN(len(makes))
				bucket := "photos"
				if i%10 == 0 {
					bucket = "archive"
				}
				r := Record{
					Bucket:      bucket,
					Key:         fmt.Sprintf("%d/%02d/IMG_%07d.jpg", 2005+rng.IntN(20), 1+rng.IntN(12), i),
					Size:        100_000 + rng.Int64N(20_000_000),
					ETag:        fmt.Sprintf(`"%032x"`, rng.Uint64()),
					ContentType: "image/jpeg",
					Format:      formats[rng.IntN(len(formats))],
					Width:       4000, Height: 3000, Megapixels: 12, Orientation: 1 + rng.IntN(8),
					TakenAt: time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(20 * 365 * 24 * time.Hour)))),
					Make:    makes[mk], Model: fmt.Sprintf("Model %d", rng.IntN(5)),
					Lens: fmt.Sprintf("Lens %d", rng.IntN(50)), ISO: 100 << rng.IntN(6),
					Tags:   map[string]string{"album": fmt.Sprintf("album-%d", rng.IntN(200))},
					Status: "ok",
				}
				if rng.IntN(1000) == 0 {
					r.Tags["rare"] = "yes"
				}
				if rng.IntN(10) < 7 {
					p := places[rng.IntN(len(places))]
					r.GPS = &GPS{Lat: p.lat + rng.NormFloat64()*0.05, Lon: p.lon + rng.NormFloat64()*0.05}
				}
				if err := t.putRecord(&r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkSearch runs typical queries over a 100k-photo library
// (PHOTOGATE_BENCH_LIBRARY=1000000 for a million). Each sub-benchmark
// reports the plan it used, how many items it returned, and the p50 and
// p99 latency of its searches.
func BenchmarkSearch(b *testing.B) {
	s := buildLibrary(b, benchLibrarySize(b))
	ctx := context.Background()
	year2015 := func(q Query) Query {
		q.TakenAfter, q.TakenBefore = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
		return q
	}
	paris := &BBox{MinLon: 2.2, MinLat: 48.8, MaxLon: 2.5, MaxLat: 48.95}
	for _, bc := range []struct {
		name string
		q    Query
	}{
		{"make+model", Query{Make: "nikon", Model: "model 3"}},
		{"make+model/sort=-taken", Query{Make: "nikon", Model: "model 3", Sort: "-taken"}},
		{"tag-rare", Query{Tags: map[string]string{"rare": "yes"}}},
		{"near-paris-10km", Query{Near: &Near{Lat: 48.8566, Lon: 2.3522, RadiusKm: 10}}},
		{"bbox-paris", Query{BBox: paris}},
		{"taken-one-week/sort=-taken", Query{Bucket: "photos", TakenAfter: time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC), TakenBefore: time.Date(2015, 3, 8, 0, 0, 0, 0, time.UTC), Sort: "-taken"}},
		{"make-only (5%)", Query{Make: "sony"}},
		{"no-filter/sort=-taken", Query{Sort: "-taken"}},
		{"bucket+format+iso", Query{Bucket: "archive", Format: "png", ISOMin: 1600}},
		// A photo library's typical query: camera, a date range, a place.
		{"make+model+year", year2015(Query{Make: "nikon", Model: "model 3"})},
		{"make+model+year/sort=-taken", year2015(Query{Make: "nikon", Model: "model 3", Sort: "-taken"})},
		{"make+year/sort=-taken", year2015(Query{Make: "nikon", Sort: "-taken"})},
		{"make+model+year+bbox-paris", year2015(Query{Make: "nikon", Model: "model 3", BBox: paris})},
		{"make+year+bbox-paris", year2015(Query{Make: "nikon", BBox: paris})},
		{"make+year+bbox-paris/sort=-taken", year2015(Query{Make: "nikon", BBox: paris, Sort: "-taken"})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var p Page
			var lat []time.Duration
			cpu0 := cpuTime()
			for b.Loop() {
				var err error
				start := time.Now()
				if p, err = s.Search(ctx, bc.q); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(percentileMs(lat, 50), "p50-ms")
			b.ReportMetric(percentileMs(lat, 99), "p99-ms")
			b.ReportMetric(float64(len(p.Items)), "items")
			b.Logf("plan %s, %d items", p.Plan, len(p.Items))
		})
	}
}
