package metastore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// openTest opens a fresh store in a temporary directory. NoSync keeps the
// tests fast; the tests that are about durability pass their own options.
func openTest(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "index.db"), Options{NoSync: true})
}

func openAt(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// base is an instant every test date is relative to.
var base = time.Date(2023, 6, 1, 12, 0, 0, 0, time.UTC)

func float(v float64) *float64 { return &v }

// photo returns a fully populated record; mods adjust it.
func photo(bucket, key string, mods ...func(*Record)) Record {
	r := Record{
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
		GPS:    &GPS{Lat: 48.8584, Lon: 2.2945, Alt: float(35)},
		Status: "ok",
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func commit(t testing.TB, s *Store, muts ...Mutation) {
	t.Helper()
	if err := s.Commit(context.Background(), 0, muts...); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// verify fails the test if any internal invariant is broken.
func verify(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func names(items []Record) []string {
	out := make([]string, len(items))
	for i, r := range items {
		out[i] = r.Bucket + "/" + r.Key
	}
	return out
}

func search(t testing.TB, s *Store, q Query) Page {
	t.Helper()
	p, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return p
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

// tempDir is for examples, which have no testing.T.
func tempDir() (string, error) { return os.MkdirTemp("", "metastore-example") }
