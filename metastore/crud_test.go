package metastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// indexKeys returns every key of one index bucket.
func indexKeys(t *testing.T, s *Store, index string) []string {
	t.Helper()
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(index)).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutGetDelete(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	r := photo("b", "a.jpg", func(r *Record) { r.Tags = map[string]string{"x": "1"} })
	commit(t, s, Put(r))

	got, ok, err := s.Get(ctx, "b", "a.jpg")
	if err != nil || !ok {
		t.Fatalf("Get: %v %v", ok, err)
	}
	if got.IndexedAt.IsZero() {
		t.Error("IndexedAt not defaulted")
	}
	got.IndexedAt = r.IndexedAt
	r.LastModified, r.TakenAt = r.LastModified.UTC(), r.TakenAt.UTC()
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("Get:\n got %+v\nwant %+v", got, r)
	}
	if _, ok, _ := s.Get(ctx, "b", "missing"); ok {
		t.Fatal("Get of a missing key found something")
	}
	if _, ok, _ := s.Get(ctx, "other", "a.jpg"); ok {
		t.Fatal("Get in another bucket found something")
	}
	for _, ix := range indexNames() {
		if n := len(indexKeys(t, s, ix)); n != 1 {
			t.Errorf("%s: %d entries, want 1", ix, n)
		}
	}
	verify(t, s)

	commit(t, s, Delete("b", "a.jpg"))
	if _, ok, _ := s.Get(ctx, "b", "a.jpg"); ok {
		t.Fatal("deleted record still there")
	}
	for _, ix := range indexNames() {
		if keys := indexKeys(t, s, ix); len(keys) != 0 {
			t.Errorf("%s after delete: %q", ix, keys)
		}
	}
	st, _ := s.Stats(ctx)
	if st.Objects != 0 || len(st.Buckets) != 0 || len(st.Status) != 0 {
		t.Errorf("stats after delete: %+v", st)
	}
	if f, _ := s.Facets(ctx, "make", ""); len(f) != 0 {
		t.Errorf("facets after delete: %v", f)
	}
	commit(t, s, Delete("b", "a.jpg")) // deleting twice is fine
	verify(t, s)
}

// TestUpdateMovesIndexEntries replaces a record with one that differs in
// every indexed field and checks that no old entry survives.
func TestUpdateMovesIndexEntries(t *testing.T) {
	s := openTest(t)
	old := photo("b", "k", func(r *Record) { r.Tags = map[string]string{"a": "1", "b": "2"} })
	commit(t, s, Put(old))
	before := map[string][]string{}
	for _, ix := range indexNames() {
		before[ix] = indexKeys(t, s, ix)
	}
	upd := photo("b", "k", func(r *Record) {
		r.Size = 5000
		r.TakenAt = base.AddDate(1, 0, 0)
		r.Make, r.Model, r.Lens = "Nikon", "Z9", "NIKKOR Z 50mm"
		r.Format, r.ContentType = "heic", "image/heic"
		r.Tags = map[string]string{"a": "changed"}
		r.GPS = &GPS{Lat: -33.86, Lon: 151.21}
	})
	commit(t, s, Put(upd))
	for _, ix := range indexNames() {
		after := indexKeys(t, s, ix)
		if len(after) != 1 {
			t.Errorf("%s: %d entries after update, want 1: %q", ix, len(after), after)
		}
		for _, k := range after {
			for _, o := range before[ix] {
				if k == o {
					t.Errorf("%s: old entry %q survived the update", ix, k)
				}
			}
		}
	}
	if p := search(t, s, Query{Make: "canon"}); len(p.Items) != 0 {
		t.Error("old make still found")
	}
	if p := search(t, s, Query{Make: "nikon"}); len(p.Items) != 1 {
		t.Error("new make not found")
	}
	st, _ := s.Stats(context.Background())
	if st.Objects != 1 || st.Bytes != 5000 {
		t.Errorf("stats after update: %+v", st)
	}
	verify(t, s)

	// Removing GPS and the camera removes their entries.
	commit(t, s, Put(photo("b", "k", func(r *Record) { r.GPS, r.Make, r.Model, r.Lens, r.Tags = nil, "", "", "", nil })))
	for _, ix := range []string{bkIdxGeo, bkIdxCamera, bkIdxLens, bkIdxTag} {
		if keys := indexKeys(t, s, ix); len(keys) != 0 {
			t.Errorf("%s: %q", ix, keys)
		}
	}
	verify(t, s)
}

