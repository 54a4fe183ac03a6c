package reconcile_test

import (
	"context"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/metastore/pgstore"
	"github.com/photogate/photogate/metastore/reconcile"
	"github.com/photogate/photogate/test/harness"
)

// TestRecoverOnSharedIndexResolvesOnlyItsOwn: two indexers share one
// PostgreSQL index. Each resolves only the intents it owns and is not
// running; the other's stay untouched while it is alive, and become the
// survivor's once it is gone.
func TestRecoverOnSharedIndexResolvesOnlyItsOwn(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs MinIO and PostgreSQL")
	}
	ctx := context.Background()
	m := harness.StartMinIO(t)
	if err := m.Client().MakeBucket(ctx, "photos", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	put(t, m, "photos", "a.jpg", []byte("a"))
	put(t, m, "photos", "b.jpg", []byte("b"))
	dsn := harness.StartPostgres(t).CreateDatabase(t, "shared")
	b, err := backend.NewBackend(backend.Config{Endpoint: m.Endpoint(), AccessKey: m.AccessKey(), SecretKey: m.SecretKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	open := func() (*pgstore.Store, *reconcile.Indexer) {
		s, err := pgstore.Open(ctx, dsn, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s, reconcile.NewIndexer(s, b, nil)
	}
	storeA, a := open()
	storeB, bix := open()
	t.Cleanup(func() { _ = storeB.Close() })

	running, err := a.Begin(ctx, "PutObject", "photos", []string{"a.jpg"}, "ana")
	if err != nil {
		t.Fatal(err)
	}
	settled, err := a.Begin(ctx, "PutObject", "photos", []string{"b.jpg"}, "ana")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Settle(ctx, settled); err != nil { // its answer was lost: recovery's now
		t.Fatal(err)
	}
	if n, err := bix.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("B resolved %d of live A's intents (%v)", n, err)
	}
	if n, err := a.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("A resolved %d intents (%v), want its settled one only", n, err)
	}
	if rec, ok, err := storeB.Get(ctx, "photos", "b.jpg"); err != nil || !ok || rec.Owner != "ana" {
		t.Fatalf("b.jpg after A's recovery: %+v, %v, %v", rec, ok, err)
	}
	if pending, _ := storeB.PendingIntents(ctx); len(pending) != 1 || pending[0].ID != running {
		t.Fatalf("pending %+v, want only A's running intent %d", pending, running)
	}

	// A goes away with its request unanswered: B takes it over.
	if err := storeA.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := bix.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("B resolved %d intents of departed A (%v), want 1", n, err)
	}
	if rec, ok, err := storeB.Get(ctx, "photos", "a.jpg"); err != nil || !ok || rec.Owner != "ana" {
		t.Fatalf("a.jpg after B's recovery: %+v, %v, %v", rec, ok, err)
	}
	if pending, _ := storeB.PendingIntents(ctx); len(pending) != 0 {
		t.Fatalf("pending after recovery: %+v", pending)
	}
}
