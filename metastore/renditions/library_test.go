package renditions_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/renditions"
	"github.com/photogate/photogate/rendition"
)

// indexPhoto writes key to MinIO and indexes it the way the indexer does:
// the record, its render job, and the removal of the version it replaces,
// in one commit. It returns the record.
func indexPhoto(t *testing.T, store metastore.Index, b *backend.Backend, put func(key string, data []byte), key string, data []byte) metastore.Record {
	t.Helper()
	ctx := context.Background()
	put(key, data)
	obj, ok, err := b.Stat(ctx, "photos", key)
	if err != nil || !ok {
		t.Fatalf("stat %s: %v %v", key, ok, err)
	}
	rec := metastore.Record{Bucket: "photos", Key: key, ETag: obj.ETag, Size: obj.Size, Format: "jpeg"}
	m := metastore.Put(rec)
	m.Replaced = renditions.DeleteJobKind
	job, _ := renditions.Job(rec)
	if err := store.Commit(ctx, 0, m, job); err != nil {
		t.Fatal(err)
	}
	return rec
}

func workAll(t *testing.T, w *renditions.Worker) int {
	t.Helper()
	n := 0
	for w.WorkOne(context.Background()) {
		n++
	}
	return n
}

func TestOverwriteAndDeleteRemoveRenditions(t *testing.T) {
	m, store, b := renditionSetup(t)
	ctx := context.Background()
	seen := &observed{}
	work := renditions.New(store, b, b, "", rendition.New(rendition.Options{}), nil, seen)
	if err := work.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lib := renditions.NewLibrary(store, b, "")
	putPhoto := func(key string, data []byte) { put(t, m, "photos", key, data) }

	first := indexPhoto(t, store, b, putPhoto, "a.jpg", mustRead(t, photoPath(t, "jpeg/canon_sx60hs_orient6.jpg")))
	if n := workAll(t, work); n != 1 {
		t.Fatalf("worked %d jobs, want 1", n)
	}
	body, length, ctype, found, err := lib.Open(ctx, "photos", "a.jpg", first.ETag, "thumb")
	if err != nil || !found || ctype != rendition.ThumbType || length <= 0 {
		t.Fatalf("thumb: found %v, type %q, %d bytes, %v", found, ctype, length, err)
	}
	data, _ := io.ReadAll(body)
	body.Close()
	if int64(len(data)) != length {
		t.Errorf("thumb is %d bytes, said %d", len(data), length)
	}
	if _, failed, err := lib.Failure(ctx, "photos", "a.jpg", first.ETag); failed || err != nil {
		t.Errorf("a failure record for a rendered photo (%v)", err)
	}
	if queued, err := lib.Backfill(ctx, first); queued || err != nil {
		t.Errorf("backfill queued a render of a rendered photo (%v)", err)
	}
	// Indexed again (a repair, a recovered intent): nothing is rendered
	// twice.
	if job, _ := renditions.Job(first); store.Commit(ctx, 0, metastore.Put(first), job) != nil || workAll(t, work) != 1 {
		t.Fatal("re-indexing the same version queued no job")
	}

	// Overwritten: the new version is rendered, the old one's renditions go.
	second := indexPhoto(t, store, b, putPhoto, "a.jpg", mustRead(t, photoPath(t, "jpeg/pentax_k3ii_sunrise.jpg")))
	if second.ETag == first.ETag {
		t.Fatal("the two photos have one ETag")
	}
	if n := workAll(t, work); n != 2 {
		t.Fatalf("worked %d jobs after the overwrite, want 2 (render, delete)", n)
	}
	if _, _, _, found, _ := lib.Open(ctx, "photos", "a.jpg", first.ETag, "preview"); found {
		t.Error("the overwritten version's preview is still there")
	}
	if _, _, _, found, _ := lib.Open(ctx, "photos", "a.jpg", second.ETag, "preview"); !found {
		t.Error("the new version has no preview")
	}

	// Deleted: its renditions go.
	if err := m.Client().RemoveObject(ctx, "photos", "a.jpg", minioRemove()); err != nil {
		t.Fatal(err)
	}
	del := metastore.Delete("photos", "a.jpg")
	del.Replaced = renditions.DeleteJobKind
	if err := store.Commit(ctx, 0, del); err != nil {
		t.Fatal(err)
	}
	if n := workAll(t, work); n != 1 {
		t.Fatalf("worked %d jobs after the delete, want 1", n)
	}
	for _, size := range []string{"thumb", "preview"} {
		if _, _, _, found, _ := lib.Open(ctx, "photos", "a.jpg", second.ETag, size); found {
			t.Errorf("the deleted photo's %s is still there", size)
		}
	}
	if got := seen.outcomes(); got != "current:1 rendered:2 rendition-delete:deleted:2" {
		t.Errorf("observed %q", got)
	}
}

