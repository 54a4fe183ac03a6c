package metastore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, time.UTC) }

// fixture is a small library with every filter's edge cases, spread over
// two buckets, with ties in taken time and size across buckets.
func fixture() []Record {
	r := func(bucket, key string, size int64, f func(*Record)) Record {
		rec := Record{Bucket: bucket, Key: key, Size: size, Status: "ok", ContentType: "image/jpeg", Format: "jpeg"}
		f(&rec)
		return rec
	}
	paris := &GPS{Lat: 48.8566, Lon: 2.3522}
	return []Record{
		r("p", "a.jpg", 100, func(r *Record) {
			r.Make, r.Model, r.Lens = "Canon", "EOS R5", "RF50mm F1.2"
			r.TakenAt, r.GPS = day(2020, 1, 1), paris
			r.Width, r.Height, r.DisplayWidth, r.DisplayHeight, r.Orientation = 4000, 3000, 4000, 3000, 1
			r.Megapixels, r.Aspect, r.ISO = 12, "landscape", 100
			r.Tags = map[string]string{"trip": "paris"}
		}),
		r("p", "b.jpg", 200, func(r *Record) {
			r.Make, r.Model, r.Lens = "Canon", "EOS R6", "RF50mm F1.2"
			r.TakenAt, r.GPS = day(2021, 6, 1), &GPS{Lat: 51.5074, Lon: -0.1278}
			r.Width, r.Height, r.DisplayWidth, r.DisplayHeight, r.Orientation = 4000, 3000, 3000, 4000, 6
			r.Megapixels, r.Aspect, r.ISO = 12, "portrait", 800
			r.Tags = map[string]string{"trip": "london"}
		}),
		r("p", "c.heic", 300, func(r *Record) {
			r.Make, r.Model, r.Format, r.ContentType = "NIKON CORPORATION", "Z9", "heic", "image/heic"
			r.TakenAt, r.GPS = day(2022, 3, 15), &GPS{Lat: -17.7, Lon: 179.9}
			r.Width, r.Height, r.Megapixels, r.ISO = 8256, 5504, 45.4, 3200
			r.Tags = map[string]string{"trip": "fiji", "fav": "yes"}
		}),
		r("p", "d.heic", 400, func(r *Record) {
			r.Make, r.Model, r.Format, r.ContentType = "nikon corporation", "z9", "HEIC", "image/heic"
			r.GPS = &GPS{Lat: -16.8, Lon: -179.95} // undated, no ISO
		}),
		r("p", "e.png", 500, func(r *Record) {
			r.Make, r.Model, r.Format, r.ContentType = "Apple", "iPhone 12", "png", "Image/PNG; charset=binary"
			r.TakenAt, r.ISO = day(2023, 1, 1), 32
			r.Tags = map[string]string{"fav": "yes"}
		}),
		r("p", "f.jpg", 600, func(r *Record) {
			r.Make, r.Model = "  CANON ", "eos r5" // padded and differently cased
			r.TakenAt = day(2019, 5, 5)
			r.GPS = &GPS{Lat: 200, Lon: 0} // invalid: counts as no GPS
		}),
		r("p", "dir/i.jpg", 100, func(r *Record) {
			r.Make, r.Model = "Canon", "EOS R5"
			r.TakenAt = day(2020, 1, 1)
		}),
		r("p", "dir/j.jpg", 700, func(r *Record) {
			r.Make, r.Model = "Nikon", "D850"
			r.TakenAt, r.GPS = day(2018, 7, 7), &GPS{Lat: 89.9, Lon: 10}
		}),
		r("q", "g.jpg", 100, func(r *Record) {
			r.Make, r.Model = "Canon", "EOS R5"
			r.TakenAt, r.GPS = day(2020, 1, 1), &GPS{Lat: 48.86, Lon: 2.35}
			r.Tags = map[string]string{"trip": "paris"}
		}),
		r("q", "h.webp", 0, func(r *Record) {
			r.Make, r.Format, r.ContentType = "Sony", "webp", "image/webp"
			r.TakenAt = day(2024, 2, 29)
		}),
		r("q", "k.jpg", 800, func(r *Record) {}), // nothing but the basics
	}
}

