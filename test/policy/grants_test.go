package policy_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// TestGrants: grants only add, per bucket pattern and action; copies need
// read on their source; anonymous callers get public_read buckets only,
// and only to read.
func TestGrants(t *testing.T) {
	t.Parallel()
	photos, other, public := harness.BucketName("photos"), harness.BucketName("other"), harness.BucketName("public")
	reader, writer := newUser("reader"), newUser("writer")
	cfg := "users:\n" +
		reader.entry("    grants:\n      - buckets: \"photos-*\"\n        actions: [read, list]\n") +
		writer.entry("    grants:\n      - buckets: \"photos-*\"\n        actions: [read, write, delete, list]\n") +
		fmt.Sprintf("policy:\n  buckets:\n    - bucket: %s\n      public_read: true\n", public)
	e := start(t, cfg, reader, writer)
	e.makeBuckets(t, photos, other, public)
	seedPhoto := harness.RandomBytes(50_000)
	secret := harness.RandomBytes(40_000)
	publicPhoto := harness.RandomBytes(30_000)
	seed(t, photos, "seed.jpg", seedPhoto)
	seed(t, other, "secret.jpg", secret)
	seed(t, public, "pic.jpg", publicPhoto)

	t.Run("read-list-user", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := e.minio(t, reader)

		obj, err := c.GetObject(ctx, photos, "seed.jpg", minio.GetObjectOptions{})
		if err != nil {
			t.Fatalf("reader GetObject: %v", err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, seedPhoto) {
			t.Errorf("reader GetObject %s/seed.jpg: %d bytes, err %v; want the %d seeded bytes", photos, len(got), err, len(seedPhoto))
		}
		var keys []string
		for o := range c.ListObjects(ctx, photos, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatalf("reader ListObjects %s: %v", photos, o.Err)
			}
			keys = append(keys, o.Key)
		}
		if !slices.Contains(keys, "seed.jpg") {
			t.Errorf("reader ListObjects %s: %v, want seed.jpg in it", photos, keys)
		}

		body := harness.RandomBytes(20_000)
		_, err = c.PutObject(ctx, photos, "reader-put.jpg", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "image/jpeg"})
		wantMinioErr(t, "reader PutObject (no write grant)", err, http.StatusForbidden, "AccessDenied")
		assertAbsent(t, photos, "reader-put.jpg")

		err = c.RemoveObject(ctx, photos, "seed.jpg", minio.RemoveObjectOptions{})
		wantMinioErr(t, "reader RemoveObject (no delete grant)", err, http.StatusForbidden, "AccessDenied")
		assertStored(t, photos, "seed.jpg", seedPhoto)

		// The same refusals with raw requests, to see the exact answer.
		resp := harness.SendS3(t, plainClient(), signedBytes(t, http.MethodPut, e.objectURL(photos, "reader-raw.jpg"), body, reader))
		if resp.Status != http.StatusForbidden || resp.Code != "AccessDenied" {
			t.Errorf("reader raw PUT: %s, want 403 AccessDenied", resp)
		}
		assertAbsent(t, photos, "reader-raw.jpg")
		resp = harness.SendS3(t, plainClient(), signedBytes(t, http.MethodDelete, e.objectURL(photos, "seed.jpg"), nil, reader))
		if resp.Status != http.StatusForbidden || resp.Code != "AccessDenied" {
			t.Errorf("reader raw DELETE: %s, want 403 AccessDenied", resp)
		}
		assertStored(t, photos, "seed.jpg", seedPhoto)
	})

	t.Run("write-user-outside-its-buckets", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c, _ := e.sdk(t, writer, 0)
		body := harness.RandomBytes(30_000)

		// Control: the grant works where it applies.
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(photos), Key: aws.String("writer.jpg"), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("control: writer PutObject into %s: %v", photos, err)
		}
		assertStored(t, photos, "writer.jpg", body)

		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(other), Key: aws.String("writer.jpg"), Body: bytes.NewReader(body)})
		wantSDKErr(t, "writer PutObject into "+other, err, http.StatusForbidden, "AccessDenied")
		assertAbsent(t, other, "writer.jpg")

		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(other), Key: aws.String("secret.jpg")})
		wantSDKErr(t, "writer GetObject from "+other, err, http.StatusForbidden, "AccessDenied")

		_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(other)})
		wantSDKErr(t, "writer ListObjectsV2 of "+other, err, http.StatusForbidden, "AccessDenied")

		_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(other), Key: aws.String("secret.jpg")})
		wantSDKErr(t, "writer DeleteObject in "+other, err, http.StatusForbidden, "AccessDenied")
		assertStored(t, other, "secret.jpg", secret)

		// ListBuckets needs list on "*"; photos-* is not enough.
		_, err = c.ListBuckets(ctx, &s3.ListBucketsInput{})
		wantSDKErr(t, "writer ListBuckets", err, http.StatusForbidden, "AccessDenied")
	})

	t.Run("copy-needs-read-on-source", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c, _ := e.sdk(t, writer, 0)

		// Control: a copy inside the granted buckets works.
		if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(photos), Key: aws.String("copied.jpg"),
			CopySource: aws.String(photos + "/seed.jpg")}); err != nil {
			t.Fatalf("control: writer CopyObject %s/seed.jpg -> %s/copied.jpg: %v", photos, photos, err)
		}
		assertStored(t, photos, "copied.jpg", seedPhoto)

		// Write on the destination, no read on the source: refused, or
		// the copy would exfiltrate a bucket the user cannot read.
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(photos), Key: aws.String("stolen.jpg"),
			CopySource: aws.String(other + "/secret.jpg")})
		wantSDKErr(t, "writer CopyObject from "+other, err, http.StatusForbidden, "AccessDenied")
		assertAbsent(t, photos, "stolen.jpg")

		// The same with a raw request and a leading slash in the source.
		req := newRequest(t, http.MethodPut, e.objectURL(photos, "stolen-raw.jpg"), nil)
		req.Header.Set("X-Amz-Copy-Source", "/"+other+"/secret.jpg")
		resp := harness.SendS3(t, plainClient(), sign(req, writer, harness.SHA256Hex(nil)))
		if resp.Status != http.StatusForbidden || resp.Code != "AccessDenied" {
			t.Errorf("writer raw copy from /%s/secret.jpg: %s, want 403 AccessDenied", other, resp)
		}
		assertAbsent(t, photos, "stolen-raw.jpg")
	})

	// x-amz-copy-source is read by photogate to authorize the source, and
	// again by MinIO to find it: both must see the same bucket. MinIO
	// parses the header as a URL, so "photos-x:/other/secret.jpg" is, to
	// MinIO, the scheme "photos-x" and the path /other/secret.jpg; a
	// gateway that takes everything before the first "/" as the bucket
	// sees "photos-x:", which photos-* matches.
	smuggled := []string{
		"photos-x:/" + other + "/secret.jpg",
		"photos-x:" + other + "/secret.jpg",
		"photos-x:/" + other + "/secret.jpg?versionId=null",
		"//photos-x/" + other + "/secret.jpg",
		"/photos-x%3A/" + other + "/secret.jpg",
	}
	// exfiltrated fails the test if MinIO holds bucket/key, saying whether
	// it is a copy of other/secret.jpg.
	exfiltrated := func(t *testing.T, what string, resp harness.S3Response, bucket, key string) {
		t.Helper()
		obj, err := suite.Backend.Client().GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		switch {
		case minio.ToErrorResponse(err).Code == "NoSuchKey":
		case err != nil:
			t.Errorf("MinIO GET %s/%s: %v", bucket, key, err)
		case bytes.Equal(got, secret):
			t.Errorf("%s: photogate answered %s, and MinIO now holds %s/%s = the %d bytes of %s/secret.jpg, which the user has no grant to read: the copy exfiltrated it",
				what, resp, bucket, key, len(got), other)
		default:
			t.Errorf("%s: MinIO holds %s/%s (%d bytes), want nothing", what, bucket, key, len(got))
		}
	}

	t.Run("copy-source-parsed-as-the-backend-does", func(t *testing.T) {
		t.Parallel()
		for i, src := range smuggled {
			key := fmt.Sprintf("smuggled-%d.jpg", i)
			req := newRequest(t, http.MethodPut, e.objectURL(photos, key), nil)
			req.Header.Set("X-Amz-Copy-Source", src)
			resp := harness.SendS3(t, plainClient(), sign(req, writer, harness.SHA256Hex(nil)))
			what := fmt.Sprintf("writer (read only on photos-*) CopyObject to %s/%s with x-amz-copy-source %q", photos, key, src)
			if resp.Status < 400 || resp.Status >= 500 {
				t.Errorf("%s: %s; want a refusal (403 AccessDenied)", what, resp)
			}
			exfiltrated(t, what, resp, photos, key)
		}
	})

	t.Run("upload-part-copy-source-parsed-as-the-backend-does", func(t *testing.T) {
		t.Parallel()
		core := minio.Core{Client: suite.Backend.Client()}
		for i, src := range smuggled[:1] {
			key := fmt.Sprintf("smuggled-part-%d.jpg", i)
			resp := harness.SendS3(t, plainClient(), sign(newRequest(t, http.MethodPost, e.objectURL(photos, key)+"?uploads", nil), writer, harness.SHA256Hex(nil)))
			var initiated struct {
				UploadID string `xml:"UploadId"`
			}
			if resp.Status != http.StatusOK || xml.Unmarshal(resp.Body, &initiated) != nil || initiated.UploadID == "" {
				t.Fatalf("control: writer CreateMultipartUpload %s/%s: %s\n%s", photos, key, resp, resp.Body)
			}
			q := url.Values{"partNumber": {"1"}, "uploadId": {initiated.UploadID}}
			req := newRequest(t, http.MethodPut, e.objectURL(photos, key)+"?"+q.Encode(), nil)
			req.Header.Set("X-Amz-Copy-Source", src)
			resp = harness.SendS3(t, plainClient(), sign(req, writer, harness.SHA256Hex(nil)))
			what := fmt.Sprintf("writer (read only on photos-*) UploadPartCopy to %s/%s with x-amz-copy-source %q", photos, key, src)
			if resp.Status < 400 || resp.Status >= 500 {
				t.Errorf("%s: %s; want a refusal (403 AccessDenied)", what, resp)
			}
			parts, err := core.ListObjectParts(t.Context(), photos, key, initiated.UploadID, 0, 100)
			if err != nil {
				t.Fatalf("MinIO ListParts: %v", err)
			}
			for _, p := range parts.ObjectParts {
				t.Errorf("%s: MinIO holds part %d (%d bytes) of the upload, want none", what, p.PartNumber, p.Size)
			}
			_ = core.AbortMultipartUpload(t.Context(), photos, key, initiated.UploadID)
		}
	})

	t.Run("anonymous", func(t *testing.T) {
		t.Parallel()
		// Not public: refused.
		resp := harness.SendS3(t, plainClient(), newRequest(t, http.MethodGet, e.objectURL(photos, "seed.jpg"), nil))
		if resp.Status != http.StatusForbidden || resp.Code != "AccessDenied" {
			t.Errorf("anonymous GET %s/seed.jpg: %s, want 403 AccessDenied", photos, resp)
		}

		// public_read: a plain http.Get works.
		r, err := http.Get(e.objectURL(public, "pic.jpg"))
		if err != nil {
			t.Fatalf("http.Get public object: %v", err)
		}
		got, err := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK || err != nil || !bytes.Equal(got, publicPhoto) {
			t.Errorf("http.Get %s/pic.jpg: %d, %d bytes (err %v), want 200 with the %d seeded bytes: %.300s", public, r.StatusCode, len(got), err, len(publicPhoto), got)
		}

		// Anonymous writes stay refused, even in a public bucket.
		body := harness.RandomBytes(10_000)
		resp = harness.SendS3(t, plainClient(), newRequest(t, http.MethodPut, e.objectURL(public, "anon-put.jpg"), bytes.NewReader(body)))
		if resp.Status != http.StatusForbidden || resp.Code != "AccessDenied" {
			t.Errorf("anonymous PUT %s/anon-put.jpg: %s, want 403 AccessDenied", public, resp)
		}
		assertAbsent(t, public, "anon-put.jpg")
		resp = harness.SendS3(t, plainClient(), newRequest(t, http.MethodDelete, e.objectURL(public, "pic.jpg"), nil))
		if resp.Status != http.StatusForbidden || resp.Code != "AccessDenied" {
			t.Errorf("anonymous DELETE %s/pic.jpg: %s, want 403 AccessDenied", public, resp)
		}
		assertStored(t, public, "pic.jpg", publicPhoto)
	})

	t.Run("anonymous-curl", func(t *testing.T) {
		t.Parallel()
		curl := harness.Require(t, "curl")
		dir := t.TempDir()
		run := func(args ...string) (status string, out []byte) {
			t.Helper()
			outFile := filepath.Join(dir, "out")
			cmd := exec.CommandContext(t.Context(), curl, append([]string{"-sS", "--noproxy", "*", "-o", outFile, "-w", "%{http_code}"}, args...)...)
			cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
			stdout, err := cmd.Output()
			if err != nil {
				t.Fatalf("curl %v: %v", args, err)
			}
			out, _ = os.ReadFile(outFile)
			return strings.TrimSpace(string(stdout)), out
		}

		status, out := run(e.objectURL(public, "pic.jpg"))
		if status != "200" || !bytes.Equal(out, publicPhoto) {
			t.Errorf("curl GET %s/pic.jpg: HTTP %s, %d bytes; want 200 with the %d seeded bytes", public, status, len(out), len(publicPhoto))
		}
		status, out = run(e.objectURL(photos, "seed.jpg"))
		if status != "403" || !bytes.Contains(out, []byte("<Code>AccessDenied</Code>")) {
			t.Errorf("curl GET %s/seed.jpg (not public): HTTP %s, body %.300s; want 403 AccessDenied", photos, status, out)
		}

		upload := filepath.Join(dir, "upload.jpg")
		if err := os.WriteFile(upload, harness.RandomBytes(10_000), 0o644); err != nil {
			t.Fatal(err)
		}
		status, out = run("-X", "PUT", "-H", "Content-Type: image/jpeg", "--data-binary", "@"+upload, e.objectURL(public, "curl-put.jpg"))
		if status != "403" || !bytes.Contains(out, []byte("<Code>AccessDenied</Code>")) {
			t.Errorf("curl anonymous PUT %s/curl-put.jpg: HTTP %s, body %.300s; want 403 AccessDenied", public, status, out)
		}
		assertAbsent(t, public, "curl-put.jpg")
	})
}