func TestCheckFindsAndRepairsMissingAndOrphanedRenditions(t *testing.T) {
	m, store, b := renditionSetup(t)
	ctx := context.Background()
	work := renditions.New(store, b, b, "", rendition.New(rendition.Options{}), nil, nil)
	if err := work.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lib := renditions.NewLibrary(store, b, "")
	putPhoto := func(key string, data []byte) { put(t, m, "photos", key, data) }
	photo := mustRead(t, photoPath(t, "jpeg/canon_sx60hs_orient6.jpg"))

	indexPhoto(t, store, b, putPhoto, "rendered.jpg", photo)
	workAll(t, work)
	// Indexed with no renditions and no job: from before renditions were on.
	put(t, m, "photos", "old.jpg", photo)
	obj, _, err := b.Stat(ctx, "photos", "old.jpg")
	if err != nil {
		t.Fatal(err)
	}
	old := metastore.Record{Bucket: "photos", Key: "old.jpg", ETag: obj.ETag, Size: obj.Size, Format: "jpeg"}
	if err := store.Commit(ctx, 0, metastore.Put(old)); err != nil {
		t.Fatal(err)
	}
	// A set no indexed version owns.
	orphan := renditions.Prefix("photos", "gone.jpg", "0123")
	for _, name := range []string{renditions.ThumbObject, renditions.MetaObject} {
		if err := b.PutObject(ctx, renditions.DefaultBucket, orphan+name, "", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Not a photo: no renditions expected.
	if err := store.Commit(ctx, 0, metastore.Put(metastore.Record{Bucket: "photos", Key: "notes.txt", ETag: "e", Size: 1})); err != nil {
		t.Fatal(err)
	}

	rep, err := lib.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Photos != 2 || rep.Rendered != 1 || len(rep.Missing) != 1 || rep.Missing[0].Key != "old.jpg" ||
		len(rep.Orphaned) != 1 || rep.Orphaned[0].Key != orphan || rep.Repaired != 0 {
		t.Fatalf("check: %+v", rep)
	}
	if _, _, ok := getObject(t, m.Client(), renditions.DefaultBucket, orphan+renditions.ThumbObject); !ok {
		t.Fatal("check without repair deleted the orphan")
	}

	rep, err = lib.Check(ctx, true)
	if err != nil || rep.Repaired != 2 {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	if _, _, ok := getObject(t, m.Client(), renditions.DefaultBucket, orphan+renditions.ThumbObject); ok {
		t.Error("repair left the orphan")
	}
	// The missing render is queued: not missing any more, and a second
	// repair queues nothing twice.
	rep, err = lib.Check(ctx, true)
	if err != nil || len(rep.Missing) != 0 || len(rep.Orphaned) != 0 || rep.Repaired != 0 {
		t.Fatalf("check after repair: %+v %v", rep, err)
	}
	if n := workAll(t, work); n != 1 {
		t.Fatalf("worked %d jobs after the repair, want the one render", n)
	}
	rep, err = lib.Check(ctx, false)
	if err != nil || rep.Rendered != 2 || len(rep.Missing) != 0 {
		t.Fatalf("check after the render: %+v %v", rep, err)
	}
}

func TestPendingQueuesARenderOnce(t *testing.T) {
	_, store, b := renditionSetup(t)
	ctx := context.Background()
	lib := renditions.NewLibrary(store, b, "")
	rec := metastore.Record{Bucket: "photos", Key: "x.jpg", ETag: "abc", Size: 10, Format: "jpeg"}
	first, err := lib.Pending(ctx, rec)
	if err != nil || first.ID == 0 || first.State != metastore.JobQueued {
		t.Fatalf("pending: %+v %v", first, err)
	}
	again, err := lib.Pending(ctx, rec)
	if err != nil || again.ID != first.ID {
		t.Fatalf("second pending: %+v %v, want job %d again", again, err, first.ID)
	}
	rec.ETag = "def"
	other, err := lib.Pending(ctx, rec)
	if err != nil || other.ID == first.ID {
		t.Fatalf("a new version shares the old version's job: %+v %v", other, err)
	}
}

func minioRemove() minio.RemoveObjectOptions { return minio.RemoveObjectOptions{} }

// A photo failed under one limit renders once the limit is raised and its
// job retried, and its failure record goes.
func TestRetryAfterALimitChange(t *testing.T) {
	m, store, b := renditionSetup(t)
	ctx := context.Background()
	strict := renditions.New(store, b, b, "", rendition.New(rendition.Options{MaxPixels: 1000}), nil, nil)
	if err := strict.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lib := renditions.NewLibrary(store, b, "")
	rec := indexPhoto(t, store, b, func(key string, data []byte) { put(t, m, "photos", key, data) }, "big.jpg",
		mustRead(t, photoPath(t, "jpeg/pentax_k3ii_sunrise.jpg")))
	workAll(t, strict)
	if reason, failed, err := lib.Failure(ctx, "photos", "big.jpg", rec.ETag); !failed || err != nil || !strings.Contains(reason, "limit of 1000") {
		t.Fatalf("under the strict limit: %q %v %v", reason, failed, err)
	}
	if n, err := store.RetryFailed(ctx, renditions.JobKind, 0); n != 1 || err != nil {
		t.Fatalf("retry failed: %d %v", n, err)
	}
	lenient := renditions.New(store, b, b, "", rendition.New(rendition.Options{}), nil, nil)
	if n := workAll(t, lenient); n != 1 {
		t.Fatalf("worked %d jobs", n)
	}
	if _, failed, _ := lib.Failure(ctx, "photos", "big.jpg", rec.ETag); failed {
		t.Error("the failure record stayed beside the renditions")
	}
	if _, _, _, found, _ := lib.Open(ctx, "photos", "big.jpg", rec.ETag, "thumb"); !found {
		t.Error("no thumbnail after the retry")
	}
}
