package backend_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/photogate/photogate/backend"
	"github.com/photogate/photogate/observe"
	"github.com/photogate/photogate/s3/classify"
	"github.com/photogate/photogate/s3/s3err"
	"github.com/photogate/photogate/test/harness"
)

// oddKey needs S3's own path encoding and, in listings, encoding-type=url.
const oddKey = "dir/a b+c ü!$&'()*,;=@%.jpg"

func startBackend(t *testing.T, cfg backend.Config) (*harness.MinIO, *backend.Backend, *prometheus.Registry) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs MinIO")
	}
	m := harness.StartMinIO(t)
	reg := prometheus.NewRegistry()
	cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = m.Endpoint(), m.AccessKey(), m.SecretKey()
	cfg.Metrics = observe.New(reg, observe.BuildInfo{Version: "test"})
	b, err := backend.NewBackend(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return m, b, reg
}

func makeBucket(t *testing.T, m *harness.MinIO, bucket string) {
	t.Helper()
	if err := m.Client().MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, m *harness.MinIO, bucket, key string, data []byte, opts minio.PutObjectOptions) minio.UploadInfo {
	t.Helper()
	info, err := m.Client().PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// backendCount sums the counter photogate_backend_<metric> (requests_total,
// retries_total) of operation op.
func backendCount(t *testing.T, reg *prometheus.Registry, metric, op string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "photogate_backend_"+metric {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == op {
					total += s.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// wantRequests checks how many requests of op the metrics counted.
func wantRequests(t *testing.T, reg *prometheus.Registry, op classify.Op, want float64) {
	t.Helper()
	if n := backendCount(t, reg, "requests_total", string(op)); n != want {
		t.Errorf("%s requests counted: %v, want %v", op, n, want)
	}
}

func TestStat(t *testing.T) {
	m, b, reg := startBackend(t, backend.Config{})
	ctx := context.Background()
	makeBucket(t, m, "photos")
	info := put(t, m, "photos", oddKey, []byte("0123456789"), minio.PutObjectOptions{
		ContentType:  "image/jpeg",
		UserMetadata: map[string]string{"Camera": "X100V"},
	})

	obj, ok, err := b.Stat(ctx, "photos", oddKey)
	if err != nil || !ok {
		t.Fatalf("Stat = %+v, %v, %v; want the object", obj, ok, err)
	}
	if obj.Key != oddKey || obj.Size != 10 || obj.ETag != info.ETag || obj.ContentType != "image/jpeg" {
		t.Errorf("Stat = %+v; want key %q, size 10, ETag %s, image/jpeg", obj, oddKey, info.ETag)
	}
	if obj.UserMeta["camera"] != "X100V" {
		t.Errorf("UserMeta = %v; want camera=X100V", obj.UserMeta)
	}
	if age := time.Since(obj.LastModified); age < -time.Minute || age > time.Minute || obj.LastModified.Location() != time.UTC {
		t.Errorf("LastModified = %v; want about now, in UTC", obj.LastModified)
	}

	for _, at := range [][2]string{{"photos", "missing.jpg"}, {"no-such-bucket", "a.jpg"}} {
		if obj, ok, err := b.Stat(ctx, at[0], at[1]); err != nil || ok {
			t.Errorf("Stat(%s/%s) = %+v, %v, %v; want not found", at[0], at[1], obj, ok, err)
		}
	}
	wantRequests(t, reg, classify.HeadObject, 3)
}

func TestHeadAndOpen(t *testing.T) {
	m, b, reg := startBackend(t, backend.Config{})
	ctx := context.Background()
	makeBucket(t, m, "photos")
	put(t, m, "photos", oddKey, []byte("0123456789"), minio.PutObjectOptions{})
	put(t, m, "photos", "empty", nil, minio.PutObjectOptions{})

	for _, tc := range []struct {
		key  string
		n    int64
		want string
	}{{oddKey, 4, "0123"}, {oddKey, 100, "0123456789"}, {"empty", 4, ""}} {
		got, err := b.Head(ctx, "photos", tc.key, tc.n)
		if err != nil || string(got) != tc.want {
			t.Errorf("Head(%q, %d) = %q, %v; want %q", tc.key, tc.n, got, err, tc.want)
		}
	}
	if _, err := b.Head(ctx, "photos", "missing", 4); err == nil {
		t.Error("Head of a missing object: no error")
	}
	getsBefore := backendCount(t, reg, "requests_total", string(classify.GetObject))

	r, err := b.Open(ctx, "photos", oddKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off, len int
		want     string
		wantErr  error
	}{
		{3, 4, "3456", nil},
		{8, 4, "89", io.EOF}, // a short read at the end says so
		{10, 4, "", io.EOF},
		{0, 10, "0123456789", nil},
	} {
		p := make([]byte, tc.len)
		n, err := r.ReadAt(p, int64(tc.off))
		if string(p[:n]) != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("ReadAt(%d, %d) = %q, %v; want %q, %v", tc.len, tc.off, p[:n], err, tc.want, tc.wantErr)
		}
	}
	// Three of the four reads reached the backend, each one ranged GET.
	if n := backendCount(t, reg, "requests_total", string(classify.GetObject)) - getsBefore; n != 3 {
		t.Errorf("GetObject requests for ReadAt: %v, want 3", n)
	}

	// An overwrite between reads fails the next read instead of mixing
	// the two versions' bytes.
	put(t, m, "photos", oddKey, []byte("abcdefghij"), minio.PutObjectOptions{})
	if n, err := r.ReadAt(make([]byte, 4), 0); err == nil {
		t.Errorf("ReadAt after overwrite = %d, nil; want an error", n)
	}
	if _, err := b.Open(ctx, "photos", "missing"); err == nil {
		t.Error("Open of a missing object: no error")
	}
}

func TestTags(t *testing.T) {
	m, b, reg := startBackend(t, backend.Config{})
	ctx := context.Background()
	makeBucket(t, m, "photos")
	put(t, m, "photos", oddKey, []byte("x"), minio.PutObjectOptions{})
	put(t, m, "photos", "untagged", []byte("x"), minio.PutObjectOptions{})
	set, err := tags.NewTags(map[string]string{"trip": "Iceland 2026", "rating": "5"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Client().PutObjectTagging(ctx, "photos", oddKey, set, minio.PutObjectTaggingOptions{}); err != nil {
		t.Fatal(err)
	}

	got, err := b.Tags(ctx, "photos", oddKey)
	if err != nil || len(got) != 2 || got["trip"] != "Iceland 2026" || got["rating"] != "5" {
		t.Errorf("Tags = %v, %v; want trip and rating", got, err)
	}
	if got, err := b.Tags(ctx, "photos", "untagged"); err != nil || len(got) != 0 {
		t.Errorf("Tags(untagged) = %v, %v; want none", got, err)
	}
	if got, err := b.Tags(ctx, "photos", "missing"); err != nil || got != nil {
		t.Errorf("Tags(missing) = %v, %v; want nil, nil", got, err)
	}
	wantRequests(t, reg, classify.GetObjectTagging, 3)
}

func TestBuckets(t *testing.T) {
	m, b, reg := startBackend(t, backend.Config{})
	ctx := context.Background()
	for _, bucket := range []string{"videos", "photos"} {
		makeBucket(t, m, bucket)
	}
	names, err := b.Buckets(ctx)
	if err != nil || !slices.Equal(names, []string{"photos", "videos"}) {
		t.Errorf("Buckets = %v, %v; want [photos videos]", names, err)
	}
	for bucket, want := range map[string]bool{"photos": true, "nope": false} {
		if ok, err := b.BucketExists(ctx, bucket); err != nil || ok != want {
			t.Errorf("BucketExists(%s) = %v, %v; want %v", bucket, ok, err, want)
		}
	}
	wantRequests(t, reg, classify.ListBuckets, 1)
	wantRequests(t, reg, classify.HeadBucket, 2)
}

func TestListPagesInKeyOrder(t *testing.T) {
	m, b, reg := startBackend(t, backend.Config{})
	ctx := context.Background()
	makeBucket(t, m, "photos")
	makeBucket(t, m, "empty")
	// More than one page of 1000, written concurrently to save time.
	want := []string{oddKey, "dir/sub/deep.jpg", "Z.jpg"}
	for i := range 1001 {
		want = append(want, fmt.Sprintf("img/%04d.jpg", i))
	}
	var wg sync.WaitGroup
	keys := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range keys {
				if _, err := m.Client().PutObject(ctx, "photos", key, strings.NewReader(key), int64(len(key)), minio.PutObjectOptions{}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for _, key := range want {
		keys <- key
	}
	close(keys)
	wg.Wait()
	slices.Sort(want) // S3 lists in byte order, as Go sorts strings

	var got []string
	err := b.List(ctx, "photos", func(o backend.Object) error {
		got = append(got, o.Key)
		if o.Size != int64(len(o.Key)) || o.ETag == "" || strings.Contains(o.ETag, `"`) || o.LastModified.IsZero() {
			t.Errorf("listed %+v; want size %d, an unquoted ETag and a time", o, len(o.Key))
		}
		return nil
	})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("List = %d keys (first %q), %v; want %d keys in order", len(got), got[:min(3, len(got))], err, len(want))
	}
	wantRequests(t, reg, classify.ListObjectsV2, 2)

	stop := errors.New("enough")
	calls := 0
	if err := b.List(ctx, "photos", func(backend.Object) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("List with a failing fn = %v after %d calls; want its error after 1", err, calls)
	}
	if err := b.List(ctx, "empty", func(o backend.Object) error { return fmt.Errorf("listed %q", o.Key) }); err != nil {
		t.Errorf("List(empty) = %v", err)
	}
	var answer *backend.AnswerError
	if err := b.List(ctx, "no-such-bucket", func(backend.Object) error { return nil }); !errors.As(err, &answer) || answer.Code != "NoSuchBucket" {
		t.Errorf("List(no-such-bucket) = %v; want an AnswerError NoSuchBucket", err)
	}
}

func TestUploadedSoFar(t *testing.T) {
	m, b, reg := startBackend(t, backend.Config{})
	ctx := context.Background()
	makeBucket(t, m, "videos")
	core := minio.Core{Client: m.Client()}
	target := classify.Target{Bucket: "videos", Key: oddKey}
	id, err := core.NewMultipartUpload(ctx, target.Bucket, target.Key, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for part, size := range map[int]int{1: 10, 2: 20} {
		data := bytes.Repeat([]byte("x"), size)
		if _, err := core.PutObjectPart(ctx, target.Bucket, target.Key, id, part, bytes.NewReader(data), int64(size), minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for skip, want := range map[int]int64{0: 30, 2: 10} {
		if got, err := b.UploadedSoFar(ctx, target, id, skip); err != nil || got != want {
			t.Errorf("UploadedSoFar(skip %d) = %d, %v; want %d", skip, got, err, want)
		}
	}
	if _, err := b.UploadedSoFar(ctx, target, "no-such-upload", 0); err == nil {
		t.Error("UploadedSoFar of an unknown upload: no error")
	}
	wantRequests(t, reg, classify.ListParts, 3)
}

// The typed calls share Do's retries and breaker: a backend that stopped
// answering is retried, then refused without being asked.
func TestTypedCallsGoThroughRetriesAndBreaker(t *testing.T) {
	m, b, reg := startBackend(t, backend.Config{MaxAttempts: 2, BreakerFailures: 2, BreakerOpen: time.Minute})
	ctx := context.Background()
	// A fresh MinIO on a loaded machine may still answer
	// XMinioServerNotInitialized; the harness's client waits that out.
	if _, err := m.Client().ListBuckets(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Buckets(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	_, _, err := b.Stat(ctx, "photos", "a.jpg")
	if !s3err.Is(err, s3err.ServiceUnavailable) {
		t.Fatalf("Stat with MinIO stopped = %v; want ServiceUnavailable", err)
	}
	if n := backendCount(t, reg, "retries_total", string(classify.HeadObject)); n != 1 {
		t.Errorf("HeadObject retries counted: %v, want 1", n)
	}
	if b.BreakerState() != gobreaker.StateOpen {
		t.Fatalf("breaker %v after 2 failures; want open", b.BreakerState())
	}
	if err := b.List(ctx, "photos", func(backend.Object) error { return nil }); !s3err.Is(err, s3err.SlowDown) {
		t.Errorf("List with the breaker open = %v; want SlowDown", err)
	}
}

func TestVersions(t *testing.T) {
	m, b, _ := startBackend(t, backend.Config{})
	ctx := context.Background()
	makeBucket(t, m, "photos")
	if err := m.Client().EnableVersioning(ctx, "photos"); err != nil {
		t.Fatal(err)
	}
	first := put(t, m, "photos", oddKey, []byte("first version"), minio.PutObjectOptions{})
	put(t, m, "photos", oddKey, []byte("v2"), minio.PutObjectOptions{})
	if first.VersionID == "" {
		t.Fatal("MinIO gave the upload no version ID")
	}

	obj, ok, err := b.StatVersion(ctx, "photos", oddKey, first.VersionID)
	if err != nil || !ok || obj.Size != 13 || obj.VersionID != first.VersionID {
		t.Errorf("StatVersion(first) = %+v, %v, %v; want 13 bytes of version %s", obj, ok, err, first.VersionID)
	}
	if obj, ok, err := b.Stat(ctx, "photos", oddKey); err != nil || !ok || obj.Size != 2 {
		t.Errorf("Stat = %+v, %v, %v; want the current 2 bytes", obj, ok, err)
	}
	for _, tc := range []struct {
		version   string
		offset, n int64
		want      string
	}{{first.VersionID, 6, 3, "ver"}, {first.VersionID, 6, 100, "version"}, {first.VersionID, 13, 4, ""}, {"", 0, 100, "v2"}} {
		got, err := b.ReadVersion(ctx, "photos", oddKey, tc.version, tc.offset, tc.n)
		if err != nil || string(got) != tc.want {
			t.Errorf("ReadVersion(%q, %d, %d) = %q, %v; want %q", tc.version, tc.offset, tc.n, got, err, tc.want)
		}
	}

	if err := m.Client().RemoveObject(ctx, "photos", oddKey, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	marker := ""
	for v := range m.Client().ListObjects(ctx, "photos", minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
		if v.Err != nil {
			t.Fatal(v.Err)
		}
		if v.IsDeleteMarker {
			marker = v.VersionID
		}
	}
	if marker == "" {
		t.Fatal("no delete marker listed after RemoveObject")
	}
	for _, version := range []string{marker, "", "00000000-0000-0000-0000-000000000000"} {
		if obj, ok, err := b.StatVersion(ctx, "photos", oddKey, version); err != nil || ok {
			t.Errorf("StatVersion(%q) after delete = %+v, %v, %v; want not found", version, obj, ok, err)
		}
	}
	if obj, ok, err := b.StatVersion(ctx, "photos", oddKey, first.VersionID); err != nil || !ok || obj.Size != 13 {
		t.Errorf("StatVersion(first) after delete = %+v, %v, %v; want it still there", obj, ok, err)
	}
}
