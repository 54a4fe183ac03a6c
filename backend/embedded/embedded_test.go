package embedded

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const testBucket = "photos"

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func startIn(t *testing.T, dir string, tune tuning) *Backend {
	t.Helper()
	b, err := start(t.Context(), Config{Dir: dir, Logger: testLogger(t)}, tune)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

func startBackend(t *testing.T) *Backend {
	t.Helper()
	return startIn(t, t.TempDir(), defaultTuning())
}

func newClient(t *testing.T, b *Backend, trailing bool) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(b.Endpoint(), "http://"), &minio.Options{
		Creds:           credentials.NewStaticV4("photogate", "photogate-secret", ""),
		Secure:          false,
		Region:          "us-east-1",
		TrailingHeaders: trailing,
	})
	if err != nil {
		t.Fatalf("minio client: %v", err)
	}
	return c
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func mustMakeBucket(t *testing.T, c *minio.Client, name string) {
	t.Helper()
	if err := c.MakeBucket(t.Context(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
}

func getAll(t *testing.T, c *minio.Client, bucket, key string) []byte {
	t.Helper()
	obj, err := c.GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func errCode(err error) string { return minio.ToErrorResponse(err).Code }

func TestStartRequiresDir(t *testing.T) {
	if _, err := Start(t.Context(), Config{}); err == nil {
		t.Fatal("Start without Dir succeeded")
	}
}

func TestEndpointIsLoopback(t *testing.T) {
	b := startBackend(t)
	if !strings.HasPrefix(b.Endpoint(), "http://127.0.0.1:") {
		t.Fatalf("endpoint %q is not http://127.0.0.1:PORT", b.Endpoint())
	}
}

func TestObjectLifecycle(t *testing.T) {
	b := startBackend(t)
	c := newClient(t, b, false)
	ctx := t.Context()

	if err := c.MakeBucket(ctx, testBucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.BucketExists(ctx, testBucket); err != nil || !ok {
		t.Fatalf("bucket exists = %v, %v", ok, err)
	}
	if err := c.MakeBucket(ctx, testBucket, minio.MakeBucketOptions{}); err == nil {
		t.Fatal("second MakeBucket succeeded")
	}
	if _, err := c.PutObject(ctx, "no-such-bucket", "k", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); errCode(err) != "NoSuchBucket" {
		t.Fatalf("put into missing bucket: %v (want NoSuchBucket; autobucket must be off)", err)
	}

	data := randomBytes(1, 300<<10)
	info, err := c.PutObject(ctx, testBucket, "2024/cat.jpg", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType:  "image/jpeg",
		CacheControl: "max-age=60",
		UserMetadata: map[string]string{"Camera": "x100"},
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	md5sum := md5.Sum(data)
	if want := hex.EncodeToString(md5sum[:]); info.ETag != want {
		t.Fatalf("put ETag %q, want MD5 %q", info.ETag, want)
	}

	st, err := c.StatObject(ctx, testBucket, "2024/cat.jpg", minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if st.Size != int64(len(data)) || st.ETag != info.ETag || st.ContentType != "image/jpeg" ||
		st.UserMetadata["Camera"] != "x100" || st.Metadata.Get("Cache-Control") != "max-age=60" {
		t.Fatalf("stat = size %d etag %q type %q meta %v cache %q", st.Size, st.ETag, st.ContentType, st.UserMetadata, st.Metadata.Get("Cache-Control"))
	}
	// Only object metadata is stored, not the request's signing headers.
	for k := range st.Metadata {
		if lk := strings.ToLower(k); lk == "x-amz-content-sha256" || lk == "x-amz-date" || lk == "x-amz-decoded-content-length" {
			t.Errorf("request header %s came back as object metadata", k)
		}
	}
	if got := getAll(t, c, testBucket, "2024/cat.jpg"); !bytes.Equal(got, data) {
		t.Fatal("GET returned different bytes")
	}

	// Range read.
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(1000, 1999); err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, testBucket, "2024/cat.jpg", opts)
	if err != nil {
		t.Fatal(err)
	}
	part, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(part, data[1000:2000]) {
		t.Fatalf("range read: %v (%d bytes)", err, len(part))
	}

	// Overwriting replaces metadata (gofakes3/s3afero alone would carry the
	// old Content-Type and x-amz-meta-* over).
	if _, err := c.PutObject(ctx, testBucket, "2024/cat.jpg", strings.NewReader("v2"), 2, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err = c.StatObject(ctx, testBucket, "2024/cat.jpg", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != 2 || st.UserMetadata["Camera"] != "" || st.ContentType == "image/jpeg" || st.Metadata.Get("Cache-Control") != "" {
		t.Fatalf("after overwrite: size %d meta %v type %q cache %q", st.Size, st.UserMetadata, st.ContentType, st.Metadata.Get("Cache-Control"))
	}

	if err := c.RemoveObject(ctx, testBucket, "2024/cat.jpg", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StatObject(ctx, testBucket, "2024/cat.jpg", minio.StatObjectOptions{}); errCode(err) != "NoSuchKey" {
		t.Fatalf("stat after remove: %v", err)
	}
	if err := c.RemoveObject(ctx, testBucket, "never/was", minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("removing a missing key: %v", err)
	}
	// The directory "2024" existed only for the removed key; the bucket
	// must now be empty and deletable.
	if err := c.RemoveBucket(ctx, testBucket); err != nil {
		t.Fatalf("remove emptied bucket: %v", err)
	}
}

func listKeys(t *testing.T, c *minio.Client, opts minio.ListObjectsOptions) []string {
	t.Helper()
	var keys []string
	for o := range c.ListObjects(t.Context(), testBucket, opts) {
		if o.Err != nil {
			t.Fatalf("list %+v: %v", opts, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

func TestListPrefixDelimiter(t *testing.T) {
	b := startBackend(t)
	c := newClient(t, b, false)
	mustMakeBucket(t, c, testBucket)
	keys := []string{
		"photos/2023/a.jpg", "photos/2023/b.jpg", "photos/2024/c.jpg",
		"photos/x.jpg", "photos.txt", "readme.txt", "photos/2023-index.json",
	}
	for _, k := range keys {
		if _, err := c.PutObject(t.Context(), testBucket, k, strings.NewReader(k), int64(len(k)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	check := func(name string, opts minio.ListObjectsOptions, want ...string) {
		t.Helper()
		got := listKeys(t, c, opts)
		if !opts.Recursive {
			// minio-go yields a page's keys before its common prefixes.
			slices.Sort(got)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	// S3 order: "photos.txt" < "photos/" because '.' < '/'.
	check("root", minio.ListObjectsOptions{}, "photos.txt", "photos/", "readme.txt")
	check("folder", minio.ListObjectsOptions{Prefix: "photos/"},
		"photos/2023-index.json", "photos/2023/", "photos/2024/", "photos/x.jpg")
	// A prefix ending mid-segment: s3afero alone returns "photos/20/2023/".
	check("mid-segment", minio.ListObjectsOptions{Prefix: "photos/20"},
		"photos/2023-index.json", "photos/2023/", "photos/2024/")
	check("recursive", minio.ListObjectsOptions{Prefix: "photos/2023/", Recursive: true},
		"photos/2023/a.jpg", "photos/2023/b.jpg")
	all := slices.Clone(keys)
	slices.Sort(all)
	check("everything", minio.ListObjectsOptions{Recursive: true}, all...)
	// Paging: minio-go follows continuation tokens; two keys per page.
	check("paged", minio.ListObjectsOptions{Recursive: true, MaxKeys: 2}, all...)
	check("paged v1", minio.ListObjectsOptions{Recursive: true, MaxKeys: 3, UseV1: true}, all...)
	check("start-after", minio.ListObjectsOptions{Recursive: true, StartAfter: "photos/2024/c.jpg"}, all[slices.Index(all, "photos/2024/c.jpg")+1:]...)

	// A non-"/" delimiter groups too.
	core := minio.Core{Client: c}
	res, err := core.ListObjectsV2(testBucket, "photos/", "", "", "-", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, p := range res.CommonPrefixes {
		prefixes = append(prefixes, p.Prefix)
	}
	if !slices.Equal(prefixes, []string{"photos/2023-"}) || len(res.Contents) != 4 {
		t.Errorf("delimiter '-': prefixes %q, %d keys", prefixes, len(res.Contents))
	}
	res, err = core.ListObjectsV2(testBucket, "", "", "", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsTruncated || len(res.Contents) != 2 || res.NextContinuationToken == "" {
		t.Errorf("max-keys 2: truncated=%v contents=%d token=%q", res.IsTruncated, len(res.Contents), res.NextContinuationToken)
	}

	// Deleting the only key under a folder removes the folder from listings.
	if err := c.RemoveObject(t.Context(), testBucket, "photos/2024/c.jpg", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	check("after delete", minio.ListObjectsOptions{Prefix: "photos/"},
		"photos/2023-index.json", "photos/2023/", "photos/x.jpg")
}

// TestMultipartPutObject drives a multipart upload the way clients do:
// minio-go's PutObject splitting 20 MiB into 5 MiB parts.
func TestMultipartPutObject(t *testing.T) {
	b := startBackend(t)
	c := newClient(t, b, false)
	ctx := t.Context()
	mustMakeBucket(t, c, testBucket)

	data := randomBytes(2, 20<<20+12345)
	info, err := c.PutObject(ctx, testBucket, "big/video.mp4", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		PartSize:     5 << 20,
		ContentType:  "video/mp4",
		UserMetadata: map[string]string{"Origin": "test"},
	})
	if err != nil {
		t.Fatalf("multipart put: %v", err)
	}
	if !strings.HasSuffix(info.ETag, "-5") {
		t.Fatalf("ETag %q is not a 5-part multipart ETag", info.ETag)
	}
	if got := getAll(t, c, testBucket, "big/video.mp4"); sha(got) != sha(data) {
		t.Fatalf("read back %d bytes with a different SHA-256", len(got))
	}
	st, err := c.StatObject(ctx, testBucket, "big/video.mp4", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ETag != info.ETag || st.Size != int64(len(data)) || st.ContentType != "video/mp4" || st.UserMetadata["Origin"] != "test" {
		t.Fatalf("stat: etag %q (complete said %q) size %d type %q meta %v", st.ETag, info.ETag, st.Size, st.ContentType, st.UserMetadata)
	}
	for o := range c.ListObjects(ctx, testBucket, minio.ListObjectsOptions{Prefix: "big/"}) {
		if o.Err != nil || o.ETag != info.ETag {
			t.Fatalf("listing: %v, ETag %q, want %q", o.Err, o.ETag, info.ETag)
		}
	}
	// Staging is gone once completed.
	ups, err := minio.Core{Client: c}.ListMultipartUploads(ctx, testBucket, "", "", "", "", 100)
	if err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("uploads after completion: %v %+v", err, ups.Uploads)
	}
}

func TestMultipartOperations(t *testing.T) {
	b := startBackend(t)
	c := newClient(t, b, false)
	core := minio.Core{Client: c}
	ctx := t.Context()
	mustMakeBucket(t, c, testBucket)

	id, err := core.NewMultipartUpload(ctx, testBucket, "album/raw.dng", minio.PutObjectOptions{
		ContentType: "image/x-adobe-dng", UserMetadata: map[string]string{"Shot": "42"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p1data, p2data := randomBytes(3, 5<<20), randomBytes(4, 1000)
	p1, err := core.PutObjectPart(ctx, testBucket, "album/raw.dng", id, 1, bytes.NewReader(p1data), int64(len(p1data)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := core.PutObjectPart(ctx, testBucket, "album/raw.dng", id, 2, bytes.NewReader(p2data), int64(len(p2data)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := md5.Sum(p2data); p2.ETag != hex.EncodeToString(s[:]) {
		t.Fatalf("part ETag %q is not the part's MD5", p2.ETag)
	}

	lp, err := core.ListObjectParts(ctx, testBucket, "album/raw.dng", id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// ListParts ETags are quoted, as on S3 (minio-go passes them through).
	if len(lp.ObjectParts) != 2 || lp.ObjectParts[0].ETag != `"`+p1.ETag+`"` || lp.ObjectParts[1].Size != 1000 {
		t.Fatalf("list parts: %+v", lp.ObjectParts)
	}
	lp, err = core.ListObjectParts(ctx, testBucket, "album/raw.dng", id, 0, 1)
	if err != nil || !lp.IsTruncated || len(lp.ObjectParts) != 1 || lp.NextPartNumberMarker != 1 {
		t.Fatalf("list parts page: %v truncated=%v parts=%d next=%d", err, lp.IsTruncated, len(lp.ObjectParts), lp.NextPartNumberMarker)
	}

	ups, err := core.ListMultipartUploads(ctx, testBucket, "album/", "", "", "", 100)
	if err != nil || len(ups.Uploads) != 1 || ups.Uploads[0].UploadID != id || ups.Uploads[0].Key != "album/raw.dng" {
		t.Fatalf("list uploads: %v %+v", err, ups.Uploads)
	}
	ups, err = core.ListMultipartUploads(ctx, testBucket, "", "", "", "/", 100)
	if err != nil || len(ups.Uploads) != 0 || len(ups.CommonPrefixes) != 1 || ups.CommonPrefixes[0].Prefix != "album/" {
		t.Fatalf("list uploads with delimiter: %v %+v %+v", err, ups.Uploads, ups.CommonPrefixes)
	}

	complete := func(parts ...minio.CompletePart) error {
		_, err := core.CompleteMultipartUpload(ctx, testBucket, "album/raw.dng", id, parts, minio.PutObjectOptions{})
		return err
	}
	cp1 := minio.CompletePart{PartNumber: 1, ETag: p1.ETag}
	cp2 := minio.CompletePart{PartNumber: 2, ETag: p2.ETag}
	if err := complete(cp1, minio.CompletePart{PartNumber: 2, ETag: strings.Repeat("0", 32)}); errCode(err) != "InvalidPart" {
		t.Fatalf("wrong ETag: %v", err)
	}
	if err := complete(cp1, minio.CompletePart{PartNumber: 3, ETag: p2.ETag}); errCode(err) != "InvalidPart" {
		t.Fatalf("missing part: %v", err)
	}
	if err := complete(cp2, cp1); errCode(err) != "InvalidPartOrder" {
		t.Fatalf("out of order: %v", err)
	}
	small, err := core.PutObjectPart(ctx, testBucket, "album/raw.dng", id, 3, strings.NewReader("tiny"), 4, minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := complete(cp1, minio.CompletePart{PartNumber: 3, ETag: small.ETag}, minio.CompletePart{PartNumber: 4, ETag: p2.ETag}); errCode(err) != "InvalidPart" {
		t.Fatalf("part 4 missing: %v", err)
	}
	if err := complete(cp2, minio.CompletePart{PartNumber: 3, ETag: small.ETag}); errCode(err) != "EntityTooSmall" {
		t.Fatalf("small non-last part: %v", err)
	}

	// Re-uploading a part replaces it.
	p2data = randomBytes(5, 777)
	p2, err = core.PutObjectPart(ctx, testBucket, "album/raw.dng", id, 2, bytes.NewReader(p2data), int64(len(p2data)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cp2 = minio.CompletePart{PartNumber: 2, ETag: p2.ETag}
	res, err := core.CompleteMultipartUpload(ctx, testBucket, "album/raw.dng", id, []minio.CompletePart{cp1, cp2}, minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	// The multipart ETag: MD5 of the parts' binary MD5s, "-" part count.
	m1, m2 := md5.Sum(p1data), md5.Sum(p2data)
	wantETag := fmt.Sprintf("%x-2", md5.Sum(append(m1[:], m2[:]...)))
	if res.ETag != wantETag {
		t.Fatalf("complete ETag %q, want %q", res.ETag, wantETag)
	}
	got := getAll(t, c, testBucket, "album/raw.dng")
	if !bytes.Equal(got, append(slices.Clone(p1data), p2data...)) {
		t.Fatal("completed object has the wrong bytes")
	}
	st, err := c.StatObject(ctx, testBucket, "album/raw.dng", minio.StatObjectOptions{})
	if err != nil || st.ETag != wantETag || st.ContentType != "image/x-adobe-dng" || st.UserMetadata["Shot"] != "42" {
		t.Fatalf("stat completed: %v etag %q type %q meta %v", err, st.ETag, st.ContentType, st.UserMetadata)
	}
	if err := complete(cp1, cp2); errCode(err) != "NoSuchUpload" {
		t.Fatalf("completing twice: %v", err)
	}

	// Abort.
	id2, err := core.NewMultipartUpload(ctx, testBucket, "album/aborted", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.PutObjectPart(ctx, testBucket, "album/aborted", id2, 1, strings.NewReader("abc"), 3, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := core.AbortMultipartUpload(ctx, testBucket, "album/aborted", id2); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if _, err := core.ListObjectParts(ctx, testBucket, "album/aborted", id2, 0, 1000); errCode(err) != "NoSuchUpload" {
		t.Fatalf("list parts of aborted upload: %v", err)
	}
	if _, err := core.PutObjectPart(ctx, testBucket, "album/aborted", id2, 2, strings.NewReader("abc"), 3, minio.PutObjectPartOptions{}); errCode(err) != "NoSuchUpload" {
		t.Fatalf("part for aborted upload: %v", err)
	}
	if err := core.AbortMultipartUpload(ctx, testBucket, "album/aborted", id2); errCode(err) != "NoSuchUpload" {
		t.Fatalf("second abort: %v", err)
	}
	if err := core.AbortMultipartUpload(ctx, testBucket, "album/aborted", "../../objects"); errCode(err) != "NoSuchUpload" {
		t.Fatalf("abort with a hostile upload ID: %v", err)
	}
	// An upload ID only works for its own key.
	id3, err := core.NewMultipartUpload(ctx, testBucket, "album/mine", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.ListObjectParts(ctx, testBucket, "album/other", id3, 0, 1000); errCode(err) != "NoSuchUpload" {
		t.Fatalf("upload ID used with another key: %v", err)
	}
	if _, err := core.NewMultipartUpload(ctx, "no-such-bucket", "k", minio.PutObjectOptions{}); errCode(err) != "NoSuchBucket" {
		t.Fatalf("initiate in missing bucket: %v", err)
	}
}

func TestUploadPartCopy(t *testing.T) {
	b := startBackend(t)
	c := newClient(t, b, false)
	core := minio.Core{Client: c}
	ctx := t.Context()
	mustMakeBucket(t, c, testBucket)
	src := randomBytes(6, 6<<20+100)
	if _, err := c.PutObject(ctx, testBucket, "src", bytes.NewReader(src), int64(len(src)), minio.PutObjectOptions{DisableMultipart: true}); err != nil {
		t.Fatal(err)
	}
	id, err := core.NewMultipartUpload(ctx, testBucket, "dst", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := core.CopyObjectPart(ctx, testBucket, "src", testBucket, "dst", id, 1, 0, 5<<20, nil)
	if err != nil {
		t.Fatalf("copy part 1: %v", err)
	}
	p2, err := core.CopyObjectPart(ctx, testBucket, "src", testBucket, "dst", id, 2, 5<<20, int64(len(src))-5<<20, nil)
	if err != nil {
		t.Fatalf("copy part 2: %v", err)
	}
	if _, err := core.CopyObjectPart(ctx, testBucket, "src", testBucket, "dst", id, 3, 6<<20, 1<<20, nil); errCode(err) != "InvalidArgument" {
		t.Fatalf("range past the end: %v", err)
	}
	if _, err := core.CompleteMultipartUpload(ctx, testBucket, "dst", id, []minio.CompletePart{p1, p2}, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("complete: %v", err)
	}
	if got := getAll(t, c, testBucket, "dst"); sha(got) != sha(src) {
		t.Fatal("object assembled from copied parts differs from the source")
	}
}

func TestCopyObject(t *testing.T) {
	b := startBackend(t)
	c := newClient(t, b, false)
	ctx := t.Context()
	mustMakeBucket(t, c, testBucket)
	data := randomBytes(7, 100<<10)
	if _, err := c.PutObject(ctx, testBucket, "orig.jpg", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType: "image/jpeg", UserMetadata: map[string]string{"Tag": "a"},
	}); err != nil {
		t.Fatal(err)
	}
	// Default directive: metadata comes from the source.
	if _, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: testBucket, Object: "copy.jpg"},
		minio.CopySrcOptions{Bucket: testBucket, Object: "orig.jpg"}); err != nil {
		t.Fatalf("copy: %v", err)
	}
	st, err := c.StatObject(ctx, testBucket, "copy.jpg", minio.StatObjectOptions{})
	if err != nil || st.ContentType != "image/jpeg" || st.UserMetadata["Tag"] != "a" {
		t.Fatalf("copy: %v type %q meta %v", err, st.ContentType, st.UserMetadata)
	}
	// REPLACE onto itself: new metadata only, and the bytes survive
	// (s3afero alone truncates an object copied onto itself).
	if _, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: testBucket, Object: "orig.jpg",
		ReplaceMetadata: true, UserMetadata: map[string]string{"Other": "b"}, ContentType: "image/png"},
		minio.CopySrcOptions{Bucket: testBucket, Object: "orig.jpg"}); err != nil {
		t.Fatalf("self copy: %v", err)
	}
	st, err = c.StatObject(ctx, testBucket, "orig.jpg", minio.StatObjectOptions{})
	if err != nil || st.ContentType != "image/png" || st.UserMetadata["Tag"] != "" || st.UserMetadata["Other"] != "b" {
		t.Fatalf("self copy: %v type %q meta %v", err, st.ContentType, st.UserMetadata)
	}
	if got := getAll(t, c, testBucket, "orig.jpg"); !bytes.Equal(got, data) {
		t.Fatalf("self copy left %d bytes of %d", len(got), len(data))
	}
	_, err = c.CopyObject(ctx, minio.CopyDestOptions{Bucket: testBucket, Object: "orig.jpg"},
		minio.CopySrcOptions{Bucket: testBucket, Object: "orig.jpg"})
	if errCode(err) != "InvalidRequest" {
		t.Fatalf("self copy without changes: %v", err)
	}
	_, err = c.CopyObject(ctx, minio.CopyDestOptions{Bucket: testBucket, Object: "x"},
		minio.CopySrcOptions{Bucket: testBucket, Object: "orig.jpg", MatchETag: "nope"})
	if errCode(err) != "PreconditionFailed" {
		t.Fatalf("copy with failing source condition: %v", err)
	}
}

func TestRestartPersistence(t *testing.T) {
	dir := t.TempDir()
	b1, err := Start(t.Context(), Config{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, b1, false)
	core := minio.Core{Client: c}
	ctx := t.Context()
	mustMakeBucket(t, c, testBucket)
	mustMakeBucket(t, c, "other-bucket")
	data := randomBytes(8, 64<<10)
	if _, err := c.PutObject(ctx, testBucket, "keep/me.jpg", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType: "image/jpeg", UserMetadata: map[string]string{"K": "v"},
	}); err != nil {
		t.Fatal(err)
	}
	big := randomBytes(9, 6<<20)
	mpInfo, err := c.PutObject(ctx, testBucket, "keep/big.bin", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	id, err := core.NewMultipartUpload(ctx, testBucket, "pending.bin", minio.PutObjectOptions{ContentType: "application/x-pending"})
	if err != nil {
		t.Fatal(err)
	}
	part := randomBytes(10, 5<<20)
	p1, err := core.PutObjectPart(ctx, testBucket, "pending.bin", id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b1.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := b1.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if resp, err := http.Get(b1.Endpoint() + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("closed backend still answers")
	}

	b2 := startIn(t, dir, defaultTuning())
	c = newClient(t, b2, false)
	core = minio.Core{Client: c}
	buckets, err := c.ListBuckets(ctx)
	if err != nil || len(buckets) != 2 {
		t.Fatalf("buckets after restart: %v %+v", err, buckets)
	}
	if got := getAll(t, c, testBucket, "keep/me.jpg"); !bytes.Equal(got, data) {
		t.Fatal("object changed across restart")
	}
	st, err := c.StatObject(ctx, testBucket, "keep/me.jpg", minio.StatObjectOptions{})
	if err != nil || st.ContentType != "image/jpeg" || st.UserMetadata["K"] != "v" {
		t.Fatalf("metadata after restart: %v %q %v", err, st.ContentType, st.UserMetadata)
	}
	st, err = c.StatObject(ctx, testBucket, "keep/big.bin", minio.StatObjectOptions{})
	if err != nil || st.ETag != mpInfo.ETag {
		t.Fatalf("multipart ETag after restart: %v %q want %q", err, st.ETag, mpInfo.ETag)
	}
	// The in-progress upload survived and can be finished.
	ups, err := core.ListMultipartUploads(ctx, testBucket, "", "", "", "", 100)
	if err != nil || len(ups.Uploads) != 1 || ups.Uploads[0].UploadID != id {
		t.Fatalf("uploads after restart: %v %+v", err, ups.Uploads)
	}
	tail := []byte("tail")
	p2, err := core.PutObjectPart(ctx, testBucket, "pending.bin", id, 2, bytes.NewReader(tail), 4, minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.CompleteMultipartUpload(ctx, testBucket, "pending.bin", id,
		[]minio.CompletePart{{PartNumber: 1, ETag: p1.ETag}, {PartNumber: 2, ETag: p2.ETag}}, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("complete after restart: %v", err)
	}
	st, err = c.StatObject(ctx, testBucket, "pending.bin", minio.StatObjectOptions{})
	if err != nil || st.ContentType != "application/x-pending" || st.Size != int64(len(part)+4) {
		t.Fatalf("upload completed after restart: %v %q %d", err, st.ContentType, st.Size)
	}
}

// TestConcurrentMultipartUploads runs uploads side by side (under -race) to
// check the stager's per-upload locking.
func TestConcurrentMultipartUploads(t *testing.T) {
	b := startBackend(t)
	c := newClient(t, b, false)
	mustMakeBucket(t, c, testBucket)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	sums := make([]string, 4)
	for i := range 4 {
		wg.Go(func() {
			data := randomBytes(uint64(100+i), 11<<20)
			sums[i] = sha(data)
			_, err := c.PutObject(t.Context(), testBucket, fmt.Sprintf("c/%d", i), bytes.NewReader(data), int64(len(data)),
				minio.PutObjectOptions{PartSize: 5 << 20, NumThreads: 3})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent upload: %v", err)
	}
	for i := range 4 {
		if got := getAll(t, c, testBucket, fmt.Sprintf("c/%d", i)); sha(got) != sums[i] {
			t.Errorf("object %d differs", i)
		}
	}
}

// TestSlowCompleteKeepalive forces the S3 keepalive form of
// CompleteMultipartUpload (200, whitespace, then result or error) and checks
// minio-go reads both outcomes right.
func TestSlowCompleteKeepalive(t *testing.T) {
	b := startIn(t, t.TempDir(), tuning{keepaliveAfter: 0, keepaliveEvery: time.Millisecond})
	c := newClient(t, b, false)
	core := minio.Core{Client: c}
	ctx := t.Context()
	mustMakeBucket(t, c, testBucket)
	id, err := core.NewMultipartUpload(ctx, testBucket, "k", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := core.PutObjectPart(ctx, testBucket, "k", id, 1, strings.NewReader("hello"), 5, minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = core.CompleteMultipartUpload(ctx, testBucket, "k", id, []minio.CompletePart{{PartNumber: 1, ETag: "bad"}}, minio.PutObjectOptions{})
	if errCode(err) != "InvalidPart" {
		t.Fatalf("error inside a 200 response: %v", err)
	}
	res, err := core.CompleteMultipartUpload(ctx, testBucket, "k", id, []minio.CompletePart{{PartNumber: 1, ETag: p.ETag}}, minio.PutObjectOptions{})
	if err != nil || !strings.HasSuffix(res.ETag, "-1") {
		t.Fatalf("complete with keepalive: %v %q", err, res.ETag)
	}
	if got := getAll(t, c, testBucket, "k"); string(got) != "hello" {
		t.Fatalf("got %q", got)
	}
}

func TestTrailingChecksumsFromMinio(t *testing.T) {
	// TrailingHeaders makes minio-go send checksum trailers: over plain
	// HTTP in signed aws-chunked form (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER).
	b := startBackend(t)
	c := newClient(t, b, true)
	ctx := t.Context()
	mustMakeBucket(t, c, testBucket)
	small := randomBytes(11, 200<<10)
	if _, err := c.PutObject(ctx, testBucket, "small", bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put with trailer: %v", err)
	}
	big := randomBytes(12, 11<<20)
	if _, err := c.PutObject(ctx, testBucket, "big", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
		t.Fatalf("multipart put with trailers: %v", err)
	}
	if got := getAll(t, c, testBucket, "small"); !bytes.Equal(got, small) {
		t.Fatal("small object has framing or trailer bytes")
	}
	if got := getAll(t, c, testBucket, "big"); sha(got) != sha(big) {
		t.Fatal("multipart object has framing or trailer bytes")
	}
}

func TestRejectsUnstorableKeys(t *testing.T) {
	b := startBackend(t)
	c := newClient(t, b, false)
	mustMakeBucket(t, c, testBucket)
	mustMakeBucket(t, c, "victim")
	for _, key := range []string{"a/../../victim/x", "a//b", "dir/", "./x", strings.Repeat("k", 300)} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, b.Endpoint()+"/"+testBucket+"/"+key, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("PUT %q: status %d, want 400", key, resp.StatusCode)
		}
	}
	if n := len(listKeysIn(t, c, "victim")); n != 0 {
		t.Fatalf("a traversal key wrote %d objects into another bucket", n)
	}
}

func listKeysIn(t *testing.T, c *minio.Client, bucket string) []string {
	var keys []string
	for o := range c.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

func TestUnsupportedSubresourcesAreRefused(t *testing.T) {
	b := startBackend(t)
	c := newClient(t, b, false)
	mustMakeBucket(t, c, testBucket)
	if _, err := c.PutObject(t.Context(), testBucket, "k", strings.NewReader("data"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	mustMakeBucket(t, c, "empty-bucket")
	for _, rq := range []struct{ method, path string }{
		{http.MethodPut, "/" + testBucket + "/k?tagging"},
		{http.MethodDelete, "/" + testBucket + "/k?tagging"},
		{http.MethodDelete, "/empty-bucket?policy"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), rq.method, b.Endpoint()+rq.path, strings.NewReader("<Tagging/>"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotImplemented {
			t.Errorf("%s %s: status %d, want 501", rq.method, rq.path, resp.StatusCode)
		}
	}
	if got := getAll(t, c, testBucket, "k"); string(got) != "data" {
		t.Fatalf("object became %q", got)
	}
	if ok, err := c.BucketExists(t.Context(), "empty-bucket"); err != nil || !ok {
		t.Fatalf("bucket deleted by DELETE ?policy: %v %v", ok, err)
	}
}

func TestConditionalGet(t *testing.T) {
	b := startBackend(t)
	c := newClient(t, b, false)
	mustMakeBucket(t, c, testBucket)
	ctx := t.Context()
	single, err := c.PutObject(ctx, testBucket, "single", strings.NewReader("abc"), 3, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(13, 6<<20)
	multi, err := c.PutObject(ctx, testBucket, "multi", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, key string, hdr map[string]string) (int, http.Header) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, b.Endpoint()+"/"+testBucket+"/"+key, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for _, tc := range []struct {
		key, etag string
	}{{"single", single.ETag}, {"multi", multi.ETag}} {
		quoted := `"` + tc.etag + `"`
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			if code, hdr := do(method, tc.key, nil); code != 200 || hdr.Get("ETag") != quoted || hdr.Get(metaMultipartETag) != "" {
				t.Errorf("%s %s: %d ETag %q internal %q", method, tc.key, code, hdr.Get("ETag"), hdr.Get(metaMultipartETag))
			}
			if code, _ := do(method, tc.key, map[string]string{"If-None-Match": quoted}); code != http.StatusNotModified {
				t.Errorf("%s %s If-None-Match current: %d", method, tc.key, code)
			}
			if code, _ := do(method, tc.key, map[string]string{"If-Match": `"other"`}); code != http.StatusPreconditionFailed {
				t.Errorf("%s %s If-Match other: %d", method, tc.key, code)
			}
			if code, _ := do(method, tc.key, map[string]string{"If-Match": quoted, "Range": "bytes=0-1"}); code != http.StatusPartialContent {
				t.Errorf("%s %s If-Match current with range: %d", method, tc.key, code)
			}
			future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
			if code, _ := do(method, tc.key, map[string]string{"If-Modified-Since": future}); code != http.StatusNotModified {
				t.Errorf("%s %s If-Modified-Since future: %d", method, tc.key, code)
			}
		}
		// GetObject by part: every object reads as one part.
		if code, _ := do(http.MethodGet, tc.key+"?partNumber=1", nil); code != http.StatusOK {
			t.Errorf("GET %s part 1: %d", tc.key, code)
		}
		if code, _ := do(http.MethodGet, tc.key+"?partNumber=2", nil); code != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("GET %s part 2: %d", tc.key, code)
		}
	}
	// Conditional PUT knows multipart ETags too.
	var put minio.PutObjectOptions
	put.SetMatchETag("not-it")
	if _, err := c.PutObject(ctx, testBucket, "multi", strings.NewReader("x"), 1, put); errCode(err) != "PreconditionFailed" {
		t.Fatalf("If-Match with a stale ETag: %v", err)
	}
	put.SetMatchETag(multi.ETag)
	if _, err := c.PutObject(ctx, testBucket, "multi", strings.NewReader("x"), 1, put); err != nil {
		t.Fatalf("If-Match with the multipart ETag: %v", err)
	}
	var create minio.PutObjectOptions
	create.SetMatchETagExcept("*")
	if _, err := c.PutObject(ctx, testBucket, "multi", strings.NewReader("y"), 1, create); errCode(err) != "PreconditionFailed" {
		t.Fatalf("If-None-Match * on an existing key: %v", err)
	}
}
