package security_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

const imagesOnly = "policy:\n  buckets:\n    - bucket: \"%s\"\n      allowed_types: [\"image/*\"]\n"

// zipFile is a real ZIP archive: an impostor allowed_types must refuse.
func zipFile(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("payload.exe")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("MZ not a photo "), 200)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var htmlFile = []byte("<!DOCTYPE html><html><body><script>fetch('/steal?c='+document.cookie)</script></body></html>")

// wantOnlyImages fails if MinIO holds anything in bucket that is not an
// image, by its bytes or by the Content-Type it would serve.
func wantOnlyImages(t *testing.T, bucket string) {
	t.Helper()
	for _, o := range listed(t, bucket) {
		data, info, ok := stored(t, bucket, o.Key)
		if !ok {
			continue
		}
		if !strings.HasPrefix(detected(data), "image/") || strings.Contains(info.ContentType, "html") {
			t.Errorf("MinIO holds %s/%s in an images-only bucket: detected %s, Content-Type %q", bucket, o.Key, detected(data), info.ContentType)
		}
	}
}

// CopyObject bypasses the body sniffing of PutObject: the bytes never pass
// through photogate. The copy's source must be checked like an upload.
func TestCopyOfZipOrHTMLIntoImagesOnlyBucketIsRefused(t *testing.T) {
	src, img := harness.BucketName("src"), harness.BucketName("img")
	e := start(t, strings.ReplaceAll(imagesOnly, "%s", img))
	makeBuckets(t, minio.MakeBucketOptions{}, src, img)
	seed(t, src, "archive.jpg", zipFile(t))
	seed(t, src, "page.jpg", htmlFile)
	for _, key := range []string{"archive.jpg", "page.jpg"} {
		req := newRequest(t, http.MethodPut, e.url("/"+img+"/"+key), nil)
		req.Header.Set("X-Amz-Copy-Source", "/"+src+"/"+key)
		req.Header.Set("Content-Type", "image/jpeg")
		r := send(t, harness.SignV4(req, e.admin().AccessKey, e.admin().SecretKey, harness.SHA256Hex(nil)))
		wantError(t, "CopyObject of "+key, r, http.StatusBadRequest, "InvalidArgument")
		assertAbsent(t, img, key)
	}
	wantOnlyImages(t, img)
}

// UploadPartCopy of a ZIP as part 1 puts the file's first bytes where the
// type check of part 1 never sees them.
func TestUploadPartCopyOfZipAsPartOneIsRefused(t *testing.T) {
	src, img := harness.BucketName("src"), harness.BucketName("img")
	e := start(t, strings.ReplaceAll(imagesOnly, "%s", img))
	makeBuckets(t, minio.MakeBucketOptions{}, src, img)
	seed(t, src, "archive.zip", zipFile(t))
	c := e.client(t, e.admin())
	uploadID, err := c.NewMultipartUpload(t.Context(), img, "copied.jpg", minio.PutObjectOptions{ContentType: "image/jpeg"})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	part, err := c.CopyObjectPart(t.Context(), src, "archive.zip", img, "copied.jpg", uploadID, 1, 0, -1, nil)
	if err == nil {
		t.Errorf("UploadPartCopy of a ZIP as part 1 into an images-only bucket was accepted")
		_, _ = c.CompleteMultipartUpload(t.Context(), img, "copied.jpg", uploadID, []minio.CompletePart{{PartNumber: 1, ETag: part.ETag}}, minio.PutObjectOptions{})
	}
	_ = c.AbortMultipartUpload(t.Context(), img, "copied.jpg", uploadID)
	assertAbsent(t, img, "copied.jpg")
	wantOnlyImages(t, img)
}

