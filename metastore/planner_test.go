package metastore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bruteForce is the reference result of q: every record, filtered by
// match, sorted in the query's order. It shares only compile and match
// with Search, not the planner.
func bruteForce(t *testing.T, s *Store, q Query) []string {
	t.Helper()
	q.Cursor = ""
	c, err := compile(q)
	if err != nil {
		t.Fatal(err)
	}
	var hits []hit
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bkRecords)).ForEach(func(k, v []byte) error {
			r, err := decodeRecordKV(k, v)
			if err != nil {
				return err
			}
			if c.match(&r) {
				hits = append(hits, hit{pos: position{sk: c.sort.sortKey(&r), bucket: r.Bucket, key: r.Key}, rec: r})
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(hits, func(a, b hit) int { return c.sort.cmp(a.pos, b.pos) })
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.rec.Bucket + "/" + h.rec.Key
	}
	return out
}

// searchPages follows NextCursor to the end and returns every item and
// the plans used.
func searchPages(t *testing.T, s *Store, q Query) (items, plans []string) {
	t.Helper()
	for page := 0; ; page++ {
		if page > 10_000 {
			t.Fatalf("%+v: pagination does not end", q)
		}
		p, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("Search(%+v): %v", q, err)
		}
		items = append(items, names(p.Items)...)
		plans = append(plans, p.Plan)
		if p.NextCursor == "" {
			return items, plans
		}
		q.Cursor = p.NextCursor
	}
}

// randomLibrary writes n records made to trip the planner: few cameras
// spelt in several ways, shared dates and sizes (ties), undated photos,
// photos without or with invalid positions, positions on the edges of the
// boxes randomQuery asks for and near the antimeridian.
func randomLibrary(t *testing.T, rng *rand.Rand, n int) *Store {
	t.Helper()
	s := openTest(t)
	makes := []string{"Canon", "canon ", "NIKON", "Nikon", "Sony", "", "Fujifilm"}
	models := []string{"EOS R5", "eos r5", "Z9", "", "A7 IV", "X-T5"}
	formats := []string{"jpeg", "heic", "png", ""}
	var muts []Mutation
	for i := range n {
		r := Record{
			Bucket: []string{"a", "b", "c"}[rng.IntN(3)],
			Key:    fmt.Sprintf("%s%03d/img%05d.jpg", []string{"x/", "y/", ""}[rng.IntN(3)], rng.IntN(50), i),
			Size:   int64(rng.IntN(20)) * 1000, ETag: fmt.Sprintf(`"%d"`, i),
			ContentType: "image/jpeg", Status: "ok",
			Format: formats[rng.IntN(len(formats))],
			Make:   makes[rng.IntN(len(makes))], Model: models[rng.IntN(len(models))],
			Lens: fmt.Sprintf("lens %d", rng.IntN(3)), ISO: 100 << rng.IntN(4),
		}
		if rng.IntN(8) > 0 {
			r.TakenAt = time.Date(2010+rng.IntN(6), time.Month(1+rng.IntN(12)), 1+rng.IntN(3), 0, 0, 0, 0, time.UTC)
		}
		if rng.IntN(4) == 0 {
			r.Tags = map[string]string{"album": fmt.Sprint(rng.IntN(3))}
		}
		switch rng.IntN(10) {
		case 0: // no position
		case 1:
			r.GPS = &GPS{Lat: math.NaN(), Lon: 1}
		case 2, 3: // on an edge of a box randomQuery may ask for, or a hair off it
			off := func() float64 { return []float64{0, 0, 1e-9, -1e-9, 3e-7, -3e-7}[rng.IntN(6)] }
			r.GPS = &GPS{Lat: float64(rng.IntN(9)*10-40) + off(), Lon: float64(rng.IntN(9)*10-40) + off()}
		case 4: // near the antimeridian
			r.GPS = &GPS{Lat: rng.Float64()*20 - 10, Lon: []float64{180, -180, 179.9999999, -179.9999}[rng.IntN(4)]}
		default:
			r.GPS = &GPS{Lat: rng.NormFloat64()*15 + 10, Lon: rng.NormFloat64()*15 + 10}
		}
		muts = append(muts, Put(r))
	}
	commit(t, s, muts...)
	return s
}

