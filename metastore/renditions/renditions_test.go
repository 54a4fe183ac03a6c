package renditions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	_ "golang.org/x/image/webp"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/metastore"
	"github.com/photogate/photogate/metastore/renditions"
	"github.com/photogate/photogate/rendition"
	"github.com/photogate/photogate/test/harness"
)

// renditionSetup is setup plus a bucket "photos" and the backend client
// that the rendition worker reads and writes through.
func renditionSetup(t *testing.T) (*harness.MinIO, *metastore.Store, *backend.Backend) {
	t.Helper()
	m, store := setup(t)
	b, err := backend.NewBackend(backend.Config{Endpoint: m.Endpoint(), AccessKey: m.AccessKey(), SecretKey: m.SecretKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := m.Client().MakeBucket(context.Background(), "photos", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return m, store, b
}

func getObject(t *testing.T, c *minio.Client, bucket, key string) ([]byte, string, bool) {
	t.Helper()
	ctx := context.Background()
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, "", false
		}
		t.Fatal(err)
	}
	st, err := obj.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return data, st.ContentType, true
}

func TestRenditionJobsWriteRenditionsToTheBackend(t *testing.T) {
	m, store, b := renditionSetup(t)
	ctx := context.Background()
	seen := &observed{}
	work := renditions.New(store, b, b, "", rendition.New(rendition.Options{}), nil, seen)
	for range 2 { // creating it twice is fine: start-up runs every time
		if err := work.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}

	photo, err := os.ReadFile(photoPath(t, "jpeg/canon_sx60hs_orient6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	put(t, m, "photos", "trip/canon.jpg", photo)
	put(t, m, "photos", "bomb.jpg", mustRead(t, photoPath(t, "malformed/jpeg_sof_65000x65000.jpg")))
	put(t, m, "photos", "replaced.jpg", photo)
	etagOf := func(key string) string {
		obj, ok, err := b.Stat(ctx, "photos", key)
		if err != nil || !ok {
			t.Fatalf("stat %s: %v %v", key, ok, err)
		}
		return obj.ETag
	}
	good, bomb := etagOf("trip/canon.jpg"), etagOf("bomb.jpg")
	// Queued the way the indexer will: in the commit of the record.
	for _, rec := range []metastore.Record{
		{Bucket: "photos", Key: "trip/canon.jpg", ETag: good, Size: int64(len(photo)), Format: "jpeg"},
		{Bucket: "photos", Key: "bomb.jpg", ETag: bomb, Size: 992, Format: "jpeg"},
		{Bucket: "photos", Key: "replaced.jpg", ETag: "etag-of-an-older-version", Size: 1, Format: "jpeg"},
	} {
		job, ok := renditions.Job(rec)
		if !ok {
			t.Fatalf("no rendition job for %s", rec.Key)
		}
		if err := store.Commit(ctx, 0, metastore.Put(rec), job); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := renditions.Job(metastore.Record{Bucket: "photos", Key: "notes.txt", Format: ""}); ok {
		t.Error("a rendition job for a non-photo")
	}

	worked := 0
	for work.WorkOne(ctx) {
		worked++
	}
	if worked != 3 {
		t.Fatalf("worked %d jobs, want 3", worked)
	}
	st, err := store.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if js := st.Jobs[renditions.JobKind]; js.Queued != 0 || js.Failed != 1 {
		t.Fatalf("rendition jobs after the run: %+v, want none queued and the bomb's failed", js)
	}
	failed, err := store.Jobs(ctx, metastore.JobQuery{Kind: renditions.JobKind, State: metastore.JobFailed})
	if err != nil || len(failed) != 1 || failed[0].Key != "bomb.jpg" || !strings.Contains(failed[0].LastError, "65000x65000") {
		t.Fatalf("failed jobs %+v (%v), want the bomb's with its reason", failed, err)
	}
	if got := seen.outcomes(); got != "failed/too_large:1 rendered:1 stale:1" {
		t.Errorf("observed %q", got)
	}
	rec, _, err := store.Get(ctx, "photos", "trip/canon.jpg")
	if err != nil || rec.Placeholder == "" {
		t.Errorf("the index record has no placeholder: %+v %v", rec, err)
	}

	c := m.Client()
	bucket := renditions.DefaultBucket
	prefix := renditions.Prefix("photos", "trip/canon.jpg", good)
	tcfg := renditionConfig(t, c, bucket, prefix+renditions.ThumbObject, "image/webp")
	pcfg := renditionConfig(t, c, bucket, prefix+renditions.PreviewObject, "image/jpeg")
	// 2048x1536 with orientation 6: portrait once rotated.
	if tcfg.Width != 192 || tcfg.Height != 256 || pcfg.Width != 1080 || pcfg.Height != 1440 {
		t.Errorf("thumbnail %dx%d, preview %dx%d; want 192x256 and 1080x1440", tcfg.Width, tcfg.Height, pcfg.Width, pcfg.Height)
	}
	metaJSON, _, ok := getObject(t, c, bucket, prefix+renditions.MetaObject)
	if !ok {
		t.Fatal("no meta.json")
	}
	var info renditions.Info
	if err := json.Unmarshal(metaJSON, &info); err != nil {
		t.Fatal(err)
	}
	if info.Placeholder == "" || info.Width != 1080 || info.Height != 1440 || info.Format != "jpeg" {
		t.Errorf("meta.json %+v", info)
	}
	if _, _, ok := getObject(t, c, bucket, prefix+renditions.FailedObject); ok {
		t.Error("a failure record beside good renditions")
	}

	bombPrefix := renditions.Prefix("photos", "bomb.jpg", bomb)
	reason, _, ok := getObject(t, c, bucket, bombPrefix+renditions.FailedObject)
	if !ok || !strings.Contains(string(reason), "65000x65000") {
		t.Errorf("bomb: failure record %q (present %v), want the pixel count", reason, ok)
	}
	if _, _, ok := getObject(t, c, bucket, bombPrefix+renditions.ThumbObject); ok {
		t.Error("bomb: a thumbnail was written")
	}
	stalePrefix := renditions.Prefix("photos", "replaced.jpg", "etag-of-an-older-version")
	for _, name := range []string{renditions.ThumbObject, renditions.FailedObject} {
		if _, _, ok := getObject(t, c, bucket, stalePrefix+name); ok {
			t.Errorf("stale job wrote %s", name)
		}
	}

	if err := work.Delete(ctx, "photos", "trip/canon.jpg", good); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{renditions.ThumbObject, renditions.PreviewObject, renditions.MetaObject} {
		if _, _, ok := getObject(t, c, bucket, prefix+name); ok {
			t.Errorf("%s still there after Delete", name)
		}
	}
	if err := work.Delete(ctx, "photos", "trip/canon.jpg", good); err != nil {
		t.Errorf("deleting renditions that are gone: %v", err)
	}
}

func TestRenditionJobRetriesWhenTheBackendFails(t *testing.T) {
	m, store, b := renditionSetup(t)
	ctx := context.Background()
	put(t, m, "photos", "a.jpg", mustRead(t, photoPath(t, "jpeg/pentax_k3ii_sunrise.jpg")))
	obj, _, err := b.Stat(ctx, "photos", "a.jpg")
	if err != nil {
		t.Fatal(err)
	}
	// The rendition bucket was never created: every write fails.
	work := renditions.New(store, b, b, "never-created", rendition.New(rendition.Options{}), nil, nil)
	job, _ := renditions.Job(metastore.Record{Bucket: "photos", Key: "a.jpg", ETag: obj.ETag, Format: "jpeg"})
	if err := store.Commit(ctx, 0, job); err != nil {
		t.Fatal(err)
	}
	if !work.WorkOne(ctx) {
		t.Fatal("no job worked")
	}
	if work.WorkOne(ctx) {
		t.Fatal("the failed job came back at once: no backoff")
	}
	st, err := store.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if js := st.Jobs[renditions.JobKind]; js.Queued != 1 {
		t.Fatalf("rendition jobs %+v, want the failed one queued for a retry", js)
	}
}

// observed records what the worker tells its Observer.
type observed struct {
	mu   sync.Mutex
	seen map[string]int
}

func (o *observed) RenditionJob(kind, outcome, class string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[string]int{}
	}
	if class != "" {
		outcome += "/" + class
	}
	if kind != renditions.JobKind {
		outcome = kind + ":" + outcome
	}
	o.seen[outcome]++
}

func (o *observed) RenditionRunning(int) {}

// outcomes lists what was observed, sorted: "rendered:2 stale:1".
func (o *observed) outcomes() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var parts []string
	for k, n := range o.seen {
		parts = append(parts, fmt.Sprintf("%s:%d", k, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// renditionConfig reads an image rendition, checks its content type and
// returns its decoded header.
func renditionConfig(t *testing.T, c *minio.Client, bucket, key, contentType string) image.Config {
	t.Helper()
	data, ct, ok := getObject(t, c, bucket, key)
	if !ok || ct != contentType {
		t.Fatalf("%s: present %v, type %q, want %q", key, ok, ct, contentType)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || "image/"+format != contentType {
		t.Fatalf("%s: decoded as %q: %v", key, format, err)
	}
	return cfg
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func setup(t *testing.T) (*harness.MinIO, *metastore.Store) {
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
	return m, store
}

func photoPath(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join(harness.PhotosDir(t), rel)
}

func put(t *testing.T, m *harness.MinIO, bucket, key string, data []byte) {
	t.Helper()
	if _, err := m.Client().PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}
