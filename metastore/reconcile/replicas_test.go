package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/change"
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

// TestOverlappingWritesThroughTwoReplicasIndexTheBackendsWinner: requests
// on one key through two replicas overlap, and their answers reach the
// index in the opposite order from the backend's. The later commit learns
// that the key was written after its intent began and reads the key back:
// the index ends with what the backend holds, not with the answer that
// happened to commit last.
func TestOverlappingWritesThroughTwoReplicasIndexTheBackendsWinner(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs MinIO and PostgreSQL")
	}
	ctx := context.Background()
	m := harness.StartMinIO(t)
	if err := m.Client().MakeBucket(ctx, "photos", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	dsn := harness.StartPostgres(t).CreateDatabase(t, "overlap")
	b, err := backend.NewBackend(backend.Config{Endpoint: m.Endpoint(), AccessKey: m.AccessKey(), SecretKey: m.SecretKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	open := func() *reconcile.Indexer {
		s, err := pgstore.Open(ctx, dsn, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return reconcile.NewIndexer(s, b, nil)
	}
	a, bix := open(), open()
	upload := func(data string) change.Outcome {
		info, err := m.Client().PutObject(ctx, "photos", "k", strings.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return change.Outcome{Op: "PutObject", Bucket: "photos", Owner: "ana",
			Written: &change.Written{Key: "k", ETag: info.ETag},
			Upload:  &change.Upload{Size: int64(len(data)), Prefix: []byte(data)}}
	}
	// A begins, then B; the backend applies A's write, then B's (B's is
	// the object); A's answer is indexed last.
	idA, err := a.Begin(ctx, "PutObject", "photos", []string{"k"}, "ana")
	if err != nil {
		t.Fatal(err)
	}
	idB, err := bix.Begin(ctx, "PutObject", "photos", []string{"k"}, "ben")
	if err != nil {
		t.Fatal(err)
	}
	outA := upload("first")
	outB := upload("second, the backend's last")
	outB.Owner = "ben"
	if err := bix.Apply(ctx, idB, outB); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(ctx, idA, outA); err != nil {
		t.Fatal(err)
	}
	obj, _, err := b.Stat(ctx, "photos", "k")
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec, ok, err := s.Get(ctx, "photos", "k")
	if err != nil || !ok || rec.ETag != obj.ETag || rec.Size != obj.Size {
		t.Fatalf("index holds %+v (%v), backend holds etag %s size %d", rec, err, obj.ETag, obj.Size)
	}
	if rec.Owner != "ben" {
		t.Errorf("owner %q, want ben's (his write is the object)", rec.Owner)
	}
	if pending, _ := s.PendingIntents(ctx); len(pending) != 0 {
		t.Errorf("intents left: %+v", pending)
	}
}