func randomQuery(rng *rand.Rand) Query {
	var q Query
	maybe := func(pct int) bool { return rng.IntN(100) < pct }
	if maybe(30) {
		q.Bucket = []string{"a", "b"}[rng.IntN(2)]
	}
	if maybe(20) {
		q.Prefix = []string{"x/", "y/0", "x/01"}[rng.IntN(3)]
	}
	if maybe(50) {
		q.Make = []string{"canon", "Nikon", "sony", "leica"}[rng.IntN(4)]
	}
	if maybe(40) {
		q.Model = []string{"EOS R5", "z9", "a7 iv"}[rng.IntN(3)]
	}
	if maybe(50) {
		y := 2010 + rng.IntN(6)
		if maybe(80) {
			q.TakenAfter = time.Date(y, time.Month(1+rng.IntN(12)), 1, 0, 0, 0, 0, time.UTC)
		}
		if maybe(70) {
			q.TakenBefore = time.Date(y+1+rng.IntN(2), time.Month(1+rng.IntN(12)), 2, 0, 0, 0, 0, time.UTC)
		}
	}
	switch rng.IntN(6) {
	case 0: // edges on grid points some records sit on exactly
		lat, lon := float64(rng.IntN(8)*10-40), float64(rng.IntN(8)*10-40)
		q.BBox = &BBox{MinLon: lon, MinLat: lat, MaxLon: lon + float64(1+rng.IntN(3))*10, MaxLat: lat + float64(1+rng.IntN(3))*10}
	case 1: // across the antimeridian
		q.BBox = &BBox{MinLon: 170 + rng.Float64()*10, MinLat: -10, MaxLon: -179.99995 + rng.Float64()*10, MaxLat: rng.Float64() * 10}
	case 2:
		q.Near = &Near{Lat: rng.NormFloat64()*15 + 10, Lon: rng.NormFloat64()*15 + 10, RadiusKm: rng.Float64() * 3000}
	case 3:
		q.Near = &Near{Lat: 0, Lon: 180, RadiusKm: 1 + rng.Float64()*1000}
	}
	if maybe(10) {
		q.HasGPS = new(maybe(70))
	}
	if maybe(15) {
		q.Format = []string{"jpeg", "HEIC"}[rng.IntN(2)]
	}
	if maybe(10) {
		q.Tags = map[string]string{"album": fmt.Sprint(rng.IntN(3))}
	}
	if maybe(10) {
		q.MinSize = int64(rng.IntN(10)) * 1000
	}
	if maybe(10) {
		q.ISOMin = 400
	}
	q.Sort = []string{"", "key", "-key", "taken", "-taken", "size", "-size"}[rng.IntN(7)]
	q.Limit = 1 + rng.IntN(40)
	return q
}

// Every plan the planner can choose, with and without semi-joins and with
// its own choice, returns exactly what a full scan does, page after page.
func TestPlansAgreeWithFullScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	s := randomLibrary(t, rng, 1500)
	used := map[string]int{}
	for i := range 300 {
		q := randomQuery(rng)
		want := bruteForce(t, s, q)
		if len(want) > 200 {
			q.Limit = max(q.Limit, len(want)/10)
		}
		var paths []string
		s.planHook = func(p []string) int { paths = p; return -1 }
		if _, err := s.Search(context.Background(), q); err != nil {
			t.Fatalf("query %d %+v: %v", i, q, err)
		}
		for choice := -2; choice < len(paths); choice++ { // -2: the planner's own
			for _, semi := range []bool{true, false} {
				s.planHook, s.noSemiJoin = nil, !semi
				if choice > -2 {
					s.planHook = func([]string) int { return choice }
				}
				got, plans := searchPages(t, s, q)
				for _, p := range plans {
					used[p]++
				}
				if !slices.Equal(got, want) {
					t.Fatalf("query %d %+v, plan %v (semi-joins %v):\n got %d %q\nwant %d %q", i, q, plans, semi, len(got), got, len(want), want)
				}
			}
		}
	}
	s.planHook, s.noSemiJoin = nil, false
	t.Logf("plans used: %v", used)
	// The test is only as good as the plans it reached.
	for _, want := range []string{"index:camera", "index:camera+taken", "index:geo", "&", "walk:taken"} {
		n := 0
		for p, k := range used {
			if strings.HasPrefix(p, want) || (want == "&" && strings.Contains(p, "&")) {
				n += k
			}
		}
		if n < 20 {
			t.Errorf("plan %q used %d times: %v", want, n, used)
		}
	}
}

