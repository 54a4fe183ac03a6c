package metastore

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Every secondary index is a bucket Open creates, and nothing else in the
// list of buckets is taken for one.
func TestIndexNamesAreBuckets(t *testing.T) {
	all := allBuckets()
	for _, name := range indexNames() {
		if n := count(all, name); n != 1 {
			t.Errorf("%s appears %d times in allBuckets", name, n)
		}
	}
	for _, name := range all {
		if n := count(all, name); n != 1 {
			t.Errorf("bucket %s listed %d times", name, n)
		}
	}
	for _, ix := range valueIndexes() {
		if !slices.Contains(indexNames(), ix.index) {
			t.Errorf("value index %s (%s) is not an index bucket", ix.param, ix.index)
		}
	}
}

func count(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// An index a newer schema adds is filled from the records already in the
// file when Open upgrades it, so the first search and Verify see it whole.
// The file is made to look like an older release's by dropping an index
// bucket and stamping the previous version.
func TestUpgradeFillsNewIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	s := openAt(t, path, Options{NoSync: true})
	commit(t, s,
		Put(photo("b", "canon")),
		Put(photo("b", "nikon", func(r *Record) { r.Lens, r.Format = "50mm f/1.8", "heic" })),
		Put(photo("c", "bare", func(r *Record) { r.Lens, r.Format, r.ContentType = "", "", "" })),
	)
	want := map[string][]string{}
	for _, ix := range valueIndexes() {
		want[ix.index] = indexKeys(t, s, ix.index)
		if len(want[ix.index]) == 0 {
			t.Fatalf("%s has no entries to rebuild", ix.index)
		}
	}
	rewriteClosed(t, s, func(tx *bolt.Tx) error {
		for _, ix := range valueIndexes() {
			if err := tx.DeleteBucket([]byte(ix.index)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte(bkMeta)).Put([]byte(metaSchemaKey), []byte{0, 0, 0, SchemaVersion - 1})
	})

	s = openAt(t, path, Options{NoSync: true})
	verify(t, s)
	for _, ix := range valueIndexes() {
		if got := indexKeys(t, s, ix.index); !slices.Equal(got, want[ix.index]) {
			t.Errorf("%s after upgrade: %q, want %q", ix.index, got, want[ix.index])
		}
	}
	if got := names(search(t, s, Query{Lens: "50MM F/1.8"}).Items); !slices.Equal(got, []string{"b/nikon"}) {
		t.Errorf("lens search after upgrade: %v", got)
	}
	if st, err := s.Stats(ctx); err != nil || st.SchemaVersion != SchemaVersion {
		t.Errorf("stats after upgrade: %+v, %v", st, err)
	}
}

// A file at the current version is not refilled: an index bucket missing
// from it is created empty, and Verify then reports the records it lacks.
func TestNoFillWithoutUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	s := openAt(t, path, Options{NoSync: true})
	commit(t, s, Put(photo("b", "k")))
	rewriteClosed(t, s, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte(bkIdxLens)) })
	s = openAt(t, path, Options{NoSync: true})
	if err := s.Verify(context.Background()); err == nil {
		t.Error("Verify passed with an emptied lens index")
	}
}

// rewriteClosed closes s and changes its file behind the store's back, as
// an older release or a damaged disk would have left it.
func rewriteClosed(t *testing.T, s *Store, change func(*bolt.Tx) error) {
	t.Helper()
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(change); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// Upgrading a version 3 file (which has no idx_camera_taken) fills the
// camera+date index from the records, so camera-and-date searches can use
// it at once.
func TestUpgradeV3FillsCameraTaken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	s := openAt(t, path, Options{NoSync: true})
	commit(t, s,
		Put(photo("b", "r5")),
		Put(photo("b", "r5-old", func(r *Record) { r.TakenAt = base.AddDate(-3, 0, 0) })),
		Put(photo("b", "undated", func(r *Record) { r.TakenAt = time.Time{} })),
		Put(photo("c", "z9", func(r *Record) { r.Make, r.Model = "Nikon", "Z9" })),
		Put(photo("c", "nocamera", func(r *Record) { r.Make, r.Model = "", "" })),
	)
	want := indexKeys(t, s, bkIdxCameraTaken)
	if len(want) != 4 {
		t.Fatalf("idx_camera_taken has %d entries, want 4 (records without a camera have none)", len(want))
	}
	rewriteClosed(t, s, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte(bkIdxCameraTaken)); err != nil {
			return err
		}
		return tx.Bucket([]byte(bkMeta)).Put([]byte(metaSchemaKey), []byte{0, 0, 0, 3})
	})

	s = openAt(t, path, Options{NoSync: true})
	verify(t, s)
	if got := indexKeys(t, s, bkIdxCameraTaken); !slices.Equal(got, want) {
		t.Errorf("idx_camera_taken after upgrade: %q, want %q", got, want)
	}
	p := search(t, s, Query{Make: "canon", TakenAfter: base.AddDate(-1, 0, 0), Sort: "-taken"})
	if got := names(p.Items); !slices.Equal(got, []string{"b/r5"}) || p.Plan != "index:camera+taken" {
		t.Errorf("camera and date search after upgrade: %v by %s", got, p.Plan)
	}
}
