package metastore

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// usageOf reads an owner's counters and checks the store's invariants,
// which include that those counters agree with the records.
func usageOf(t *testing.T, s *Store, owner string) [2]int64 {
	t.Helper()
	ctx := context.Background()
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	n, size, err := s.OwnerUsage(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	return [2]int64{n, size}
}

func TestOwnerUsageFollowsRecords(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	owned := func(owner string, size int64) func(*Record) {
		return func(r *Record) { r.Owner, r.Size = owner, size }
	}
	commit(t, s,
		Put(photo("b", "a1", owned("alice", 1000))),
		Put(photo("b", "a2", owned("alice", 500))),
		Put(photo("c", "a3", owned("alice", 7))),
		Put(photo("b", "b1", owned("bob", 300))),
		Put(photo("b", "nobody", owned("", 9999))),
	)
	if got := usageOf(t, s, "alice"); got != [2]int64{3, 1507} {
		t.Fatalf("alice = %v, want 3 objects, 1507 bytes across buckets", got)
	}
	if got := usageOf(t, s, "bob"); got != [2]int64{1, 300} {
		t.Fatalf("bob = %v", got)
	}

	// Bob overwrites one of alice's objects: it is his now.
	commit(t, s, Put(photo("b", "a2", owned("bob", 600))))
	if a, b := usageOf(t, s, "alice"), usageOf(t, s, "bob"); a != [2]int64{2, 1007} || b != [2]int64{2, 900} {
		t.Fatalf("after bob's overwrite: alice %v bob %v", a, b)
	}
	// A re-read without an owner (repair, background extraction) and a
	// tag change keep it his.
	commit(t, s, Put(photo("b", "a2", owned("", 600))), SetTags("b", "a2", map[string]string{"k": "v"}))
	if rec, _, _ := s.Get(ctx, "b", "a2"); rec.Owner != "bob" {
		t.Fatalf("owner after re-read and tagging = %q, want bob", rec.Owner)
	}
	// An unowned object stays unowned and counts for nobody.
	if rec, _, _ := s.Get(ctx, "b", "nobody"); rec.Owner != "" {
		t.Fatalf("unowned record got owner %q", rec.Owner)
	}

	commit(t, s, Delete("b", "a1"))
	if got := usageOf(t, s, "alice"); got != [2]int64{1, 7} {
		t.Fatalf("alice after delete = %v", got)
	}
	commit(t, s, DeleteBucket("b"))
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []BucketStats{{Name: "alice", Objects: 1, Bytes: 7}}; !reflect.DeepEqual(st.Owners, want) {
		t.Fatalf("owners after DeleteBucket = %+v, want %+v", st.Owners, want)
	}
	if got := usageOf(t, s, "bob"); got != [2]int64{} {
		t.Fatalf("bob after DeleteBucket = %v", got)
	}
	if n, size, err := s.BucketUsage(ctx, "c"); err != nil || n != 1 || size != 7 {
		t.Fatalf("BucketUsage(c) = %d, %d, %v", n, size, err)
	}
	if _, _, err := s.OwnerUsage(ctx, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("usage of the empty owner: %v", err)
	}
	long := make([]byte, maxOwnerLen+1)
	for i := range long {
		long[i] = 'x'
	}
	if err := s.Commit(ctx, 0, Put(photo("b", "k", owned(string(long), 1)))); !errors.Is(err, ErrInvalid) {
		t.Fatalf("over-long owner: %v", err)
	}
}

func TestVerifyCatchesOwnerCounterDrift(t *testing.T) {
	s := openTest(t)
	commit(t, s, Put(photo("b", "k", func(r *Record) { r.Owner = "alice" })))
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bkOwnerStats)).Put([]byte("alice"), encodeBucketStat(2, 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(context.Background()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify = %v, want the owner counter reported", err)
	}
}

// TestVersion1Entries proves that records and intents written before owners
// existed still decode, with no owner.
func TestVersion1Entries(t *testing.T) {
	r := photo("b", "k")
	v2 := encodeRecord(&r)
	// v1 is v2 without the trailing owner (an empty string: one 0 byte).
	v1 := append([]byte{recordV1}, v2[1:len(v2)-1]...)
	got, err := decodeRecord("b", "k", v1)
	if err != nil {
		t.Fatal(err)
	}
	r.LastModified, r.TakenAt = r.LastModified.UTC(), r.TakenAt.UTC()
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("v1 record:\n got %+v\nwant %+v", got, r)
	}

	in := Intent{Op: "PutObject", Bucket: "b", Keys: []string{"k"}, Owner: ""}
	enc := encodeIntent(&in)
	old := append([]byte{intentV1}, enc[1:len(enc)-1]...)
	back, err := decodeIntent(u64(7), old)
	if err != nil || back.Op != "PutObject" || back.Owner != "" || len(back.Keys) != 1 {
		t.Fatalf("v1 intent: %+v, %v", back, err)
	}
	in.Owner = "carol"
	if back, err := decodeIntent(u64(7), encodeIntent(&in)); err != nil || back.Owner != "carol" {
		t.Fatalf("v2 intent: %+v, %v", back, err)
	}
}

// TestUpgradeFromVersion1 opens a file as the previous release left it:
// stamped 1, no stat_owner bucket, records without owners.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	s := openAt(t, path, Options{NoSync: true})
	commit(t, s, Put(photo("b", "old")))
	rewriteClosed(t, s, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte(bkOwnerStats)); err != nil {
			return err
		}
		return tx.Bucket([]byte(bkMeta)).Put([]byte(metaSchemaKey), []byte{0, 0, 0, 1})
	})

	s = openAt(t, path, Options{NoSync: true})
	st, err := s.Stats(ctx)
	if err != nil || st.SchemaVersion != SchemaVersion || st.Objects != 1 || len(st.Owners) != 0 {
		t.Fatalf("after upgrade: %+v, %v", st, err)
	}
	commit(t, s, Put(photo("b", "new", func(r *Record) { r.Owner = "alice" })))
	if got := usageOf(t, s, "alice"); got != [2]int64{1, 1000} {
		t.Fatalf("alice after upgrade = %v", got)
	}
	_ = s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(bkMeta)).Get([]byte(metaSchemaKey)); !reflect.DeepEqual(v, []byte{0, 0, 0, SchemaVersion}) {
			t.Errorf("stamp after upgrade = %v", v)
		}
		return nil
	})
}
