package conformance

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/photogate/photogate/metastore"
)

// base is an instant every test date is relative to.
var base = time.Date(2023, 6, 1, 12, 0, 0, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, time.UTC) }

func float(v float64) *float64 { return &v }

func yes() *bool { v := true; return &v }
func no() *bool  { v := false; return &v }

// photo returns a fully populated record; mods adjust it.
func photo(bucket, key string, mods ...func(*metastore.Record)) metastore.Record {
	r := metastore.Record{
		Bucket: bucket, Key: key,
		VersionID: "v1", Size: 1000, ETag: `"etag-` + key + `"`,
		ContentType: "image/jpeg", LastModified: base,
		UserMeta: map[string]string{"owner": "ana"},
		Format:   "jpeg", MIME: "image/jpeg",
		Width: 4000, Height: 3000, DisplayWidth: 4000, DisplayHeight: 3000, Orientation: 1,
		Megapixels: 12, Aspect: "landscape",
		TakenAt: base, TakenOffset: "+02:00",
		Make: "Canon", Model: "EOS R5", Lens: "RF24-105mm F4 L IS USM",
		ISO: 100, FNumber: 4, ExposureTime: "1/250", FocalLength: 50, FocalLength35: 50,
		GPS:    &metastore.GPS{Lat: 48.8584, Lon: 2.2945, Alt: float(35)},
		Status: "ok",
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

// Fixture is a small library with every filter's edge cases, spread over
// two buckets, with ties in taken time and size across buckets.
func Fixture() []metastore.Record {
	r := func(bucket, key string, size int64, f func(*metastore.Record)) metastore.Record {
		rec := metastore.Record{Bucket: bucket, Key: key, Size: size, Status: "ok", ContentType: "image/jpeg", Format: "jpeg"}
		f(&rec)
		return rec
	}
	paris := &metastore.GPS{Lat: 48.8566, Lon: 2.3522}
	return []metastore.Record{
		r("p", "a.jpg", 100, func(r *metastore.Record) {
			r.Make, r.Model, r.Lens = "Canon", "EOS R5", "RF50mm F1.2"
			r.TakenAt, r.GPS = day(2020, 1, 1), paris
			r.Width, r.Height, r.DisplayWidth, r.DisplayHeight, r.Orientation = 4000, 3000, 4000, 3000, 1
			r.Megapixels, r.Aspect, r.ISO = 12, "landscape", 100
			r.Tags = map[string]string{"trip": "paris"}
		}),
		r("p", "b.jpg", 200, func(r *metastore.Record) {
			r.Make, r.Model, r.Lens = "Canon", "EOS R6", "RF50mm F1.2"
			r.TakenAt, r.GPS = day(2021, 6, 1), &metastore.GPS{Lat: 51.5074, Lon: -0.1278}
			r.Width, r.Height, r.DisplayWidth, r.DisplayHeight, r.Orientation = 4000, 3000, 3000, 4000, 6
			r.Megapixels, r.Aspect, r.ISO = 12, "portrait", 800
			r.Tags = map[string]string{"trip": "london"}
		}),
		r("p", "c.heic", 300, func(r *metastore.Record) {
			r.Make, r.Model, r.Format, r.ContentType = "NIKON CORPORATION", "Z9", "heic", "image/heic"
			r.TakenAt, r.GPS = day(2022, 3, 15), &metastore.GPS{Lat: -17.7, Lon: 179.9}
			r.Width, r.Height, r.Megapixels, r.ISO = 8256, 5504, 45.4, 3200
			r.Tags = map[string]string{"trip": "fiji", "fav": "yes"}
		}),
		r("p", "d.heic", 400, func(r *metastore.Record) {
			r.Make, r.Model, r.Format, r.ContentType = "nikon corporation", "z9", "HEIC", "image/heic"
			r.GPS = &metastore.GPS{Lat: -16.8, Lon: -179.95} // undated, no ISO
		}),
		r("p", "e.png", 500, func(r *metastore.Record) {
			r.Make, r.Model, r.Format, r.ContentType = "Apple", "iPhone 12", "png", "Image/PNG; charset=binary"
			r.TakenAt, r.ISO = day(2023, 1, 1), 32
			r.Tags = map[string]string{"fav": "yes"}
		}),
		r("p", "f.jpg", 600, func(r *metastore.Record) {
			r.Make, r.Model = "  CANON ", "eos r5" // padded and differently cased
			r.TakenAt = day(2019, 5, 5)
			r.GPS = &metastore.GPS{Lat: 200, Lon: 0} // invalid: counts as no GPS
		}),
		r("p", "dir/i.jpg", 100, func(r *metastore.Record) {
			r.Make, r.Model = "Canon", "EOS R5"
			r.TakenAt = day(2020, 1, 1)
		}),
		r("p", "dir/j.jpg", 700, func(r *metastore.Record) {
			r.Make, r.Model = "Nikon", "D850"
			r.TakenAt, r.GPS = day(2018, 7, 7), &metastore.GPS{Lat: 89.9, Lon: 10}
		}),
		r("q", "g.jpg", 100, func(r *metastore.Record) {
			r.Make, r.Model = "Canon", "EOS R5"
			r.TakenAt, r.GPS = day(2020, 1, 1), &metastore.GPS{Lat: 48.86, Lon: 2.35}
			r.Tags = map[string]string{"trip": "paris"}
		}),
		r("q", "h.webp", 0, func(r *metastore.Record) {
			r.Make, r.Format, r.ContentType = "Sony", "webp", "image/webp"
			r.TakenAt = day(2024, 2, 29)
		}),
		r("q", "k.jpg", 800, func(r *metastore.Record) {}), // nothing but the basics
	}
}

// FilterCase is a query and the records of Fixture it must return, in
// any order.
type FilterCase struct {
	Name  string
	Query metastore.Query
	Want  string // space-separated bucket/key
}

// FilterCases covers every field of metastore.Query on the fixture.
func FilterCases() []FilterCase {
	return []FilterCase{
		{"all", metastore.Query{}, "p/a.jpg p/b.jpg p/c.heic p/d.heic p/e.png p/f.jpg p/dir/i.jpg p/dir/j.jpg q/g.jpg q/h.webp q/k.jpg"},
		{"bucket", metastore.Query{Bucket: "q"}, "q/g.jpg q/h.webp q/k.jpg"},
		{"unknown bucket", metastore.Query{Bucket: "nope"}, ""},
		{"prefix", metastore.Query{Prefix: "dir/"}, "p/dir/i.jpg p/dir/j.jpg"},
		{"prefix in bucket", metastore.Query{Bucket: "q", Prefix: "g"}, "q/g.jpg"},
		{"make", metastore.Query{Make: "canon"}, "p/a.jpg p/b.jpg p/f.jpg p/dir/i.jpg q/g.jpg"},
		{"make padded query", metastore.Query{Make: " CANON "}, "p/a.jpg p/b.jpg p/f.jpg p/dir/i.jpg q/g.jpg"},
		{"make+model", metastore.Query{Make: "Canon", Model: "EOS R5"}, "p/a.jpg p/f.jpg p/dir/i.jpg q/g.jpg"},
		{"model only", metastore.Query{Model: "z9"}, "p/c.heic p/d.heic"},
		{"model other make", metastore.Query{Model: "eos r6"}, "p/b.jpg"},
		{"make+model none", metastore.Query{Make: "Nikon", Model: "EOS R5"}, ""},
		{"lens", metastore.Query{Lens: "rf50mm f1.2"}, "p/a.jpg p/b.jpg"},
		{"format", metastore.Query{Format: "heic"}, "p/c.heic p/d.heic"},
		{"content type", metastore.Query{ContentType: "image/png"}, "p/e.png"},
		{"content type params", metastore.Query{ContentType: "IMAGE/HEIC; x=y"}, "p/c.heic p/d.heic"},
		{"tag", metastore.Query{Tags: map[string]string{"trip": "paris"}}, "p/a.jpg q/g.jpg"},
		{"tag case-sensitive", metastore.Query{Tags: map[string]string{"trip": "Paris"}}, ""},
		{"two tags", metastore.Query{Tags: map[string]string{"trip": "fiji", "fav": "yes"}}, "p/c.heic"},
		{"has gps", metastore.Query{HasGPS: yes()}, "p/a.jpg p/b.jpg p/c.heic p/d.heic p/dir/j.jpg q/g.jpg"},
		{"no gps", metastore.Query{HasGPS: no()}, "p/e.png p/f.jpg p/dir/i.jpg q/h.webp q/k.jpg"},
		{"bbox europe", metastore.Query{BBox: &metastore.BBox{MinLon: -10, MinLat: 35, MaxLon: 30, MaxLat: 60}}, "p/a.jpg p/b.jpg q/g.jpg"},
		{"bbox antimeridian", metastore.Query{BBox: &metastore.BBox{MinLon: 179, MinLat: -20, MaxLon: -179, MaxLat: -10}}, "p/c.heic p/d.heic"},
		{"bbox antimeridian east only", metastore.Query{BBox: &metastore.BBox{MinLon: 179, MinLat: -20, MaxLon: -179.99, MaxLat: -10}}, "p/c.heic"},
		{"bbox almost world", metastore.Query{BBox: &metastore.BBox{MinLon: 10, MinLat: -90, MaxLon: 5, MaxLat: 90}}, "p/a.jpg p/b.jpg p/c.heic p/d.heic p/dir/j.jpg q/g.jpg"},
		{"bbox world", metastore.Query{BBox: &metastore.BBox{MinLon: -180, MinLat: -90, MaxLon: 180, MaxLat: 90}}, "p/a.jpg p/b.jpg p/c.heic p/d.heic p/dir/j.jpg q/g.jpg"},
		{"bbox point", metastore.Query{BBox: &metastore.BBox{MinLon: 2.3522, MinLat: 48.8566, MaxLon: 2.3522, MaxLat: 48.8566}}, "p/a.jpg"},
		{"near paris", metastore.Query{Near: &metastore.Near{Lat: 48.8566, Lon: 2.3522, RadiusKm: 5}}, "p/a.jpg q/g.jpg"},
		{"near paris tight", metastore.Query{Near: &metastore.Near{Lat: 48.8566, Lon: 2.3522, RadiusKm: 0.1}}, "p/a.jpg"},
		{"near antimeridian", metastore.Query{Near: &metastore.Near{Lat: -17, Lon: 180, RadiusKm: 150}}, "p/c.heic p/d.heic"},
		{"near pole", metastore.Query{Near: &metastore.Near{Lat: 90, Lon: -120, RadiusKm: 20}}, "p/dir/j.jpg"},
		{"near and bbox", metastore.Query{Near: &metastore.Near{Lat: 50, Lon: 0, RadiusKm: 1000}, BBox: &metastore.BBox{MinLon: -1, MinLat: 50, MaxLon: 1, MaxLat: 52}}, "p/b.jpg"},
		{"orientation", metastore.Query{Orientation: 6}, "p/b.jpg"},
		{"aspect", metastore.Query{Aspect: "Portrait"}, "p/b.jpg"},
		{"min width uses display size", metastore.Query{MinWidth: 3500}, "p/a.jpg p/c.heic"},
		{"min height", metastore.Query{MinHeight: 3500}, "p/b.jpg p/c.heic"},
		{"megapixels", metastore.Query{MinMegapixels: 20}, "p/c.heic"},
		{"size range", metastore.Query{MinSize: 300, MaxSize: 500}, "p/c.heic p/d.heic p/e.png"},
		{"min size", metastore.Query{MinSize: 700}, "p/dir/j.jpg q/k.jpg"},
		{"max size", metastore.Query{MaxSize: 100}, "p/a.jpg p/dir/i.jpg q/g.jpg q/h.webp"},
		{"iso range", metastore.Query{ISOMin: 100, ISOMax: 800}, "p/a.jpg p/b.jpg"},
		{"iso min", metastore.Query{ISOMin: 500}, "p/b.jpg p/c.heic"},
		{"iso max excludes unknown", metastore.Query{ISOMax: 50}, "p/e.png"},
		{"taken after (inclusive)", metastore.Query{TakenAfter: day(2021, 6, 1)}, "p/b.jpg p/c.heic p/e.png q/h.webp"},
		{"taken before (exclusive)", metastore.Query{TakenBefore: day(2020, 1, 1)}, "p/f.jpg p/dir/j.jpg"},
		{"taken range", metastore.Query{TakenAfter: day(2020, 1, 1), TakenBefore: day(2021, 1, 1)}, "p/a.jpg p/dir/i.jpg q/g.jpg"},
		{"combined", metastore.Query{Bucket: "p", Make: "canon", TakenAfter: day(2020, 1, 1), HasGPS: yes(), MaxSize: 150}, "p/a.jpg"},
		{"combined none", metastore.Query{Format: "heic", Tags: map[string]string{"trip": "paris"}}, ""},
	}
}

// Sorts lists every order Search accepts.
func Sorts() []string { return []string{"", "key", "-key", "taken", "-taken", "size", "-size"} }

// ExpectOrder sorts records by an independent reading of the documented
// order: (sort value, bucket, key), undated photos before all dated ones,
// descending orders reversed entirely.
func ExpectOrder(recs []metastore.Record, sortBy string) []string {
	desc := strings.HasPrefix(sortBy, "-")
	field := strings.TrimPrefix(sortBy, "-")
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b metastore.Record) int {
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

// stable returns the records that exist for the whole of a pagination
// test: three buckets, with many ties in taken time and size.
func stable(n int) []metastore.Record {
	var out []metastore.Record
	for i := range n {
		out = append(out, photo(fmt.Sprintf("b%d", i%3), fmt.Sprintf("s/%05d", i), func(r *metastore.Record) {
			r.TakenAt = base.Add(time.Duration(i%17) * time.Hour)
			if i%11 == 0 {
				r.TakenAt = time.Time{}
			}
			r.Size = int64(i % 13)
			if i%2 == 0 {
				r.Lens = "L-even"
			}
		}))
	}
	return out
}

func puts(recs []metastore.Record) []metastore.Mutation {
	out := make([]metastore.Mutation, len(recs))
	for i, r := range recs {
		out[i] = metastore.Put(r)
	}
	return out
}

func commit(t testing.TB, s metastore.Index, muts ...metastore.Mutation) {
	t.Helper()
	if err := s.Commit(context.Background(), 0, muts...); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// verify fails the test if the engine's derived data disagrees with its
// records.
func verify(t testing.TB, s metastore.Index) {
	t.Helper()
	if err := s.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func names(items []metastore.Record) []string {
	out := make([]string, len(items))
	for i, r := range items {
		out[i] = r.Bucket + "/" + r.Key
	}
	return out
}

func search(t testing.TB, s metastore.Index, q metastore.Query) metastore.Page {
	t.Helper()
	p, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return p
}

// SearchAll pages through a query and returns every item name.
func SearchAll(t testing.TB, s metastore.Index, q metastore.Query) []string {
	t.Helper()
	var out []string
	for i := 0; ; i++ {
		if i > 100000 {
			t.Fatal("pagination does not end")
		}
		p := search(t, s, q)
		out = append(out, names(p.Items)...)
		if p.NextCursor == "" {
			return out
		}
		q.Cursor = p.NextCursor
	}
}

func sorted(ss []string) []string {
	ss = slices.Clone(ss)
	slices.Sort(ss)
	return ss
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}
