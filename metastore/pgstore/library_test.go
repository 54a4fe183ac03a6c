package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/test/harness"
)

// library returns n synthetic photos shaped like the bbolt engine's search
// benchmark library: twenty makes, two buckets, photos clustered around a
// few hundred places, a rare tag on one in a thousand.
func library(n int) []metastore.Record {
	rng := rand.New(rand.NewPCG(42, 42))
	makes := []string{"Canon", "Nikon", "Sony", "Fujifilm", "Apple", "Samsung", "Google", "Olympus", "Panasonic", "Leica",
		"Pentax", "Ricoh", "Sigma", "Hasselblad", "DJI", "GoPro", "Xiaomi", "Huawei", "OnePlus", "Motorola"}
	formats := []string{"jpeg", "jpeg", "jpeg", "heic", "heic", "png", "webp"}
	type place struct{ lat, lon float64 }
	places := make([]place, 300)
	for i := range places {
		places[i] = place{rng.Float64()*140 - 70, rng.Float64()*360 - 180}
	}
	places[0] = place{48.8566, 2.3522}   // Paris
	places[1] = place{-17.7134, 178.065} // Fiji, across the antimeridian
	out := make([]metastore.Record, n)
	for i := range out {
		bucket := "photos"
		if i%10 == 0 {
			bucket = "archive"
		}
		r := metastore.Record{
			Bucket:      bucket,
			Key:         fmt.Sprintf("%d/%02d/IMG_%07d.jpg", 2005+rng.IntN(20), 1+rng.IntN(12), i),
			Size:        100_000 + rng.Int64N(20_000_000),
			ETag:        fmt.Sprintf(`"%032x"`, rng.Uint64()),
			ContentType: "image/jpeg",
			Format:      formats[rng.IntN(len(formats))],
			Width:       4000, Height: 3000, Megapixels: 12, Orientation: 1 + rng.IntN(8),
			TakenAt: time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(20 * 365 * 24 * time.Hour)))),
			Make:    makes[rng.IntN(len(makes))], Model: fmt.Sprintf("Model %d", rng.IntN(5)),
			Lens: fmt.Sprintf("Lens %d", rng.IntN(50)), ISO: 100 << rng.IntN(6),
			Tags:      map[string]string{"album": fmt.Sprintf("album-%d", rng.IntN(200))},
			Status:    "ok",
			IndexedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		}
		if rng.IntN(1000) == 0 {
			r.Tags["rare"] = "yes"
		}
		if rng.IntN(10) < 7 {
			p := places[rng.IntN(len(places))]
			r.GPS = &metastore.GPS{Lat: p.lat + rng.NormFloat64()*0.05, Lon: max(-180, min(180, p.lon+rng.NormFloat64()*0.05))}
		}
		out[i] = r
	}
	return out
}

// loadLibrary bulk-loads records with COPY, then vacuums and refreshes the
// planner's statistics. It measures nothing and skips the counters: the tables it
// fills are for search plans and latency only (Verify would object).
func loadLibrary(tb testing.TB, s *Store, recs []metastore.Record) {
	tb.Helper()
	ctx := context.Background()
	cols := strings.Split(strings.ReplaceAll(recordColumns, "\n", ""), ",")
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	// jsonb takes its text form through COPY as well.
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"records"}, cols, pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
		return recordArgs(&recs[i]), nil
	}))
	if err != nil {
		tb.Fatalf("copy library: %v", err)
	}
	// VACUUM as autovacuum would after such a load: it marks the pages
	// all-visible, which index-only scans need.
	if _, err := s.pool.Exec(ctx, "VACUUM ANALYZE records"); err != nil {
		tb.Fatal(err)
	}
}

