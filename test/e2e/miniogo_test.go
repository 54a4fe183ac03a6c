package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// TestMinioGo drives minio-go v7 through the gateway over plain HTTP, where
// it signs every chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD).
func TestMinioGo(t *testing.T) {
	t.Parallel()
	tg := getTarget(t)
	c := tg.client(t)

	t.Run("put-unknown-size-multipart", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		bucket := tg.makeBucket(t, "mgo-stream")
		body := harness.RandomBytes(17<<20 + 11) // parts of 5+5+5+2 MiB
		// io.MultiReader hides the size and the Seek method: minio-go must
		// stream a multipart upload without knowing the length.
		info, err := c.PutObject(ctx, bucket, "video.mov", io.MultiReader(bytes.NewReader(body)), -1,
			minio.PutObjectOptions{PartSize: 5 << 20, ContentType: "video/quicktime"})
		if err != nil {
			t.Fatalf("PutObject size -1: %v", err)
		}
		if info.Size != int64(len(body)) {
			t.Errorf("PutObject reported %d bytes, want %d", info.Size, len(body))
		}
		tg.assertBackendObject(t, bucket, "video.mov", harness.SHA256Hex(body), int64(len(body)))
		tg.checkBucketLogs(t, bucket)
	})

	t.Run("get-range-conditional-stat-remove", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		bucket := tg.makeBucket(t, "mgo-get")
		body := harness.RandomBytes(3<<20 + 5)
		key := "2025/IMG_0042.jpg"
		info, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)),
			minio.PutObjectOptions{ContentType: "image/jpeg", UserMetadata: map[string]string{"camera": "X100V"}})
		if err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		tg.assertBackendObject(t, bucket, key, harness.SHA256Hex(body), int64(len(body)))

		get := func(opts minio.GetObjectOptions) ([]byte, error) {
			obj, err := c.GetObject(ctx, bucket, key, opts)
			if err != nil {
				return nil, err
			}
			defer obj.Close()
			return io.ReadAll(obj)
		}

		var opts minio.GetObjectOptions
		if err := opts.SetRange(1000, 1999); err != nil {
			t.Fatal(err)
		}
		if got, err := get(opts); err != nil || !bytes.Equal(got, body[1000:2000]) {
			t.Errorf("range 1000-1999: %d bytes, %v; want the 1000 bytes at offset 1000", len(got), err)
		}
		opts = minio.GetObjectOptions{}
		if err := opts.SetRange(0, -500); err != nil {
			t.Fatal(err)
		}
		if got, err := get(opts); err != nil || !bytes.Equal(got, body[len(body)-500:]) {
			t.Errorf("suffix range -500: %d bytes, %v; want the last 500 bytes", len(got), err)
		}

		opts = minio.GetObjectOptions{}
		if err := opts.SetMatchETag(info.ETag); err != nil {
			t.Fatal(err)
		}
		if got, err := get(opts); err != nil || !bytes.Equal(got, body) {
			t.Errorf("If-Match with the object's ETag: %d bytes, %v; want the object", len(got), err)
		}
		opts = minio.GetObjectOptions{}
		if err := opts.SetMatchETag("0123456789abcdef0123456789abcdef"); err != nil {
			t.Fatal(err)
		}
		if _, err := get(opts); !isS3Error(err, "PreconditionFailed", http.StatusPreconditionFailed) {
			t.Errorf("If-Match with another ETag: %v, want 412 PreconditionFailed", err)
		}

		st, err := c.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatalf("StatObject: %v", err)
		}
		if st.Size != int64(len(body)) || st.ETag != info.ETag || st.ContentType != "image/jpeg" || st.UserMetadata["Camera"] != "X100V" {
			t.Errorf("StatObject: size %d etag %s type %s meta %v; want %d %s image/jpeg Camera=X100V",
				st.Size, st.ETag, st.ContentType, st.UserMetadata, len(body), info.ETag)
		}

		// If-Modified-Since an hour before the upload: the object.
		opts = minio.GetObjectOptions{}
		if err := opts.SetModified(st.LastModified.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, err := get(opts); err != nil || !bytes.Equal(got, body) {
			t.Errorf("If-Modified-Since before the upload: %d bytes, %v; want the object", len(got), err)
		}
		// If-Modified-Since after it: 304, which minio-go reports as an error.
		opts = minio.GetObjectOptions{}
		if err := opts.SetModified(st.LastModified.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := get(opts); !isS3Error(err, "", http.StatusNotModified) {
			t.Errorf("If-Modified-Since after the upload: %v, want 304 Not Modified", err)
		}
		// If-Unmodified-Since before it: 412.
		opts = minio.GetObjectOptions{}
		if err := opts.SetUnmodified(st.LastModified.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := get(opts); !isS3Error(err, "PreconditionFailed", http.StatusPreconditionFailed) {
			t.Errorf("If-Unmodified-Since before the upload: %v, want 412 PreconditionFailed", err)
		}

		if err := c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("RemoveObject: %v", err)
		}
		if _, err := c.StatObject(ctx, bucket, key, minio.StatObjectOptions{}); !isS3Error(err, "NoSuchKey", http.StatusNotFound) {
			t.Errorf("StatObject after RemoveObject: %v, want 404 NoSuchKey", err)
		}
		tg.assertBackendMissing(t, bucket, key)
		tg.checkBucketLogs(t, bucket)
	})
}