func loadFixture(t *testing.T) *Store {
	s := openTest(t)
	var muts []Mutation
	for _, r := range fixture() {
		muts = append(muts, Put(r))
	}
	commit(t, s, muts...)
	verify(t, s)
	return s
}

func yes() *bool { v := true; return &v }
func no() *bool  { v := false; return &v }

var filterCases = []struct {
	name string
	q    Query
	want string // space-separated bucket/key, any order
}{
	{"all", Query{}, "p/a.jpg p/b.jpg p/c.heic p/d.heic p/e.png p/f.jpg p/dir/i.jpg p/dir/j.jpg q/g.jpg q/h.webp q/k.jpg"},
	{"bucket", Query{Bucket: "q"}, "q/g.jpg q/h.webp q/k.jpg"},
	{"unknown bucket", Query{Bucket: "nope"}, ""},
	{"prefix", Query{Prefix: "dir/"}, "p/dir/i.jpg p/dir/j.jpg"},
	{"prefix in bucket", Query{Bucket: "q", Prefix: "g"}, "q/g.jpg"},
	{"make", Query{Make: "canon"}, "p/a.jpg p/b.jpg p/f.jpg p/dir/i.jpg q/g.jpg"},
	{"make padded query", Query{Make: " CANON "}, "p/a.jpg p/b.jpg p/f.jpg p/dir/i.jpg q/g.jpg"},
	{"make+model", Query{Make: "Canon", Model: "EOS R5"}, "p/a.jpg p/f.jpg p/dir/i.jpg q/g.jpg"},
	{"model only", Query{Model: "z9"}, "p/c.heic p/d.heic"},
	{"model other make", Query{Model: "eos r6"}, "p/b.jpg"},
	{"make+model none", Query{Make: "Nikon", Model: "EOS R5"}, ""},
	{"lens", Query{Lens: "rf50mm f1.2"}, "p/a.jpg p/b.jpg"},
	{"format", Query{Format: "heic"}, "p/c.heic p/d.heic"},
	{"content type", Query{ContentType: "image/png"}, "p/e.png"},
	{"content type params", Query{ContentType: "IMAGE/HEIC; x=y"}, "p/c.heic p/d.heic"},
	{"tag", Query{Tags: map[string]string{"trip": "paris"}}, "p/a.jpg q/g.jpg"},
	{"tag case-sensitive", Query{Tags: map[string]string{"trip": "Paris"}}, ""},
	{"two tags", Query{Tags: map[string]string{"trip": "fiji", "fav": "yes"}}, "p/c.heic"},
	{"has gps", Query{HasGPS: yes()}, "p/a.jpg p/b.jpg p/c.heic p/d.heic p/dir/j.jpg q/g.jpg"},
	{"no gps", Query{HasGPS: no()}, "p/e.png p/f.jpg p/dir/i.jpg q/h.webp q/k.jpg"},
	{"bbox europe", Query{BBox: &BBox{MinLon: -10, MinLat: 35, MaxLon: 30, MaxLat: 60}}, "p/a.jpg p/b.jpg q/g.jpg"},
	{"bbox antimeridian", Query{BBox: &BBox{MinLon: 179, MinLat: -20, MaxLon: -179, MaxLat: -10}}, "p/c.heic p/d.heic"},
	{"bbox antimeridian east only", Query{BBox: &BBox{MinLon: 179, MinLat: -20, MaxLon: -179.99, MaxLat: -10}}, "p/c.heic"},
	{"bbox almost world", Query{BBox: &BBox{MinLon: 10, MinLat: -90, MaxLon: 5, MaxLat: 90}}, "p/a.jpg p/b.jpg p/c.heic p/d.heic p/dir/j.jpg q/g.jpg"},
	{"bbox world", Query{BBox: &BBox{MinLon: -180, MinLat: -90, MaxLon: 180, MaxLat: 90}}, "p/a.jpg p/b.jpg p/c.heic p/d.heic p/dir/j.jpg q/g.jpg"},
	{"bbox point", Query{BBox: &BBox{MinLon: 2.3522, MinLat: 48.8566, MaxLon: 2.3522, MaxLat: 48.8566}}, "p/a.jpg"},
	{"near paris", Query{Near: &Near{Lat: 48.8566, Lon: 2.3522, RadiusKm: 5}}, "p/a.jpg q/g.jpg"},
	{"near paris tight", Query{Near: &Near{Lat: 48.8566, Lon: 2.3522, RadiusKm: 0.1}}, "p/a.jpg"},
	{"near antimeridian", Query{Near: &Near{Lat: -17, Lon: 180, RadiusKm: 150}}, "p/c.heic p/d.heic"},
	{"near pole", Query{Near: &Near{Lat: 90, Lon: -120, RadiusKm: 20}}, "p/dir/j.jpg"},
	{"near and bbox", Query{Near: &Near{Lat: 50, Lon: 0, RadiusKm: 1000}, BBox: &BBox{MinLon: -1, MinLat: 50, MaxLon: 1, MaxLat: 52}}, "p/b.jpg"},
	{"orientation", Query{Orientation: 6}, "p/b.jpg"},
	{"aspect", Query{Aspect: "Portrait"}, "p/b.jpg"},
	{"min width uses display size", Query{MinWidth: 3500}, "p/a.jpg p/c.heic"},
	{"min height", Query{MinHeight: 3500}, "p/b.jpg p/c.heic"},
	{"megapixels", Query{MinMegapixels: 20}, "p/c.heic"},
	{"size range", Query{MinSize: 300, MaxSize: 500}, "p/c.heic p/d.heic p/e.png"},
	{"min size", Query{MinSize: 700}, "p/dir/j.jpg q/k.jpg"},
	{"max size", Query{MaxSize: 100}, "p/a.jpg p/dir/i.jpg q/g.jpg q/h.webp"},
	{"iso range", Query{ISOMin: 100, ISOMax: 800}, "p/a.jpg p/b.jpg"},
	{"iso min", Query{ISOMin: 500}, "p/b.jpg p/c.heic"},
	{"iso max excludes unknown", Query{ISOMax: 50}, "p/e.png"},
	{"taken after (inclusive)", Query{TakenAfter: day(2021, 6, 1)}, "p/b.jpg p/c.heic p/e.png q/h.webp"},
	{"taken before (exclusive)", Query{TakenBefore: day(2020, 1, 1)}, "p/f.jpg p/dir/j.jpg"},
	{"taken range", Query{TakenAfter: day(2020, 1, 1), TakenBefore: day(2021, 1, 1)}, "p/a.jpg p/dir/i.jpg q/g.jpg"},
	{"combined", Query{Bucket: "p", Make: "canon", TakenAfter: day(2020, 1, 1), HasGPS: yes(), MaxSize: 150}, "p/a.jpg"},
	{"combined none", Query{Format: "heic", Tags: map[string]string{"trip": "paris"}}, ""},
}