// openLibrary opens a store on a new cluster with library(n) loaded.
func openLibrary(tb testing.TB, n int) *Store {
	tb.Helper()
	pg := harness.StartPostgres(tb)
	s, err := Open(context.Background(), pg.DSN(), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	if n > 0 {
		loadLibrary(tb, s, library(n))
	}
	return s
}

// searchShapes are the queries the issue asks to EXPLAIN, with the index
// each must be answered from, or the plan step it must have ("": any
// index; for a filter that one photo in five passes, walking the result
// order is the right plan).
func searchShapes() []struct {
	name  string
	q     metastore.Query
	index string
} {
	week := func(y int) (time.Time, time.Time) {
		from := time.Date(y, 3, 1, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(0, 0, 7)
	}
	a, b := week(2015)
	year2015 := func(q metastore.Query) metastore.Query {
		q.TakenAfter, q.TakenBefore = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
		return q
	}
	paris := &metastore.BBox{MinLon: 2.2, MinLat: 48.8, MaxLon: 2.5, MaxLat: 48.95}
	// A place's photos are chosen in the geo index alone, their rows
	// unvisited.
	const geoIOS = "Index Only Scan using records_geo_covering"
	return []struct {
		name  string
		q     metastore.Query
		index string
	}{
		{"date range/sort=-taken", metastore.Query{Bucket: "photos", TakenAfter: a, TakenBefore: b, Sort: "-taken"}, "records_bucket_taken"},
		{"date range all buckets", metastore.Query{TakenAfter: a, TakenBefore: b, Sort: "taken"}, "records_taken"},
		{"camera make+model", metastore.Query{Make: "nikon", Model: "model 3"}, "records_camera"},
		{"camera model only (20%)", metastore.Query{Model: "model 3", Sort: "-taken"}, ""},
		{"bbox paris", metastore.Query{BBox: paris}, geoIOS},
		{"bbox antimeridian", metastore.Query{BBox: &metastore.BBox{MinLon: 177.9, MinLat: -18, MaxLon: -179.9, MaxLat: -17.4}}, geoIOS},
		{"near paris 10km", metastore.Query{Near: &metastore.Near{Lat: 48.8566, Lon: 2.3522, RadiusKm: 10}}, geoIOS},
		{"tag rare", metastore.Query{Tags: map[string]string{"rare": "yes"}}, "records_tags"},
		{"tag rare/sort=-taken", metastore.Query{Tags: map[string]string{"rare": "yes"}, Sort: "-taken"}, "records_tags"},
		{"no filter/sort=-taken", metastore.Query{Sort: "-taken"}, "records_taken"},
		// A photo library's typical query: a camera, a period, a place
		// (the bbolt engine's benchmark has the same shapes).
		{"make+model+year", year2015(metastore.Query{Make: "nikon", Model: "model 3"}), "records_camera_taken"},
		{"make+model+year/sort=-taken", year2015(metastore.Query{Make: "nikon", Model: "model 3", Sort: "-taken"}), "records_camera_taken"},
		{"make+year/sort=-taken", year2015(metastore.Query{Make: "nikon", Sort: "-taken"}), "records_camera_taken"},
		{"make+model+year+bbox paris", year2015(metastore.Query{Make: "nikon", Model: "model 3", BBox: paris}), ""},
		{"make+year+bbox paris", year2015(metastore.Query{Make: "nikon", BBox: paris}), ""},
		{"make+year+bbox paris/sort=-taken", year2015(metastore.Query{Make: "nikon", BBox: paris, Sort: "-taken"}), ""},
		{"key order", metastore.Query{Bucket: "photos", Prefix: "2010/"}, "records_pkey"},
		{"size range/sort=size", metastore.Query{MinSize: 5_000_000, MaxSize: 5_010_000, Sort: "size"}, "records_size"},
	}
}

// TestSearchPlansUseIndexes EXPLAINs every search shape over a library
// large enough for PostgreSQL to prefer indexes where they help, and
// checks that each shape is served by its index, never by a sequential
// scan of the records; and that a cursor continues with an index range.
func TestSearchPlansUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a 30k-photo library")
	}
	s := openLibrary(t, 30_000)
	ctx := context.Background()
	for _, shape := range searchShapes() {
		t.Run(shape.name, func(t *testing.T) {
			plan, err := s.Explain(ctx, shape.q)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", plan)
			if strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, shape.index) {
				t.Fatalf("plan does not use %s:\n%s", shape.index, plan)
			}
			page, err := s.Search(ctx, shape.q)
			if err != nil {
				t.Fatal(err)
			}
			if page.NextCursor == "" {
				return
			}
			q := shape.q
			q.Cursor = page.NextCursor
			if plan, err = s.Explain(ctx, q); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(plan, "Seq Scan") {
				t.Fatalf("second page scans the table:\n%s", plan)
			}
		})
	}
}

