package postupload_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// TestPostRefusals: every way a POST upload must fail, each with the
// error S3 (and MinIO) answers and with nothing stored at MinIO or in the
// index.
func TestPostRefusals(t *testing.T) {
	requireSetup(t)
	uploader, viewer := newUser("uploader"), newUser("viewer")
	quotaBucket := harness.BucketName("prq")
	e := start(t, "users:\n"+uploader.entry("read, write, list")+viewer.entry("read, list")+
		"policy:\n  buckets:\n"+
		"    - bucket: \"pr-*\"\n      allowed_types: [\"image/*\"]\n"+
		"    - bucket: \""+quotaBucket+"\"\n      quota: {max_bytes: 40000}\n", harness.GatewayOptions{})
	p := testPhoto(t, gpsPhoto)
	photoFile := upload{Name: p.Name, ContentType: "image/jpeg", Data: p.Data}
	const key = "refused/photo.jpg"

	inFiveMinutes := time.Now().UTC().Add(5 * time.Minute)
	// sign returns the form for an image/jpeg upload of key into bucket
	// valid for five minutes, signed by signer, with extra conditions.
	sign := func(t *testing.T, bucket string, signer user, extra ...func(pp *minio.PostPolicy) error) (string, map[string]string) {
		return e.presignedPost(t, signer, jpegPolicy(bucket, key, inFiveMinutes, extra...))
	}
	// bucket makes this case's own empty bucket (under the image/* rule).
	bucket := func(t *testing.T) string {
		b := harness.BucketName("pr")
		makeBuckets(t, b)
		return b
	}

	t.Run("expired policy", func(t *testing.T) {
		b := bucket(t)
		target, fields := e.presignedPost(t, uploader, jpegPolicy(b, key, time.Now().UTC().Add(-time.Minute)))
		r := postForm(t, target, fields, photoFile)
		wantError(t, "policy expired a minute ago", r, http.StatusForbidden, "AccessDenied")
		if !strings.Contains(r.Message, "Invalid according to Policy") || !strings.Contains(r.Message, "expired") {
			t.Errorf("message %q; S3 says \"Invalid according to Policy: Policy expired.\"", r.Message)
		}
		e.assertNothingStored(t, "expired policy", b, key)
	})

	t.Run("field outside the policy", func(t *testing.T) {
		b := bucket(t)
		target, fields := sign(t, b, uploader)
		fields["x-amz-meta-owner"] = "someone-else" // not in the signed policy
		r := postForm(t, target, fields, photoFile)
		wantError(t, "x-amz-meta-owner added after signing", r, http.StatusForbidden, "AccessDenied")
		if !strings.Contains(r.Message, "Invalid according to Policy") {
			t.Errorf("message %q; S3 says \"Invalid according to Policy: Extra input fields: x-amz-meta-owner\"", r.Message)
		}
		e.assertNothingStored(t, "field outside the policy", b, key)
	})

	t.Run("condition not met", func(t *testing.T) {
		b := bucket(t)
		target, fields := sign(t, b, uploader)
		fields["Content-Type"] = "image/png" // the policy says image/jpeg
		r := postForm(t, target, fields, photoFile)
		wantError(t, "Content-Type other than the policy's", r, http.StatusForbidden, "AccessDenied")
		e.assertNothingStored(t, "condition not met", b, key)
	})

	for _, tc := range []struct {
		min, max int64
		code     string
	}{{1, 1000, "EntityTooLarge"}, {100_000, 200_000, "EntityTooSmall"}} {
		t.Run("content-length-range "+tc.code, func(t *testing.T) {
			b := bucket(t)
			target, fields := sign(t, b, uploader, func(pp *minio.PostPolicy) error { return pp.SetContentLengthRange(tc.min, tc.max) })
			r := postForm(t, target, fields, photoFile)
			wantError(t, fmt.Sprintf("a %d-byte photo with content-length-range %d..%d", len(p.Data), tc.min, tc.max), r, http.StatusBadRequest, tc.code)
			e.assertNothingStored(t, "content-length-range "+tc.code, b, key)
		})
	}

	t.Run("malformed form", func(t *testing.T) {
		b := bucket(t)
		target, fields := sign(t, b, uploader)

		// The signed fields without a file part.
		var noFile bytes.Buffer
		w := multipart.NewWriter(&noFile)
		for name, value := range fields {
			if err := w.WriteField(name, value); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r := postRaw(t, target, w.FormDataContentType(), noFile.Bytes())
		wantError(t, "a form without a file", r, http.StatusBadRequest, "MalformedPOSTRequest")

		// Not multipart at all.
		r = postRaw(t, target, "application/x-www-form-urlencoded", []byte("key="+key+"&file=x"))
		wantError(t, "an urlencoded body", r, http.StatusBadRequest, "MalformedPOSTRequest")

		// Part headers that are not form-data.
		body, contentType := encodeForm(t, fields, photoFile)
		broken := bytes.Replace(body, []byte(`Content-Disposition: form-data; name="key"`), []byte(`Content-Disposition: attachment`), 1)
		if bytes.Equal(broken, body) {
			t.Fatal("test bug: the key field's header was not found")
		}
		r = postRaw(t, target, contentType, broken)
		wantError(t, "a part without a form-data name", r, http.StatusBadRequest, "MalformedPOSTRequest")
		e.assertNothingStored(t, "malformed form", b, key)
	})

	t.Run("ZIP into an image/* bucket", func(t *testing.T) {
		b := bucket(t)
		var zipped bytes.Buffer
		zw := zip.NewWriter(&zipped)
		f, err := zw.Create("holiday.jpg")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(p.Data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		target, fields := sign(t, b, uploader)
		r := postForm(t, target, fields, upload{Name: "holiday.jpg", ContentType: "image/jpeg", Data: zipped.Bytes()})
		if r.Status != http.StatusBadRequest {
			t.Errorf("a ZIP named holiday.jpg, declared image/jpeg, into an image/* bucket: %s; want 400 (the type policy applies to POST)", r)
		}
		e.assertNothingStored(t, "ZIP into an image/* bucket", b, key)
	})

	t.Run("user without write grant", func(t *testing.T) {
		b := bucket(t)
		target, fields := sign(t, b, viewer)
		r := postForm(t, target, fields, photoFile)
		wantError(t, "a form signed by a read/list-only user", r, http.StatusForbidden, "AccessDenied")
		e.assertNothingStored(t, "user without write grant", b, key)
	})

	t.Run("wrong secret", func(t *testing.T) {
		b := bucket(t)
		target, fields := sign(t, b, user{Name: "forger", AccessKey: uploader.AccessKey, SecretKey: harness.RandomString(40)})
		r := postForm(t, target, fields, photoFile)
		wantError(t, "a policy signed with a wrong secret", r, http.StatusForbidden, "SignatureDoesNotMatch")
		e.assertNothingStored(t, "wrong secret", b, key)
	})

	t.Run("unknown access key", func(t *testing.T) {
		b := bucket(t)
		target, fields := sign(t, b, newUser("stranger"))
		r := postForm(t, target, fields, photoFile)
		wantError(t, "a policy signed by an unknown access key", r, http.StatusForbidden, "InvalidAccessKeyId")
		e.assertNothingStored(t, "unknown access key", b, key)
	})

	t.Run("bucket quota", func(t *testing.T) {
		makeBuckets(t, quotaBucket)
		// The photo (22493 bytes) fits the 40000-byte quota once.
		target, fields := e.presignedPost(t, uploader, jpegPolicy(quotaBucket, "first.jpg", inFiveMinutes))
		if r := postForm(t, target, fields, photoFile); r.Status != http.StatusNoContent {
			t.Fatalf("first upload into the quota bucket: %s", r)
		}
		e.checkStored(t, wantObject{Bucket: quotaBucket, Key: "first.jpg", SHA256: p.SHA256, Size: int64(len(p.Data)),
			ContentType: "image/jpeg", Photo: &p})

		target, fields = e.presignedPost(t, uploader, jpegPolicy(quotaBucket, "second.jpg", inFiveMinutes))
		r := postForm(t, target, fields, photoFile)
		wantError(t, "a second 22493-byte photo into a 40000-byte quota", r, http.StatusForbidden, "QuotaExceeded")
		if _, _, ok := stored(t, quotaBucket, "second.jpg"); ok {
			t.Errorf("MinIO holds %s/second.jpg: the quota did not apply to POST", quotaBucket)
		}
		if _, ok := e.object(t, quotaBucket, "second.jpg"); ok {
			t.Errorf("the index has %s/second.jpg after the quota refusal", quotaBucket)
		}
	})
}