// TestMinioGoHTTPS drives minio-go, with default options and a custom
// transport trusting the test CA, at the gateway's own HTTPS listener, for
// known-size and streamed (multipart) uploads.
//
// minio-go (v7.4) sends no trailers unless the client is created with
// TrailingHeaders: true, which is off by default, and without it adds no
// flexible checksum either. Over HTTPS it neither signs nor chunks the
// payload: every PutObject and UploadPart is UNSIGNED-PAYLOAD with no
// checksum, left to TLS alone. (Over HTTP it signs each chunk instead.)
func TestMinioGoHTTPS(t *testing.T) {
	t.Parallel()
	tg := getTLSTarget(t)
	c := tg.client(t)
	ctx := t.Context()
	bucket := tg.makeBucket(t, "mgo-tls")

	small := harness.RandomBytes(6<<20 + 1)
	if _, err := c.PutObject(ctx, bucket, "known.jpg", bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject known size: %v", err)
	}
	tg.assertBackendObject(t, bucket, "known.jpg", harness.SHA256Hex(small), int64(len(small)))

	stream := harness.RandomBytes(12<<20 + 1)
	if _, err := c.PutObject(ctx, bucket, "stream.mov", io.MultiReader(bytes.NewReader(stream)), -1, minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
		t.Fatalf("PutObject size -1: %v", err)
	}
	tg.assertBackendObject(t, bucket, "stream.mov", harness.SHA256Hex(stream), int64(len(stream)))

	obj, err := c.GetObject(ctx, bucket, "stream.mov", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if sum, _, err := harness.SHA256Reader(obj); err != nil || sum != harness.SHA256Hex(stream) {
		t.Errorf("GetObject over HTTPS: sha256 %s (%v), want %s", sum, err, harness.SHA256Hex(stream))
	}
	// One PutObject and three parts.
	tg.checkUploadModes(t, "minio-go", bucket, 4, uploadMode{Payload: "unsigned"})
	tg.checkBucketLogs(t, bucket)
}

// isS3Error reports whether err is an S3 error with the given status and,
// unless code is empty, code.
func isS3Error(err error, code string, status int) bool {
	c, s := errCode(err)
	return s == status && (code == "" || c == code)
}

// TestConcurrentUploads pushes many uploads of different sizes through the
// gateway at once and checks every object, in MinIO and read back through
// the gateway: a proxy that mixes up bodies, buffers or connections under
// concurrency corrupts data only under load.
func TestConcurrentUploads(t *testing.T) {
	t.Parallel()
	tg := getTarget(t)
	c := tg.client(t)
	ctx := t.Context()
	bucket := tg.makeBucket(t, "concurrent")

	const n = 24
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = harness.RandomBytes(64<<10 + i*97<<10) // 64 KiB .. ~2.3 MiB
	}
	key := func(i int) string { return fmt.Sprintf("burst/%02d.jpg", i) }
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := c.PutObject(ctx, bucket, key(i), bytes.NewReader(bodies[i]), int64(len(bodies[i])), minio.PutObjectOptions{})
			if err != nil {
				err = fmt.Errorf("PutObject %s: %w", key(i), err)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for i := range n {
		tg.assertBackendObject(t, bucket, key(i), harness.SHA256Hex(bodies[i]), int64(len(bodies[i])))
	}
	for i := range n {
		go func() {
			obj, err := c.GetObject(ctx, bucket, key(i), minio.GetObjectOptions{})
			if err != nil {
				errs <- err
				return
			}
			defer obj.Close()
			sum, _, err := harness.SHA256Reader(obj)
			if err == nil && sum != harness.SHA256Hex(bodies[i]) {
				err = fmt.Errorf("GetObject %s: sha256 %s, want %s", key(i), sum, harness.SHA256Hex(bodies[i]))
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	tg.checkBucketLogs(t, bucket)
}
