package policy_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// countingBody is an upload body of zeros that counts how much of it the
// HTTP client has read, i.e. how much could have gone on the wire.
type countingBody struct {
	remaining int64 // only the transport's writer touches it
	read      atomic.Int64
	closed    chan struct{}
	once      sync.Once
}

func newCountingBody(size int64) *countingBody {
	return &countingBody{remaining: size, closed: make(chan struct{})}
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), b.remaining)
	clear(p[:n])
	b.remaining -= n
	b.read.Add(n)
	return int(n), nil
}

func (b *countingBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// settled waits until the transport is done with the body (it closes it
// when the request is over, written or not) and returns the bytes read.
func (b *countingBody) settled(t *testing.T) int64 {
	t.Helper()
	select {
	case <-b.closed:
	case <-time.After(20 * time.Second):
		t.Errorf("the HTTP client did not close the request body within 20s of the response")
	}
	return b.read.Load()
}

// multipartResult is how a multipart upload went.
type multipartResult struct {
	step      string             // the request that failed; "" if none did
	err       error              // its error
	minioHeld []minio.ObjectPart // the parts MinIO held when it failed
}

// multipart uploads parts as one multipart upload with minio-go's Core API
// (one request per step, nothing retried) and completes it. When a step
// fails it notes which parts MinIO holds, then aborts the upload as a
// well-behaved client does (straight in MinIO, so no policy is involved).
func multipart(t *testing.T, c *minio.Client, bucket, key, contentType string, parts ...[]byte) multipartResult {
	t.Helper()
	core := minio.Core{Client: c}
	ctx := t.Context()
	id, err := core.NewMultipartUpload(ctx, bucket, key, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return multipartResult{step: "CreateMultipartUpload", err: err}
	}
	fail := func(step string, err error) multipartResult {
		backendCore := minio.Core{Client: suite.Backend.Client()}
		held, lerr := backendCore.ListObjectParts(ctx, bucket, key, id, 0, 1000)
		if lerr != nil {
			t.Errorf("MinIO ListParts %s/%s: %v", bucket, key, lerr)
		}
		if aerr := backendCore.AbortMultipartUpload(ctx, bucket, key, id); aerr != nil {
			t.Errorf("MinIO AbortMultipartUpload %s/%s: %v", bucket, key, aerr)
		}
		return multipartResult{step: step, err: err, minioHeld: held.ObjectParts}
	}
	var done []minio.CompletePart
	for i, p := range parts {
		op, err := core.PutObjectPart(ctx, bucket, key, id, i+1, bytes.NewReader(p), int64(len(p)), minio.PutObjectPartOptions{})
		if err != nil {
			return fail(fmt.Sprintf("UploadPart %d", i+1), err)
		}
		done = append(done, minio.CompletePart{PartNumber: i + 1, ETag: op.ETag})
	}
	if _, err := core.CompleteMultipartUpload(ctx, bucket, key, id, done, minio.PutObjectOptions{}); err != nil {
		return fail("CompleteMultipartUpload", err)
	}
	return multipartResult{}
}

// TestMaxObjectSize: max_object_size 1MiB refuses a PUT declaring 50 MiB
// with 400 EntityTooLarge before reading its body, and MinIO gets nothing.
func TestMaxObjectSize(t *testing.T) {
	t.Parallel()
	bucket, multi, free := harness.BucketName("small"), harness.BucketName("mp"), harness.BucketName("free")
	e := start(t, "policy:\n  buckets:\n"+
		"    - bucket: \"small-*\"\n      max_object_size: 1MiB\n"+
		// S3 parts are at least 5 MiB, so a multipart test needs a larger limit.
		"    - bucket: \"mp-*\"\n      max_object_size: 6MiB\n")
	e.makeBuckets(t, bucket, multi, free)
	admin := e.admin()

	put := func(t *testing.T, key string, size int64, expect bool) (harness.S3Response, int64) {
		t.Helper()
		return e.putDeclared(t, admin, bucket, key, size, expect, nil)
	}

	t.Run("control-at-the-limit", func(t *testing.T) {
		t.Parallel()
		resp, n := put(t, "exactly-1mib.bin", 1<<20, true)
		if resp.Status != http.StatusOK || n != 1<<20 {
			t.Fatalf("control: PUT of exactly max_object_size (1 MiB) with Expect: 100-continue: %s, client read %d body bytes; want 200 and the whole MiB", resp, n)
		}
		assertStored(t, bucket, "exactly-1mib.bin", make([]byte, 1<<20))
	})

	t.Run("50MiB-expect-100-continue", func(t *testing.T) {
		t.Parallel()
		resp, n := put(t, "declared-50mib.bin", 50<<20, true)
		if resp.Status != http.StatusBadRequest || resp.Code != "EntityTooLarge" {
			t.Errorf("PUT declaring 50 MiB into a 1 MiB bucket: %s, want 400 EntityTooLarge", resp)
		}
		if !strings.Contains(resp.Message, "1MiB") && !strings.Contains(resp.Message, "1048576") {
			t.Errorf("EntityTooLarge message %q does not name the limit", resp.Message)
		}
		if n >= 1<<20 {
			t.Errorf("PUT declaring 50 MiB with Expect: 100-continue: the client read %d body bytes, so photogate asked for the body (100 Continue) before refusing; want far less than 1 MiB", n)
		}
		t.Logf("PUT declaring 50 MiB, Expect: 100-continue: %s; client read %d of %d body bytes", resp, n, 50<<20)
		assertAbsent(t, bucket, "declared-50mib.bin")
	})

	t.Run("50MiB-no-expect", func(t *testing.T) {
		t.Parallel()
		// Without Expect the client streams the body at once; what it
		// manages to push before photogate's answer and close is bounded
		// by socket buffers (plus Go's 256 KiB post-handler drain), not by
		// the 50 MiB declared.
		resp, n := put(t, "declared-50mib-noexpect.bin", 50<<20, false)
		if resp.Status != http.StatusBadRequest || resp.Code != "EntityTooLarge" {
			t.Errorf("PUT declaring 50 MiB into a 1 MiB bucket: %s, want 400 EntityTooLarge", resp)
		}
		if n >= 20<<20 {
			t.Errorf("PUT declaring 50 MiB without Expect: the client got to send %d body bytes before photogate refused; photogate read the body", n)
		}
		t.Logf("PUT declaring 50 MiB, no Expect: %s; client read %d of %d body bytes", resp, n, 50<<20)
		assertAbsent(t, bucket, "declared-50mib-noexpect.bin")
	})

	t.Run("minio-go-2MiB", func(t *testing.T) {
		t.Parallel()
		body := harness.RandomBytes(2 << 20)
		_, err := e.minio(t, admin).PutObject(t.Context(), bucket, "two-mib.jpg", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "image/jpeg"})
		wantMinioErr(t, "minio-go PutObject of 2 MiB into a 1 MiB bucket", err, http.StatusBadRequest, "EntityTooLarge")
		assertAbsent(t, bucket, "two-mib.jpg")
	})

	// max_multipart_size defaults to max_object_size, "so multipart is not
	// a way around it": two 5 MiB parts make 10 MiB > 6 MiB.
	t.Run("multipart-total", func(t *testing.T) {
		t.Parallel()
		r := multipart(t, e.minio(t, admin), multi, "ten-mib.mp4", "video/mp4", harness.RandomBytes(5<<20), harness.RandomBytes(5<<20))
		if r.err == nil {
			t.Errorf("multipart upload of 2 x 5 MiB parts into a bucket with max_object_size 6MiB (max_multipart_size defaults to it): every step succeeded; want 400 EntityTooLarge at part 2 (5 MiB in part 1 + 5 MiB) or at CompleteMultipartUpload")
		} else {
			t.Logf("refused at %s: %v", r.step, r.err)
			wantMinioErr(t, "multipart 2 x 5 MiB into max_object_size 6MiB, "+r.step, r.err, http.StatusBadRequest, "EntityTooLarge")
		}
		assertAbsent(t, multi, "ten-mib.mp4")
	})

	// A copy is a single-request upload too: its size is the source's,
	// which photogate's index knows when the source went through it.
	t.Run("copy-of-2MiB", func(t *testing.T) {
		t.Parallel()
		body := harness.RandomBytes(2 << 20)
		c := e.minio(t, admin)
		if _, err := c.PutObject(t.Context(), free, "two-mib.jpg", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			t.Fatalf("control: PutObject of 2 MiB into an unlimited bucket: %v", err)
		}
		e.waitIndexed(t, free, 1)
		req := newRequest(t, http.MethodPut, e.objectURL(bucket, "copied-two-mib.jpg"), nil)
		req.Header.Set("X-Amz-Copy-Source", "/"+free+"/two-mib.jpg")
		resp := harness.SendS3(t, plainClient(), sign(req, admin, harness.SHA256Hex(nil)))
		if resp.Status != http.StatusBadRequest || resp.Code != "EntityTooLarge" {
			t.Errorf("CopyObject of a 2 MiB object (indexed by photogate) into a bucket with max_object_size 1MiB: %s; want 400 EntityTooLarge", resp)
		}
		assertAbsent(t, bucket, "copied-two-mib.jpg")
	})
}