// allSorts lists every order Search accepts.
var allSorts = []string{"", "key", "-key", "taken", "-taken", "size", "-size"}

// expectOrder sorts records by an independent reading of the documented
// order: (sort value, bucket, key), undated photos before all dated ones,
// descending orders reversed entirely.
func expectOrder(recs []Record, sortBy string) []string {
	desc := strings.HasPrefix(sortBy, "-")
	field := strings.TrimPrefix(sortBy, "-")
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b Record) int {
		c := 0
		switch field {
		case "taken":
			switch {
			case a.TakenAt.IsZero() && !b.TakenAt.IsZero():
				c = -1
			case !a.TakenAt.IsZero() && b.TakenAt.IsZero():
				c = 1
			default:
				c = a.TakenAt.Compare(b.TakenAt)
			}
		case "size":
			c = cmp.Compare(a.Size, b.Size)
		}
		if c == 0 {
			c = cmp.Or(strings.Compare(a.Bucket, b.Bucket), strings.Compare(a.Key, b.Key))
		}
		if desc {
			return -c
		}
		return c
	})
	return names(recs)
}

func TestSearchFilters(t *testing.T) {
	s := loadFixture(t)
	byName := map[string]Record{}
	for _, r := range fixture() {
		byName[r.Bucket+"/"+r.Key] = r
	}
	for _, tc := range filterCases {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.Fields(tc.want)
			got := names(search(t, s, tc.q).Items)
			if !reflect.DeepEqual(sorted(got), sorted(want)) {
				t.Fatalf("got %q\nwant %q", got, want)
			}
			var wantRecs []Record
			for _, n := range want {
				wantRecs = append(wantRecs, byName[n])
			}
			// Every order, every plan, paged two at a time, must give
			// exactly the expected items in the expected order.
			for _, sortBy := range allSorts {
				q := tc.q
				q.Sort, q.Limit = sortBy, 2
				order := expectOrder(wantRecs, sortBy)
				for _, plan := range plans(t, s, q) {
					s.planHook = func([]string) int { return plan.choice }
					got := searchAll(t, s, q)
					s.planHook = nil
					if !slices.Equal(got, order) {
						t.Fatalf("sort %q, plan %s:\n got %q\nwant %q", sortBy, plan.name, got, order)
					}
				}
			}
		})
	}
}

