package reconcile_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/gateway"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/reconcile"
	"github.com/photogate/photogate/test/harness"
)

func setup(t *testing.T) (*harness.MinIO, *metastore.Store, *reconcile.Indexer) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs MinIO")
	}
	m := harness.StartMinIO(t)
	store, err := metastore.Open(filepath.Join(t.TempDir(), "index.db"), metastore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	b, err := reconcile.NewMinIO(m.Endpoint(), m.AccessKey(), m.SecretKey(), "us-east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return m, store, reconcile.NewIndexer(store, b, nil)
}

func put(t *testing.T, m *harness.MinIO, bucket, key string, data []byte) {
	t.Helper()
	if _, err := m.Client().PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFindsAndRepairsEveryKindOfDrift(t *testing.T) {
	m, store, ix := setup(t)
	ctx := context.Background()
	if err := m.Client().MakeBucket(ctx, "photos", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	photo, err := os.ReadFile(photoPath(t, "jpeg/iphone6_gps_8mp.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	put(t, m, "photos", "in-sync.jpg", photo)
	put(t, m, "photos", "written-behind-our-back.jpg", photo)
	put(t, m, "photos", "changed.jpg", []byte("new content"))
	// The index knows in-sync.jpg (as the gateway would have indexed it)
	// and an old changed.jpg, plus an object and a bucket that are gone.
	id, err := ix.Begin(ctx, "CopyObject", "photos", []string{"in-sync.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Apply(ctx, id, gateway.Outcome{Op: "CopyObject", Bucket: "photos", Refresh: []string{"in-sync.jpg"}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []metastore.Record{
		{Bucket: "photos", Key: "changed.jpg", ETag: "0123", Size: 3},
		{Bucket: "photos", Key: "deleted.jpg", ETag: "aa", Size: 1},
		{Bucket: "gone-bucket", Key: "x.jpg", ETag: "bb", Size: 1},
	} {
		if err := store.Commit(ctx, 0, metastore.Put(r)); err != nil {
			t.Fatal(err)
		}
	}

	rep, err := ix.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"photos/written-behind-our-back.jpg": "missing",
		"photos/changed.jpg":                 "stale",
		"photos/deleted.jpg":                 "orphan",
		"gone-bucket/x.jpg":                  "orphan",
	}
	got := map[string]string{}
	for _, d := range rep.Drift {
		got[d.Bucket+"/"+d.Key] = d.Kind
	}
	if len(got) != len(want) {
		t.Fatalf("drift = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}

	rep, err = ix.Check(ctx, true)
	if err != nil || rep.Repaired != 4 {
		t.Fatalf("repair: %+v, %v", rep, err)
	}
	rep, err = ix.Check(ctx, false)
	if err != nil || len(rep.Drift) != 0 || rep.Objects != 3 || rep.Indexed != 3 {
		t.Fatalf("after repair: %+v, %v", rep, err)
	}
	rec, ok, err := store.Get(ctx, "photos", "written-behind-our-back.jpg")
	if err != nil || !ok || rec.Make != "Apple" || rec.GPS == nil {
		t.Fatalf("repaired record lacks photo metadata: %+v %v %v", rec, ok, err)
	}
}

func TestRecoverResolvesLeftoverIntents(t *testing.T) {
	m, store, ix := setup(t)
	ctx := context.Background()
	if err := m.Client().MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	// A crash after MinIO stored "landed" but before the index heard of it,
	// and one before "never" reached MinIO at all.
	put(t, m, "bkt", "landed", []byte("hello"))
	for _, k := range []string{"landed", "never"} {
		if _, err := store.BeginIntent(ctx, metastore.Intent{Op: "PutObject", Bucket: "bkt", Keys: []string{k}}); err != nil {
			t.Fatal(err)
		}
	}
	// An intent of a request still in flight in this process is left alone.
	busy, err := ix.Begin(ctx, "DeleteObject", "bkt", []string{"landed"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := ix.Recover(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v; want 2 resolved", n, err)
	}
	if _, ok, _ := store.Get(ctx, "bkt", "landed"); !ok {
		t.Fatal("the object that landed is not indexed")
	}
	if _, ok, _ := store.Get(ctx, "bkt", "never"); ok {
		t.Fatal("an object that never landed is indexed")
	}
	pending, _ := store.PendingIntents(ctx)
	if len(pending) != 1 || pending[0].ID != busy {
		t.Fatalf("pending = %+v, want only the in-flight intent %d", pending, busy)
	}
	if err := ix.Apply(ctx, busy, gateway.Outcome{Op: "DeleteObject", Bucket: "bkt", Deleted: []string{"landed"}}); err != nil {
		t.Fatal(err)
	}
	if pending, _ := store.PendingIntents(ctx); len(pending) != 0 {
		t.Fatalf("Apply left intents: %+v", pending)
	}
}

func photoPath(t *testing.T, rel string) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "..", "shared", "testdata", "photos", rel)
}

func TestConcurrentWritersToOneKeyIndexTheBackendsWinner(t *testing.T) {
	m, store, ix := setup(t)
	ctx := context.Background()
	if err := m.Client().MakeBucket(ctx, "race", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	a, err := ix.Begin(ctx, "PutObject", "race", []string{"k"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ix.Begin(ctx, "PutObject", "race", []string{"k"})
	if err != nil {
		t.Fatal(err)
	}
	// The backend finishes B first, then A: A's bytes are what it keeps.
	put(t, m, "race", "k", []byte("bbbbbbbb"))
	infoB, _ := m.Client().StatObject(ctx, "race", "k", minio.StatObjectOptions{})
	put(t, m, "race", "k", []byte("aaaa"))
	infoA, _ := m.Client().StatObject(ctx, "race", "k", minio.StatObjectOptions{})
	// photogate hears A's answer first and B's last.
	upload := func(id uint64, etag string, size int64) {
		t.Helper()
		err := ix.Apply(ctx, id, gateway.Outcome{Op: "PutObject", Bucket: "race",
			Upload: &gateway.Upload{Key: "k", Size: size, ETag: etag}})
		if err != nil {
			t.Fatal(err)
		}
	}
	upload(a, infoA.ETag, 4)
	upload(b, infoB.ETag, 8)
	rec, ok, err := store.Get(ctx, "race", "k")
	if err != nil || !ok || rec.ETag != infoA.ETag || rec.Size != 4 {
		t.Fatalf("index holds %+v; the backend kept ETag %s (4 bytes)", rec, infoA.ETag)
	}
	// Uncontended writes trust their own response (no read-back).
	c, _ := ix.Begin(ctx, "PutObject", "race", []string{"solo"})
	if err := ix.Apply(ctx, c, gateway.Outcome{Op: "PutObject", Bucket: "race",
		Upload: &gateway.Upload{Key: "solo", Size: 1, ETag: "e1"}}); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := store.Get(ctx, "race", "solo"); rec.ETag != "e1" {
		t.Fatalf("uncontended write was not taken from its response: %+v", rec)
	}
}