func TestSetTags(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	commit(t, s, Put(photo("b", "k", func(r *Record) { r.Tags = map[string]string{"old": "1"} })))
	commit(t, s, SetTags("b", "k", map[string]string{"new": "2"}))
	r, _, _ := s.Get(ctx, "b", "k")
	if !reflect.DeepEqual(r.Tags, map[string]string{"new": "2"}) {
		t.Fatalf("tags %v", r.Tags)
	}
	if p := search(t, s, Query{Tags: map[string]string{"old": "1"}}); len(p.Items) != 0 {
		t.Error("old tag still indexed")
	}
	if p := search(t, s, Query{Tags: map[string]string{"new": "2"}}); len(p.Items) != 1 {
		t.Error("new tag not indexed")
	}
	commit(t, s, SetTags("b", "k", nil))
	if r, _, _ := s.Get(ctx, "b", "k"); r.Tags != nil {
		t.Errorf("tags not cleared: %v", r.Tags)
	}
	commit(t, s, SetTags("b", "absent", map[string]string{"x": "y"})) // no-op
	if _, ok, _ := s.Get(ctx, "b", "absent"); ok {
		t.Error("SetTags created a record")
	}
	verify(t, s)
}

func TestDeleteBucket(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	var muts []Mutation
	for _, k := range seq("k", 2500) { // more than one deletion round
		muts = append(muts, Put(photo("gone", k)))
	}
	muts = append(muts, Put(photo("kept", "k")), Put(photo("gone2", "k")))
	commit(t, s, muts...)
	commit(t, s, DeleteBucket("gone"))
	st, _ := s.Stats(ctx)
	if st.Objects != 2 || len(st.Buckets) != 2 || st.Buckets[0].Name != "gone2" || st.Buckets[1].Name != "kept" {
		t.Fatalf("stats: %+v", st)
	}
	if p := search(t, s, Query{Bucket: "gone"}); len(p.Items) != 0 {
		t.Fatal("records of the deleted bucket are still found")
	}
	verify(t, s)
}

func TestCommitValidation(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for name, m := range map[string]Mutation{
		"no op":        {},
		"empty bucket": Put(photo("", "k")),
		"empty key":    Put(photo("b", "")),
		"nul bucket":   Put(photo("a\x00b", "k")),
		"delete nokey": Delete("b", ""),
		"bad job":      EnqueueJob(Job{}),
	} {
		if err := s.Commit(ctx, 0, m); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	// A failed commit changes nothing, including its valid siblings.
	if err := s.Commit(ctx, 0, Put(photo("b", "ok")), Put(photo("b", ""))); err == nil {
		t.Fatal("no error")
	}
	if _, ok, _ := s.Get(ctx, "b", "ok"); ok {
		t.Fatal("part of a failed commit was applied")
	}
}

// TestCommitIsolatesCallerData checks that a record handed to Commit is
// copied: the caller may reuse its maps at once.
func TestCommitIsolatesCallerData(t *testing.T) {
	s := openTest(t)
	r := photo("b", "k", func(r *Record) { r.Tags = map[string]string{"a": "1"} })
	commit(t, s, Put(r))
	r.Tags["a"] = "2"
	r.GPS.Lat = 0
	got, _, _ := s.Get(context.Background(), "b", "k")
	if got.Tags["a"] != "1" || got.GPS.Lat == 0 {
		t.Fatalf("stored record changed with the caller's copy: %+v", got)
	}
}

func TestOpenSchema(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "index.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, Put(photo("b", "k")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening keeps the data.
	s = openAt(t, path, Options{NoSync: true})
	if _, ok, _ := s.Get(context.Background(), "b", "k"); !ok {
		t.Fatal("record lost across reopen")
	}
	st, _ := s.Stats(context.Background())
	if st.SchemaVersion != SchemaVersion {
		t.Fatalf("schema version %d", st.SchemaVersion)
	}
	_ = s.Close()

	// A newer schema version is refused.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bkMeta)).Put([]byte(metaSchemaKey), []byte{0, 0, 0, SchemaVersion + 1})
	})
	_ = db.Close()
	if _, err := Open(path, Options{}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("newer schema: %v", err)
	}

	// A bbolt file that is not ours is refused, not converted.
	foreign := filepath.Join(dir, "foreign.db")
	db, err = bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err })
	_ = db.Close()
	if _, err := Open(foreign, Options{}); err == nil {
		t.Fatal("foreign bbolt file accepted")
	}

	// Garbage is refused.
	junk := filepath.Join(dir, "junk.db")
	_ = os.WriteFile(junk, []byte("not a database at all, not even close............"), 0o600)
	if _, err := Open(junk, Options{}); err == nil {
		t.Fatal("junk accepted")
	}
}

func TestOpenLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	openAt(t, path, Options{NoSync: true})
	if _, err := Open(path, Options{Timeout: 50 * 1e6}); err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
}

// TestLongValues: values beyond maxIndexValue are indexed by a prefix and
// still compared in full, so two long values sharing the prefix do not
// match each other.
func TestLongValues(t *testing.T) {
	s := openTest(t)
	long := strings.Repeat("lens ", 8000) // 40 kB, beyond bbolt's key limit
	commit(t, s,
		Put(photo("b", "one", func(r *Record) { r.Lens = long + "one" })),
		Put(photo("b", "two", func(r *Record) { r.Lens = long + "two" })),
	)
	for _, plan := range []int{-1, 0} {
		s.planHook = func([]string) int { return plan }
		if got := names(search(t, s, Query{Lens: long + "TWO"}).Items); !slices.Equal(got, []string{"b/two"}) {
			t.Errorf("plan %d: %q", plan, got)
		}
	}
	s.planHook = nil
	verify(t, s)
}

func TestScan(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	var muts []Mutation
	for _, k := range seq("a/", 700) { // more than one chunk
		muts = append(muts, Put(photo("b1", k)))
	}
	muts = append(muts, Put(photo("b1", "b/x")), Put(photo("b0", "a/first")), Put(photo("b2", "a/last")))
	commit(t, s, muts...)

	collect := func(bucket, prefix string) []string {
		var out []string
		err := s.Scan(ctx, bucket, prefix, func(r Record) error {
			out = append(out, r.Bucket+"/"+r.Key)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := collect("b1", "a/")
	if len(got) != 700 || !slices.IsSorted(got) || got[0] != "b1/a/0000" {
		t.Fatalf("scan b1 a/: %d items, sorted %v, first %q", len(got), slices.IsSorted(got), got[0])
	}
	if got := collect("", "a/"); len(got) != 702 || got[0] != "b0/a/first" || got[701] != "b2/a/last" {
		t.Fatalf("scan all buckets: %d items", len(got))
	}
	if got := collect("b1", "b/"); !slices.Equal(got, []string{"b1/b/x"}) {
		t.Fatalf("scan b/: %q", got)
	}
	if got := collect("none", ""); len(got) != 0 {
		t.Fatalf("scan of a missing bucket: %q", got)
	}

	// fn runs outside any transaction, so it may write to the store; an
	// error from fn stops the scan and comes back unchanged.
	stop := errors.New("stop")
	n := 0
	err := s.Scan(ctx, "b1", "a/", func(r Record) error {
		if n++; n == 600 {
			return stop
		}
		return s.Commit(ctx, 0, Delete(r.Bucket, r.Key))
	})
	if err != stop || n != 600 {
		t.Fatalf("scan stopped with %v after %d", err, n)
	}
	if got := collect("b1", "a/"); len(got) != 101 {
		t.Fatalf("%d left after deleting during the scan", len(got))
	}
	verify(t, s)
}

// TestOpenDamagedFile: a damaged file (here: a snapshot cut in half, as a
// broken backup transfer leaves it) is an error, never a panic.
func TestOpenDamagedFile(t *testing.T) {
	s := openTest(t)
	for i := range 200 {
		commit(t, s, Put(photo("b", fmt.Sprintf("k%03d", i))))
	}
	var buf bytes.Buffer
	if _, err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "half.db")
	if err := os.WriteFile(path, buf.Bytes()[:buf.Len()/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if d, err := Open(path, Options{Timeout: time.Second}); err == nil {
		_ = d.Close()
		t.Fatal("half a file opened")
	} else if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("half a file: %v, want ErrCorrupt saying it was cut short", err)
	}
	// The whole snapshot opens (the check reads the right meta page).
	whole := filepath.Join(t.TempDir(), "whole.db")
	if err := os.WriteFile(whole, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(whole, Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("the whole snapshot: %v", err)
	}
	_ = d.Close()
}

// FuzzCheckLength: the meta-page reader sees whatever file it is pointed
// at (a restore reads an operator-supplied backup); it must never panic.
func FuzzCheckLength(f *testing.F) {
	s, err := Open(filepath.Join(f.TempDir(), "seed.db"), Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.Backup(context.Background(), &buf); err != nil {
		f.Fatal(err)
	}
	_ = s.Close()
	f.Add(buf.Bytes()[:8192])
	f.Add(buf.Bytes()[:100])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := checkMetaLength(bytes.NewReader(b), int64(len(b))); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("checkMetaLength: %v", err)
		}
	})
}