type planChoice struct {
	name   string
	choice int
}

// plans lists every plan the store could use for q: the walk and each
// usable index.
func plans(t *testing.T, s *Store, q Query) []planChoice {
	var paths []string
	s.planHook = func(p []string) int { paths = p; return -1 }
	search(t, s, q)
	s.planHook = nil
	out := []planChoice{{"walk", -1}}
	for i, p := range paths {
		out = append(out, planChoice{"index:" + p, i})
	}
	return out
}

func TestSearchUsesIndexes(t *testing.T) {
	s := loadFixture(t)
	for _, tc := range []struct {
		q    Query
		plan string
	}{
		{Query{}, "walk:key"},
		{Query{Sort: "-taken"}, "walk:taken"},
		{Query{Model: "z9"}, "index:camera"},
		{Query{Tags: map[string]string{"fav": "yes"}}, "index:tag:fav"},
		{Query{Near: &Near{Lat: 48.8566, Lon: 2.3522, RadiusKm: 1}}, "index:geo"},
		{Query{TakenAfter: day(2024, 1, 1)}, "index:taken"},
		{Query{TakenAfter: day(2024, 1, 1), Sort: "taken"}, "walk:taken"},
		{Query{Format: "webp", Make: "canon"}, "index:format"},
	} {
		if p := search(t, s, tc.q); p.Plan != tc.plan {
			t.Errorf("%+v: plan %s, want %s", tc.q, p.Plan, tc.plan)
		}
	}
}