// TestSearchShapesMatchScan pages through every search shape, and
// variants with other orders and a small page size, and compares what the
// SQL plans return with the library filtered by Match and sorted in the
// result order: the same items in the same order, page after page.
func TestSearchShapesMatchScan(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a 20k-photo library")
	}
	recs := library(20_000)
	// The library's Fiji is west of the antimeridian; photos east of it
	// make the second box of the antimeridian shapes count.
	for i := range 300 {
		r := recs[i*7]
		r.Key = fmt.Sprintf("east/%d.jpg", i)
		r.GPS = &metastore.GPS{Lat: -17.5 - float64(i%40)/100, Lon: -180 + float64(i)/1000}
		recs = append(recs, r)
	}
	s := openLibrary(t, 0)
	loadLibrary(t, s, recs)
	shapes := searchShapes()
	for _, extra := range []struct {
		name string
		q    metastore.Query
	}{
		// Across the antimeridian: two boxes, the circle filtering them.
		{"near fiji 300km", metastore.Query{Near: &metastore.Near{Lat: -17.7134, Lon: 178.065, RadiusKm: 300}}},
		{"bbox fiji+tag+bucket", metastore.Query{Bucket: "photos", Tags: map[string]string{"album": "album-7"},
			BBox: &metastore.BBox{MinLon: 170, MinLat: -30, MaxLon: -170, MaxLat: 0}}},
		{"two tags", metastore.Query{Tags: map[string]string{"album": "album-3", "rare": "yes"}}},
		{"model+decade+bbox", metastore.Query{Model: "model 1", TakenAfter: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC),
			TakenBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), BBox: &metastore.BBox{MinLon: -180, MinLat: 0, MaxLon: 180, MaxLat: 90}}},
		{"bucket+camera+dated after", metastore.Query{Bucket: "archive", Make: "canon", TakenAfter: time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		shapes = append(shapes, struct {
			name  string
			q     metastore.Query
			index string
		}{extra.name, extra.q, ""})
	}
	for _, shape := range shapes {
		for _, sort := range []string{shape.q.Sort, "key", "-taken", "size", "-size"} {
			q := shape.q
			q.Sort = sort
			q.Limit = 37
			t.Run(shape.name+"/sort="+sort, func(t *testing.T) { checkSearch(t, s, recs, q) })
		}
	}
}

// checkSearch pages through q's results and compares them with recs
// filtered by Match and sorted in q's order.
func checkSearch(t *testing.T, s *Store, recs []metastore.Record, q metastore.Query) {
	t.Helper()
	ctx := context.Background()
	cq, err := metastore.CompileQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	var want []metastore.Record
	for i := range recs {
		if cq.Match(&recs[i]) {
			want = append(want, recs[i])
		}
	}
	slices.SortFunc(want, func(a, b metastore.Record) int {
		c := cmp.Or(bytes.Compare(cq.SortKey(&a), cq.SortKey(&b)), strings.Compare(a.Bucket, b.Bucket), strings.Compare(a.Key, b.Key))
		if cq.Descending() {
			return -c
		}
		return c
	})
	var got []string
	for pages := 0; ; pages++ {
		if pages > len(want)/max(1, cq.Limit())+1 {
			t.Fatalf("more pages than %d results need", len(want))
		}
		p, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			got = append(got, r.Bucket+"/"+r.Key)
		}
		if p.NextCursor == "" {
			break
		}
		q.Cursor = p.NextCursor
	}
	wantKeys := make([]string, len(want))
	for i, r := range want {
		wantKeys[i] = r.Bucket + "/" + r.Key
	}
	if !slices.Equal(got, wantKeys) {
		t.Fatalf("%d results, want %d; first difference at %d", len(got), len(wantKeys), firstDiff(got, wantKeys))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