// geoVerdict may only decide what match would: a cell it calls inside
// holds only matching positions, one it calls outside only others. Points
// exactly on the query's edges and circles are the hard cases.
func TestGeoVerdictAgreesWithMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	decided := 0
	for range 200 {
		q := randomQuery(rng)
		q.Make, q.Model, q.TakenAfter, q.TakenBefore, q.Format, q.Tags, q.MinSize, q.ISOMin, q.Prefix, q.Bucket = "", "", time.Time{}, time.Time{}, "", nil, 0, 0, "", ""
		if q.HasGPS != nil && !*q.HasGPS {
			q.HasGPS = nil // decided without the cell: everything is out
		}
		if q.BBox == nil && q.Near == nil {
			q.Near = &Near{Lat: rng.Float64()*180 - 90, Lon: rng.Float64()*360 - 180, RadiusKm: rng.Float64() * 100}
		}
		c, err := compile(q)
		if err != nil {
			t.Fatal(err)
		}
		if !c.geoOnly {
			t.Fatalf("%+v: not geo only", q)
		}
		for range 2000 {
			var g GPS
			switch rng.IntN(3) {
			case 0: // on an edge or the circle, give or take a rounding
				if b := c.bbox; b != nil {
					g = GPS{Lat: []float64{b.MinLat, b.MaxLat, rng.Float64()*180 - 90}[rng.IntN(3)], Lon: []float64{b.MinLon, b.MaxLon, rng.Float64()*360 - 180}[rng.IntN(3)]}
				} else {
					n := c.near
					bb := nearBBox(*n)
					g = GPS{Lat: []float64{bb.MinLat, bb.MaxLat, n.Lat + n.RadiusKm/111.195}[rng.IntN(3)], Lon: n.Lon}
				}
				g.Lat = math.Nextafter(g.Lat, g.Lat+float64(rng.IntN(3)-1))
			case 1:
				g = GPS{Lat: rng.Float64()*180 - 90, Lon: rng.Float64()*360 - 180}
			default: // close to the centre of the query
				lat, lon := 0.0, 0.0
				if b := c.bbox; b != nil {
					lat, lon = b.MinLat, b.MinLon
				} else {
					lat, lon = c.near.Lat, c.near.Lon
				}
				g = GPS{Lat: lat + rng.NormFloat64(), Lon: lon + rng.NormFloat64()}
			}
			if !g.valid() {
				continue
			}
			r := Record{Bucket: "b", Key: "k", GPS: &g}
			v := c.geoVerdict(appendGeo(nil, &g))
			if m := c.match(&r); (v == verdictMatch && !m) || (v == verdictFail && m) {
				t.Fatalf("%+v at %v,%v: verdict %d, match %v", q, g.Lat, g.Lon, v, m)
			}
			if v != verdictUnsure {
				decided++
			}
		}
	}
	if decided < 100_000 {
		t.Errorf("only %d positions decided from the index: the verdict is too timid to help", decided)
	}
}

// The planner's choices on a library like the benchmark's: an index in
// result order is read only until the page is full, camera and date are
// one range of idx_camera_taken, and a small index filters another.
func TestPlannerChoices(t *testing.T) {
	s := buildLibrary(t, 20_000)
	year := func(q Query) Query {
		q.TakenAfter, q.TakenBefore = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
		return q
	}
	paris := &BBox{MinLon: 2.2, MinLat: 48.8, MaxLon: 2.5, MaxLat: 48.95}
	for _, tc := range []struct {
		q     Query
		plans []string
	}{
		{Query{Make: "nikon", Model: "model 3"}, []string{"index:camera"}},
		{Query{Make: "sony"}, []string{"index:camera"}},
		{Query{Model: "model 1"}, []string{"index:camera"}},
		{Query{Make: "nikon", Model: "model 3", Sort: "-taken"}, []string{"index:camera+taken"}},
		{Query{Make: "nikon", Sort: "taken"}, []string{"index:camera+taken"}},
		{year(Query{Make: "nikon", Model: "model 3"}), []string{"index:camera+taken"}},
		{year(Query{Make: "nikon", Model: "model 3", Sort: "-taken"}), []string{"index:camera+taken"}},
		{year(Query{Make: "nikon", Model: "model 3", BBox: paris}), []string{"index:camera+taken&geo", "index:geo&camera+taken"}},
		{year(Query{Make: "nikon", BBox: paris, Sort: "-taken"}), []string{"index:camera+taken&geo", "index:geo&camera+taken"}},
		{Query{BBox: paris}, []string{"index:geo"}},
		{Query{Bucket: "archive", Format: "png", ISOMin: 1600}, []string{"index:format"}},
		{Query{Sort: "-taken"}, []string{"walk:taken"}},
		{Query{}, []string{"walk:key"}},
	} {
		p := search(t, s, tc.q)
		if !slices.Contains(tc.plans, p.Plan) {
			t.Errorf("%+v: plan %s, want one of %q", tc.q, p.Plan, tc.plans)
		}
		want := bruteForce(t, s, tc.q)
		if got := names(p.Items); !slices.Equal(got, want[:min(len(want), defaultLimit)]) || (p.NextCursor != "") != (len(want) > defaultLimit) {
			t.Errorf("%+v: first page of %d items (next %q) is not the first of %d", tc.q, len(got), p.NextCursor, len(want))
		}
	}
}