// putDeclared sends an UNSIGNED-PAYLOAD PUT declaring size bytes as u, with
// Expect: 100-continue if expect, and returns the answer and how many body
// bytes the client read.
func (e *env) putDeclared(t *testing.T, u user, bucket, key string, size int64, expect bool, header http.Header) (harness.S3Response, int64) {
	t.Helper()
	body := newCountingBody(size)
	req := newRequest(t, http.MethodPut, e.objectURL(bucket, key), body)
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	req = sign(req, u, "UNSIGNED-PAYLOAD")
	tr := &http.Transport{Proxy: nil}
	if expect {
		// The client sends the body only after 100 Continue, which Go's
		// server sends only when the handler starts reading the body.
		req.Header.Set("Expect", "100-continue")
		tr.ExpectContinueTimeout = 30 * time.Second
	}
	defer tr.CloseIdleConnections()
	resp := harness.SendS3(t, &http.Client{Timeout: time.Minute, Transport: tr}, req)
	return resp, body.settled(t)
}

// TestUserSizeLimits: size limits on a user bind that user in every bucket
// (here one without any rule), are refused before the body is read, and do
// not bind other users.
func TestUserSizeLimits(t *testing.T) {
	t.Parallel()
	bucket := harness.BucketName("us")
	kid := newUser("kid")
	e := start(t, "users:\n"+kid.entry("    grants:\n      - buckets: \"us-*\"\n        actions: [read, write, list]\n"+
		"    max_object_size: 1MiB\n    max_metadata_bytes: 64\n"), kid)
	e.makeBuckets(t, bucket)

	resp, n := e.putDeclared(t, kid, bucket, "declared-50mib.bin", 50<<20, true, nil)
	if resp.Status != http.StatusBadRequest || resp.Code != "EntityTooLarge" || !strings.Contains(resp.Message, "max_object_size of user kid is 1MiB") {
		t.Errorf("kid's PUT declaring 50 MiB: %s; want 400 EntityTooLarge naming kid's max_object_size", resp)
	}
	if n >= 1<<20 {
		t.Errorf("kid's PUT declaring 50 MiB with Expect: 100-continue: the client read %d body bytes before the refusal", n)
	}
	assertAbsent(t, bucket, "declared-50mib.bin")

	sdk, _ := e.sdk(t, kid, 1)
	putSDK := func(key string, body []byte, meta map[string]string) error {
		_, err := sdk.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), Metadata: meta})
		return err
	}
	exact := harness.RandomBytes(1 << 20)
	if err := putSDK("exactly-1mib.jpg", exact, nil); err != nil {
		t.Fatalf("kid's aws-sdk-go-v2 PutObject of exactly max_object_size: %v", err)
	}
	assertStored(t, bucket, "exactly-1mib.jpg", exact)
	wantSDKErr(t, "kid's aws-sdk-go-v2 PutObject of 1 MiB + 1", putSDK("over.jpg", harness.RandomBytes(1<<20+1), nil), http.StatusBadRequest, "EntityTooLarge")
	assertAbsent(t, bucket, "over.jpg")
	// 65 metadata bytes: "note" (4) + 61.
	msg := wantSDKErr(t, "kid's PutObject with 65 bytes of metadata", putSDK("meta.jpg", []byte("x"), map[string]string{"note": strings.Repeat("m", 61)}),
		http.StatusBadRequest, "InvalidArgument")
	if !strings.Contains(msg, "max_metadata_bytes of user kid") {
		t.Errorf("metadata refusal %q does not name kid's limit", msg)
	}
	assertAbsent(t, bucket, "meta.jpg")

	// The env user has no size limits in the same bucket.
	big := harness.RandomBytes(2 << 20)
	if _, err := e.minio(t, e.admin()).PutObject(t.Context(), bucket, "big.jpg", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("another user's 2 MiB PutObject: %v", err)
	}
	assertStored(t, bucket, "big.jpg", big)
}

