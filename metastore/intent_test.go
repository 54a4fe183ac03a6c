package metastore

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestIntentsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	s, err := Open(path, Options{}) // fsync on: durability is the point
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	id1, err := s.BeginIntent(ctx, Intent{Op: "PutObject", Bucket: "b", Keys: []string{"k1"}, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "del/" + string(rune('a'+i%26)) + time.Duration(i).String()
	}
	id2, err := s.BeginIntent(ctx, Intent{Op: "DeleteObjects", Bucket: "b", Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if id2 <= id1 || id1 == 0 {
		t.Fatalf("ids %d, %d: want increasing, non-zero", id1, id2)
	}
	// Close without committing: a crash between forwarding and Commit.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path, Options{})
	pending, err := s.PendingIntents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 {
		t.Fatalf("%d pending intents, want 2", len(pending))
	}
	if want := (Intent{ID: id1, Op: "PutObject", Bucket: "b", Keys: []string{"k1"}, Created: created}); !reflect.DeepEqual(pending[0], want) {
		t.Errorf("intent 1: %+v, want %+v", pending[0], want)
	}
	if pending[1].ID != id2 || !reflect.DeepEqual(pending[1].Keys, keys) || pending[1].Created.IsZero() {
		t.Errorf("intent 2: %+v", pending[1])
	}

	// Recovery: the backend has k1 (the upload landed before the crash),
	// and the deletes went through. Resolve both.
	if err := s.Commit(ctx, id1, Put(photo("b", "k1"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, id2, Delete("b", keys[0])); err != nil {
		t.Fatal(err)
	}
	if pending, _ := s.PendingIntents(ctx); len(pending) != 0 {
		t.Fatalf("intents left after recovery: %+v", pending)
	}
	// IDs are never reused, even after the log emptied.
	id3, _ := s.BeginIntent(ctx, Intent{Op: "PutObject", Bucket: "b", Keys: []string{"k"}})
	if id3 <= id2 {
		t.Fatalf("id %d reused after %d", id3, id2)
	}
}

// TestCommitIsAtomic: a commit whose mutation fails inside the transaction
// leaves both the index and the intent as they were.
func TestCommitIsAtomic(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	commit(t, s, Put(photo("b", "ok")))
	id, _ := s.BeginIntent(ctx, Intent{Op: "PutObject", Bucket: "b", Keys: []string{"ok"}})
	// An in-transaction failure: Put must decode the stored record to
	// remove its index entries, and that record is damaged.
	corrupt(t, s, "b", "ok")
	err := s.Commit(ctx, id, Put(photo("b", "new")), Put(photo("b", "ok")))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("commit over a corrupt record: %v", err)
	}
	if _, ok, _ := s.Get(ctx, "b", "new"); ok {
		t.Error("first mutation of a failed commit was applied")
	}
	if p, _ := s.PendingIntents(ctx); len(p) != 1 || p[0].ID != id {
		t.Errorf("intent of a failed commit: %+v", p)
	}
	if err := s.Verify(ctx); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Verify does not report the damage: %v", err)
	}
}

// corrupt overwrites a stored record with bytes that do not decode.
func corrupt(t *testing.T, s *Store, bucket, key string) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bkRecords)).Put(recordKey(bucket, key), []byte{recordV1, 0xFF})
	})
	if err != nil {
		t.Fatal(err)
	}
}