// Part 1 is checked, but CompleteMultipartUpload may leave it out: a JPEG
// part 1 and a ZIP part 2 completed as [part 2] assemble a ZIP.
func TestMultipartCompletedWithoutCheckedPartOneIsRefused(t *testing.T) {
	img := harness.BucketName("img")
	e := start(t, strings.ReplaceAll(imagesOnly, "%s", img))
	makeBuckets(t, minio.MakeBucketOptions{}, img)
	c := e.client(t, e.admin())
	uploadID, err := c.NewMultipartUpload(t.Context(), img, "assembled.jpg", minio.PutObjectOptions{ContentType: "image/jpeg"})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	jpeg, zipped := photo(t), zipFile(t)
	if _, err := c.PutObjectPart(t.Context(), img, "assembled.jpg", uploadID, 1, bytes.NewReader(jpeg), int64(len(jpeg)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatalf("UploadPart 1 (a JPEG): %v", err)
	}
	part2, err := c.PutObjectPart(t.Context(), img, "assembled.jpg", uploadID, 2, bytes.NewReader(zipped), int64(len(zipped)), minio.PutObjectPartOptions{})
	if err == nil {
		_, err = c.CompleteMultipartUpload(t.Context(), img, "assembled.jpg", uploadID, []minio.CompletePart{{PartNumber: 2, ETag: part2.ETag}}, minio.PutObjectOptions{})
		if err == nil {
			t.Errorf("CompleteMultipartUpload listing only a ZIP part 2 was accepted")
		}
	}
	_ = c.AbortMultipartUpload(t.Context(), img, "assembled.jpg", uploadID)
	wantOnlyImages(t, img)
}

// Two Content-Type headers: photogate may check the first (image/jpeg)
// while a server or browser uses the other (text/html).
func TestPutWithTwoContentTypesStoresNoHTML(t *testing.T) {
	img := harness.BucketName("img")
	e := start(t, strings.ReplaceAll(imagesOnly, "%s", img))
	makeBuckets(t, minio.MakeBucketOptions{}, img)
	jpeg := photo(t)
	for i, order := range [][]string{{"image/jpeg", "text/html"}, {"text/html", "image/jpeg"}} {
		key := fmt.Sprintf("two-types-%d.jpg", i)
		req := newRequest(t, http.MethodPut, e.url("/"+img+"/"+key), jpeg)
		req.Header["Content-Type"] = order
		r := send(t, harness.SignV4(req, e.admin().AccessKey, e.admin().SecretKey, harness.SHA256Hex(jpeg)))
		if _, info, ok := stored(t, img, key); ok && strings.Contains(info.ContentType, "html") {
			t.Errorf("PUT with Content-Types %v: MinIO serves %s/%s as %q (response %s)", order, img, key, info.ContentType, r)
		}
	}
	wantOnlyImages(t, img)
}

// response-content-type makes S3 serve a stored image as HTML: on a public
// bucket anyone could turn a photo host into a page host. AWS refuses
// response-* overrides on anonymous requests (400 InvalidRequest "Request
// specific response headers cannot be used for anonymous GET requests");
// 403 AccessDenied refuses as well.
func TestAnonymousResponseContentTypeOverrideIsRefused(t *testing.T) {
	pub := harness.BucketName("pub")
	e := start(t, "policy:\n  buckets:\n    - bucket: \""+pub+"\"\n      public_read: true\n      allowed_types: [\"image/*\"]\n")
	makeBuckets(t, minio.MakeBucketOptions{}, pub)
	seed(t, pub, "a.jpg", photo(t))
	if r := send(t, newRequest(t, http.MethodGet, e.url("/"+pub+"/a.jpg"), nil)); r.Status != http.StatusOK {
		t.Fatalf("precondition: anonymous GET of a public photo: %s", r)
	}
	for _, q := range []string{"response-content-type=text/html", "response-content-disposition=inline%3B%20filename%3Dx.html", "response-content-type=image/svg%2Bxml"} {
		r := send(t, newRequest(t, http.MethodGet, e.url("/"+pub+"/a.jpg?"+q), nil))
		if !(r.Status == http.StatusBadRequest && r.Code == "InvalidRequest") && !(r.Status == http.StatusForbidden && r.Code == "AccessDenied") {
			t.Errorf("anonymous GET ?%s: got %s, want 400 InvalidRequest or 403 AccessDenied", q, r)
		}
		if ct := r.Header.Get("Content-Type"); strings.Contains(ct, "html") || strings.Contains(ct, "svg") {
			t.Errorf("anonymous GET ?%s was served as %q", q, ct)
		}
	}
	// What MinIO stores is untouched: still the photo, as a JPEG.
	wantOnlyImages(t, pub)
}

// The type rule must not cost the index anything: a photo uploaded into an
// images-only bucket is indexed with its camera, date and GPS exactly as
// in a bucket without the rule, by PUT, multipart upload and copy.
func TestPhotoInImagesOnlyBucketKeepsItsMetadata(t *testing.T) {
	img, plain := harness.BucketName("img"), harness.BucketName("plain")
	e := start(t, strings.ReplaceAll(imagesOnly, "%s", img))
	makeBuckets(t, minio.MakeBucketOptions{}, img, plain)
	c := e.client(t, e.admin())
	jpeg := photo(t)
	for _, b := range []string{img, plain} {
		if _, err := c.PutObject(t.Context(), b, "put.jpg", bytes.NewReader(jpeg), int64(len(jpeg)), "", "", minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			t.Fatalf("PutObject into %s: %v", b, err)
		}
		uploadID, err := c.NewMultipartUpload(t.Context(), b, "multipart.jpg", minio.PutObjectOptions{ContentType: "image/jpeg"})
		if err != nil {
			t.Fatalf("CreateMultipartUpload in %s: %v", b, err)
		}
		part, err := c.PutObjectPart(t.Context(), b, "multipart.jpg", uploadID, 1, bytes.NewReader(jpeg), int64(len(jpeg)), minio.PutObjectPartOptions{})
		if err != nil {
			t.Fatalf("UploadPart into %s: %v", b, err)
		}
		if _, err := c.CompleteMultipartUpload(t.Context(), b, "multipart.jpg", uploadID, []minio.CompletePart{{PartNumber: 1, ETag: part.ETag}}, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("CompleteMultipartUpload in %s: %v", b, err)
		}
	}
	if _, err := c.CopyObject(t.Context(), plain, "put.jpg", img, "copy.jpg", nil, minio.CopySrcOptions{}, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("CopyObject into %s: %v", img, err)
	}
	if _, err := c.CopyObject(t.Context(), plain, "put.jpg", plain, "copy.jpg", nil, minio.CopySrcOptions{}, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("CopyObject into %s: %v", plain, err)
	}
	for _, key := range []string{"put.jpg", "multipart.jpg", "copy.jpg"} {
		want, ok := e.waitObject(t, plain, key, 10*time.Second)
		if !ok || want.Make != "Apple" || want.Model != "iPhone 4S" || want.GPS == nil || want.TakenAt.IsZero() {
			t.Fatalf("precondition: %s/%s (no type rule) is indexed as %+v, want Apple iPhone 4S with date and GPS", plain, key, want)
		}
		got, ok := e.waitObject(t, img, key, 10*time.Second)
		if !ok {
			t.Errorf("%s/%s is not indexed", img, key)
			continue
		}
		if got.Make != want.Make || got.Model != want.Model || !got.TakenAt.Equal(want.TakenAt) ||
			got.GPS == nil || got.GPS.Lat != want.GPS.Lat || got.GPS.Lon != want.GPS.Lon {
			t.Errorf("%s/%s in the images-only bucket is indexed as camera %q %q, taken %v, GPS %+v (extraction %+v); without the rule: %q %q, %v, %+v",
				img, key, got.Make, got.Model, got.TakenAt, got.GPS, got.Extraction, want.Make, want.Model, want.TakenAt, *want.GPS)
		}
		if data, _, ok := stored(t, img, key); !ok || !bytes.Equal(data, jpeg) {
			t.Errorf("MinIO does not hold the photo at %s/%s (%d bytes)", img, key, len(data))
		}
	}
	e.wantNoDrift(t, img, plain)
}

// A CopyObject without REPLACE keeps the source's stored Content-Type,
// whatever Content-Type the request names: text/html copied into an
// images-only bucket would be served as a page from the photo host. The
// source's type must pass the destination's rules like a declared one.
func TestCopyKeepingTheSourceTypeIsJudgedByIt(t *testing.T) {
	src, img := harness.BucketName("src"), harness.BucketName("img")
	e := start(t, strings.ReplaceAll(imagesOnly, "%s", img))
	makeBuckets(t, minio.MakeBucketOptions{}, src, img)
	data := append(photo(t), []byte("<html><script>alert(document.domain)</script></html>")...)
	for key, contentType := range map[string]string{"poly.jpg": "text/html", "plain.jpg": "application/octet-stream", "photo.jpg": "image/jpeg"} {
		if _, err := suite.Backend.Client().PutObject(t.Context(), src, key, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: contentType}); err != nil {
			t.Fatal(err)
		}
	}
	for _, directive := range []string{"", "COPY"} {
		copyOf := func(key string) harness.S3Response {
			req := newRequest(t, http.MethodPut, e.url("/"+img+"/copy-"+directive+"-"+key), nil)
			req.Header.Set("X-Amz-Copy-Source", "/"+src+"/"+key)
			if directive != "" {
				req.Header.Set("X-Amz-Metadata-Directive", directive)
			}
			req.Header.Set("Content-Type", "image/jpeg") // ignored by a copy without REPLACE
			return send(t, harness.SignV4(req, e.admin().AccessKey, e.admin().SecretKey, harness.SHA256Hex(nil)))
		}
		wantError(t, "copy of a text/html source, directive "+directive, copyOf("poly.jpg"), http.StatusBadRequest, "InvalidArgument")
		assertAbsent(t, img, "copy-"+directive+"-poly.jpg")
		for _, key := range []string{"plain.jpg", "photo.jpg"} {
			if r := copyOf(key); r.Status != http.StatusOK {
				t.Errorf("control: copy of %s, directive %q: %s", key, directive, r)
			}
		}
	}
}