func TestSearchValidation(t *testing.T) {
	s := loadFixture(t)
	nan := func() float64 { var z float64; return z / z }()
	good := search(t, s, Query{Limit: 1})
	for _, tc := range []struct {
		q     Query
		param string
	}{
		{Query{Sort: "name"}, "sort"},
		{Query{Sort: "-"}, "sort"},
		{Query{Limit: -1}, "limit"},
		{Query{Bucket: "a\x00b"}, "bucket"},
		{Query{TakenAfter: day(2021, 1, 1), TakenBefore: day(2020, 1, 1)}, "taken_before"},
		{Query{TakenAfter: day(2021, 1, 1), TakenBefore: day(2021, 1, 1)}, "taken_before"},
		{Query{Tags: map[string]string{"": "x"}}, "tags"},
		{Query{BBox: &BBox{MinLon: -181, MaxLon: 0, MinLat: 0, MaxLat: 1}}, "bbox"},
		{Query{BBox: &BBox{MinLon: 0, MaxLon: 1, MinLat: 2, MaxLat: 1}}, "bbox"},
		{Query{BBox: &BBox{MinLon: nan, MaxLon: 1, MinLat: 0, MaxLat: 1}}, "bbox"},
		{Query{Near: &Near{Lat: 91, Lon: 0, RadiusKm: 1}}, "near"},
		{Query{Near: &Near{Lat: 0, Lon: 0, RadiusKm: 0}}, "near"},
		{Query{Near: &Near{Lat: 0, Lon: 0, RadiusKm: nan}}, "near"},
		{Query{Orientation: 9}, "orientation"},
		{Query{MinWidth: -1}, "min_width"},
		{Query{MinHeight: -1}, "min_height"},
		{Query{MinMegapixels: -1}, "min_megapixels"},
		{Query{MinSize: -1}, "min_size"},
		{Query{MaxSize: -1}, "max_size"},
		{Query{MinSize: 10, MaxSize: 5}, "max_size"},
		{Query{ISOMin: -1}, "iso_min"},
		{Query{ISOMax: -1}, "iso_max"},
		{Query{ISOMin: 800, ISOMax: 100}, "iso_max"},
		{Query{Cursor: "!!!"}, "cursor"},
		{Query{Cursor: good.NextCursor, Sort: "-key"}, "cursor"},  // other order
		{Query{Cursor: good.NextCursor, Make: "canon"}, "cursor"}, // other filters
		{Query{Cursor: good.NextCursor[:8]}, "cursor"},            // truncated
	} {
		_, err := s.Search(context.Background(), tc.q)
		var qe *QueryError
		if !errors.As(err, &qe) || qe.Param != tc.param {
			t.Errorf("%+v: err %v, want *QueryError for %s", tc.q, err, tc.param)
		}
	}
	// The same cursor works with another page size.
	if _, err := s.Search(context.Background(), Query{Cursor: good.NextCursor, Limit: 5}); err != nil {
		t.Errorf("cursor with another limit: %v", err)
	}
	// Explicit and default key order share cursors.
	if _, err := s.Search(context.Background(), Query{Cursor: good.NextCursor, Sort: "key"}); err != nil {
		t.Errorf("cursor with sort=key: %v", err)
	}
}

func TestSearchLimit(t *testing.T) {
	s := openTest(t)
	var muts []Mutation
	for _, k := range seq("k", 1200) {
		muts = append(muts, Put(photo("b", k)))
	}
	commit(t, s, muts...)
	if p := search(t, s, Query{}); len(p.Items) != defaultLimit || p.NextCursor == "" {
		t.Errorf("default limit: %d items", len(p.Items))
	}
	if p := search(t, s, Query{Limit: 5000}); len(p.Items) != maxLimit {
		t.Errorf("limit above the maximum: %d items", len(p.Items))
	}
	p := search(t, s, Query{Limit: 1200})
	if len(p.Items) != maxLimit {
		t.Errorf("clamped: %d", len(p.Items))
	}
	p = search(t, s, Query{Limit: 200, Cursor: p.NextCursor})
	if len(p.Items) != 200 || p.NextCursor != "" {
		t.Errorf("last page: %d items, cursor %q", len(p.Items), p.NextCursor)
	}
}

func TestSearchCancelled(t *testing.T) {
	s := loadFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Search(ctx, Query{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

// ExampleStore_Search shows a query as the admin API would build it.
func ExampleStore_Search() {
	dir, _ := tempDir()
	s, _ := Open(dir+"/index.db", Options{NoSync: true})
	defer s.Close()
	ctx := context.Background()
	_ = s.Commit(ctx, 0,
		Put(Record{Bucket: "photos", Key: "a.jpg", Make: "Canon", TakenAt: day(2020, 1, 1)}),
		Put(Record{Bucket: "photos", Key: "b.jpg", Make: "canon", TakenAt: day(2021, 1, 1)}),
		Put(Record{Bucket: "photos", Key: "c.jpg", Make: "Nikon", TakenAt: day(2022, 1, 1)}),
	)
	page, _ := s.Search(ctx, Query{Bucket: "photos", Make: "CANON", Sort: "-taken", Limit: 1})
	fmt.Println(page.Items[0].Key, page.NextCursor != "")
	page, _ = s.Search(ctx, Query{Bucket: "photos", Make: "CANON", Sort: "-taken", Limit: 1, Cursor: page.NextCursor})
	fmt.Println(page.Items[0].Key, page.NextCursor != "")
	// Output:
	// b.jpg true
	// a.jpg false
}
