package metastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// TestIndexEntriesFollowRecords checks the bbolt index buckets directly:
// a record has exactly one entry in each, a replacement leaves no old entry
// behind, and a delete or a cleared field removes them. (What search finds
// is the conformance suite's business.)
func TestIndexEntriesFollowRecords(t *testing.T) {
	s := openTest(t)
	old := photo("b", "k", func(r *Record) { r.Tags = map[string]string{"a": "1", "b": "2"} })
	commit(t, s, Put(old))
	before := map[string][]string{}
	for _, ix := range indexNames() {
		before[ix] = indexKeys(t, s, ix)
		if ix != bkIdxTag && len(before[ix]) != 1 {
			t.Errorf("%s: %d entries, want 1: %q", ix, len(before[ix]), before[ix])
		}
	}
	if n := len(before[bkIdxTag]); n != 2 {
		t.Errorf("%s: %d entries, want one per tag", bkIdxTag, n)
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
			if slices.Contains(before[ix], k) {
				t.Errorf("%s: old entry %q survived the update", ix, k)
			}
		}
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

	commit(t, s, Delete("b", "k"))
	for _, ix := range indexNames() {
		if keys := indexKeys(t, s, ix); len(keys) != 0 {
			t.Errorf("%s after delete: %q", ix, keys)
		}
	}
	verify(t, s)
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
