package metastore

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

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
	verify(t, s)
	if n, size, err := s.OwnerUsage(ctx, "alice"); err != nil || n != 1 || size != 1000 {
		t.Fatalf("alice after upgrade = %d, %d, %v", n, size, err)
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