// zipImpostor returns a ZIP archive holding a photo: the kind of file that
// gets named holiday.jpg.
func zipImpostor(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"holiday/IMG_0001.jpg", "holiday/readme.txt"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(harness.RandomBytes(30_000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// jpegBytes returns a small real JPEG from the test photos.
func jpegBytes(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(harness.PhotosDir(t), "jpeg", "iphone4s_lensinfo_gps_orient6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestAllowedTypes: allowed_types ["image/*"] judges the bytes, not the
// name or the declared type: a ZIP named holiday.jpg and declared
// image/jpeg is refused with 400 InvalidArgument naming application/zip,
// and never reaches MinIO; real JPEGs go through.
func TestAllowedTypes(t *testing.T) {
	t.Parallel()
	bucket := harness.BucketName("img")
	e := start(t, "policy:\n  buckets:\n    - bucket: \"img-*\"\n      allowed_types: [\"image/*\"]\n")
	e.makeBuckets(t, bucket)
	admin := e.admin()
	impostor := zipImpostor(t)

	checkMessage := func(t *testing.T, client, msg string) {
		t.Helper()
		if !strings.Contains(msg, "application/zip") {
			t.Errorf("%s: InvalidArgument message %q does not name application/zip", client, msg)
		}
	}

	t.Run("zip-as-jpeg-minio-go", func(t *testing.T) {
		t.Parallel()
		_, err := e.minio(t, admin).PutObject(t.Context(), bucket, "holiday.jpg", bytes.NewReader(impostor), int64(len(impostor)),
			minio.PutObjectOptions{ContentType: "image/jpeg"})
		checkMessage(t, "minio-go", wantMinioErr(t, "minio-go PutObject of a ZIP as holiday.jpg (image/jpeg)", err, http.StatusBadRequest, "InvalidArgument"))
		assertAbsent(t, bucket, "holiday.jpg")
	})

	t.Run("zip-as-jpeg-sdk", func(t *testing.T) {
		t.Parallel()
		c, _ := e.sdk(t, admin, 0)
		_, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("sdk/holiday.jpg"),
			Body: bytes.NewReader(impostor), ContentType: aws.String("image/jpeg")})
		checkMessage(t, "aws-sdk-go-v2", wantSDKErr(t, "aws-sdk-go-v2 PutObject of a ZIP as sdk/holiday.jpg (image/jpeg)", err, http.StatusBadRequest, "InvalidArgument"))
		assertAbsent(t, bucket, "sdk/holiday.jpg")
	})

	t.Run("zip-as-jpeg-raw", func(t *testing.T) {
		t.Parallel()
		req := newRequest(t, http.MethodPut, e.objectURL(bucket, "raw/holiday.jpg"), bytes.NewReader(impostor))
		req.Header.Set("Content-Type", "image/jpeg")
		resp := harness.SendS3(t, plainClient(), sign(req, admin, harness.SHA256Hex(impostor)))
		if resp.Status != http.StatusBadRequest || resp.Code != "InvalidArgument" {
			t.Errorf("raw PUT of a ZIP as raw/holiday.jpg (image/jpeg): %s, want 400 InvalidArgument", resp)
		}
		checkMessage(t, "raw PUT", resp.Message)
		assertAbsent(t, bucket, "raw/holiday.jpg")
	})

	t.Run("zip-as-part-1", func(t *testing.T) {
		t.Parallel()
		r := multipart(t, e.minio(t, admin), bucket, "multipart/holiday.jpg", "image/jpeg", impostor)
		if r.step != "UploadPart 1" {
			t.Errorf("multipart upload of a ZIP declared image/jpeg: failed at %q (%v), want part 1 refused", r.step, r.err)
		}
		checkMessage(t, "UploadPart 1", wantMinioErr(t, "UploadPart 1 holding a ZIP", r.err, http.StatusBadRequest, "InvalidArgument"))
		for _, p := range r.minioHeld {
			t.Errorf("after part 1 (a ZIP) was refused, MinIO held part %d (%d bytes) of the upload; want none", p.PartNumber, p.Size)
		}
		assertAbsent(t, bucket, "multipart/holiday.jpg")
	})

	t.Run("declared-type-outside", func(t *testing.T) {
		t.Parallel()
		// Real JPEG bytes, declared text/html: a browser would render it.
		data := jpegBytes(t)
		req := newRequest(t, http.MethodPut, e.objectURL(bucket, "page.html"), bytes.NewReader(data))
		req.Header.Set("Content-Type", "text/html")
		resp := harness.SendS3(t, plainClient(), sign(req, admin, harness.SHA256Hex(data)))
		if resp.Status != http.StatusBadRequest || resp.Code != "InvalidArgument" || !strings.Contains(resp.Message, "text/html") {
			t.Errorf("PUT of a JPEG declared text/html into an image/* bucket: %s; want 400 InvalidArgument naming text/html", resp)
		}
		assertAbsent(t, bucket, "page.html")
	})

	t.Run("svg-is-not-image-star", func(t *testing.T) {
		t.Parallel()
		svg := []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`)
		_, err := e.minio(t, admin).PutObject(t.Context(), bucket, "logo.jpg", bytes.NewReader(svg), int64(len(svg)),
			minio.PutObjectOptions{ContentType: "image/jpeg"})
		msg := wantMinioErr(t, "PutObject of an SVG as logo.jpg (image/jpeg)", err, http.StatusBadRequest, "InvalidArgument")
		if !strings.Contains(msg, "svg") {
			t.Errorf("InvalidArgument message %q does not name the SVG type", msg)
		}
		assertAbsent(t, bucket, "logo.jpg")
	})

	t.Run("real-jpegs", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(harness.PhotosDir(t), "jpeg")
		c, _ := e.sdk(t, admin, 0)
		for _, name := range []string{"iphone4s_lensinfo_gps_orient6.jpg", "canon_sx60hs_orient6.jpg"} {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.minio(t, admin).PutObject(t.Context(), bucket, "minio-go/"+name, bytes.NewReader(data), int64(len(data)),
				minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
				t.Errorf("minio-go PutObject of the real JPEG %s: %v", name, err)
			} else {
				assertStored(t, bucket, "minio-go/"+name, data)
			}
			// Undeclared type: left to detection, which finds a JPEG.
			if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("sdk/" + name),
				Body: bytes.NewReader(data)}); err != nil {
				t.Errorf("aws-sdk-go-v2 PutObject of the real JPEG %s: %v", name, err)
			} else {
				assertStored(t, bucket, "sdk/"+name, data)
			}
		}
	})
}

// TestQuota: bucket quotas count objects and bytes in photogate's index.
// Reaching a quota exactly is allowed, one more is 403 QuotaExceeded (and
// nothing reaches MinIO); overwrites that add nothing are allowed at the
// limit; a delete makes room again.
func TestQuota(t *testing.T) {
	t.Parallel()
	counted, sized, multi := harness.BucketName("count"), harness.BucketName("bytes"), harness.BucketName("mpq")
	e := start(t, "policy:\n  buckets:\n"+
		"    - bucket: \"count-*\"\n      quota: {max_objects: 3}\n"+
		"    - bucket: \"bytes-*\"\n      quota: {max_bytes: 1000}\n"+
		"    - bucket: \"mpq-*\"\n      quota: {max_bytes: 8MiB}\n")
	e.makeBuckets(t, counted, sized, multi)
	c := e.minio(t, e.admin())

	put := func(t *testing.T, bucket, key string, body []byte) error {
		t.Helper()
		_, err := c.PutObject(t.Context(), bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "image/jpeg"})
		return err
	}
	mustPut := func(t *testing.T, bucket, key string, body []byte, why string) {
		t.Helper()
		if err := put(t, bucket, key, body); err != nil {
			t.Fatalf("PutObject %s/%s (%d bytes; %s): %v", bucket, key, len(body), why, err)
		}
		assertStored(t, bucket, key, body)
	}
	refused := func(t *testing.T, bucket, key string, body []byte, why, wantInMessage string) {
		t.Helper()
		msg := wantMinioErr(t, fmt.Sprintf("PutObject %s/%s (%d bytes; %s)", bucket, key, len(body), why), put(t, bucket, key, body),
			http.StatusForbidden, "QuotaExceeded")
		if !strings.Contains(msg, wantInMessage) {
			t.Errorf("QuotaExceeded message %q does not say %q", msg, wantInMessage)
		}
	}

	t.Run("max-objects", func(t *testing.T) {
		t.Parallel()
		for i, key := range []string{"a.jpg", "b.jpg", "c.jpg"} {
			mustPut(t, counted, key, harness.RandomBytes(1000+i), fmt.Sprintf("object %d of max_objects 3", i+1))
		}
		e.waitIndexed(t, counted, 3)
		refused(t, counted, "d.jpg", harness.RandomBytes(500), "a 4th object, max_objects 3", "max_objects 3")
		assertAbsent(t, counted, "d.jpg")

		// An overwrite adds no object: allowed at the limit, even bigger.
		mustPut(t, counted, "a.jpg", harness.RandomBytes(5000), "overwrite at max_objects")

		if err := c.RemoveObject(t.Context(), counted, "b.jpg", minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("RemoveObject %s/b.jpg: %v", counted, err)
		}
		e.waitIndexed(t, counted, 2)
		mustPut(t, counted, "d.jpg", harness.RandomBytes(700), "3rd object again after a delete")
		e.waitIndexed(t, counted, 3)
		refused(t, counted, "e.jpg", harness.RandomBytes(10), "a 4th object again", "max_objects 3")
		assertAbsent(t, counted, "e.jpg")
	})

	t.Run("max-bytes", func(t *testing.T) {
		t.Parallel()
		x, y := harness.RandomBytes(600), harness.RandomBytes(400)
		mustPut(t, sized, "x.jpg", x, "600 of 1000 bytes")
		mustPut(t, sized, "y.jpg", y, "reaches max_bytes 1000 exactly")
		refused(t, sized, "z.jpg", harness.RandomBytes(1), "one byte over max_bytes 1000", "1000 bytes stored + 1 new")
		assertAbsent(t, sized, "z.jpg")

		// Shrinking is always allowed; growing into the freed room too.
		mustPut(t, sized, "x.jpg", harness.RandomBytes(500), "overwrite 600 with 500 bytes")
		y = harness.RandomBytes(500)
		mustPut(t, sized, "y.jpg", y, "overwrite 400 with 500 bytes: 1000 again")
		refused(t, sized, "y.jpg", harness.RandomBytes(501), "overwrite growing past max_bytes", "max_bytes")
		assertStored(t, sized, "y.jpg", y) // the refused overwrite left the old object alone
		refused(t, sized, "z.jpg", harness.RandomBytes(1), "one byte over max_bytes 1000 again", "1000 bytes stored + 1 new")
		assertAbsent(t, sized, "z.jpg")
		if n, size := e.indexed(t, sized); n != 2 || size != 1000 {
			t.Errorf("index counts %d objects, %d bytes in %s; want 2 and 1000", n, size, sized)
		}

		if err := c.RemoveObject(t.Context(), sized, "x.jpg", minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("RemoveObject %s/x.jpg: %v", sized, err)
		}
		e.waitIndexed(t, sized, 1)
		mustPut(t, sized, "z.jpg", harness.RandomBytes(500), "room again after a delete")
	})

	// "For multipart uploads the parts already uploaded count."
	t.Run("multipart-bytes", func(t *testing.T) {
		t.Parallel()
		r := multipart(t, c, multi, "ten-mib.mp4", "video/mp4", harness.RandomBytes(5<<20), harness.RandomBytes(5<<20))
		if r.err == nil {
			t.Errorf("multipart upload of 2 x 5 MiB parts into a bucket with quota max_bytes 8MiB: every step succeeded; want 403 QuotaExceeded at part 2 (5 MiB already in part 1) or at CompleteMultipartUpload")
		} else {
			t.Logf("refused at %s: %v", r.step, r.err)
			wantMinioErr(t, "multipart 2 x 5 MiB into max_bytes 8MiB, "+r.step, r.err, http.StatusForbidden, "QuotaExceeded")
		}
		assertAbsent(t, multi, "ten-mib.mp4")
		if n, size := e.indexed(t, multi); size > 8<<20 {
			t.Errorf("index counts %d objects, %d bytes in %s, over its max_bytes of 8 MiB", n, size, multi)
		}
	})
}
