package postupload_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/photogate/photogate/test/harness"
)

// TestMinioGoPresignedPost: minio-go's PresignedPostPolicy signs the
// policy and net/http posts the form, answered as success_action_status
// asks: 201 with a PostResponse, 204 by default, or a 303 to
// success_action_redirect with bucket, key and etag in its query.
func TestMinioGoPresignedPost(t *testing.T) {
	requireSetup(t)
	uploader := newUser("uploader")
	bucket := harness.BucketName("post-minio-go")
	e := start(t, "users:\n"+uploader.entry("read, write, list")+
		"policy:\n  buckets:\n    - bucket: \""+bucket+"\"\n      allowed_types: [\"image/*\"]\n", harness.GatewayOptions{})
	makeBuckets(t, bucket)
	p := testPhoto(t, gpsPhoto)

	// policy signs an upload of the photo to key, valid for five
	// minutes; success is the success option the case tests.
	policy := func(key string, success func(pp *minio.PostPolicy) error) (string, map[string]string) {
		return e.presignedPost(t, uploader, jpegPolicy(bucket, key, time.Now().UTC().Add(5*time.Minute),
			func(pp *minio.PostPolicy) error { return pp.SetUserMetadata("camera", "minio-go") },
			func(pp *minio.PostPolicy) error { return pp.SetContentLengthRange(1, 1<<20) },
			success))
	}
	want := func(key string) wantObject {
		return wantObject{Bucket: bucket, Key: key, SHA256: p.SHA256, Size: int64(len(p.Data)), ContentType: "image/jpeg",
			Meta: map[string]string{"camera": "minio-go"}, Photo: &p}
	}
	file := upload{Name: p.Name, ContentType: "image/jpeg", Data: p.Data}

	t.Run("201 PostResponse", func(t *testing.T) {
		key := "status201/" + p.Name
		target, fields := policy(key, func(pp *minio.PostPolicy) error { return pp.SetSuccessStatusAction("201") })
		r := postForm(t, target, fields, file)
		if r.Status != http.StatusCreated {
			t.Fatalf("POST with success_action_status 201: %s; body %q", r, r.Body)
		}
		etag := e.checkStored(t, want(key))
		checkPostResponse(t, r.Body, e.g.Endpoint(), bucket, key, etag)
		if strings.Trim(r.Header.Get("ETag"), `"`) != etag {
			t.Errorf("ETag header %q, MinIO's %q", r.Header.Get("ETag"), etag)
		}
	})

	t.Run("204 by default", func(t *testing.T) {
		key := "default/" + p.Name
		target, fields := policy(key, func(*minio.PostPolicy) error { return nil })
		r := postForm(t, target, fields, file)
		if r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Fatalf("POST without success_action_status: %s, body %q; S3 answers 204 and no body", r, r.Body)
		}
		etag := e.checkStored(t, want(key))
		if strings.Trim(r.Header.Get("ETag"), `"`) != etag {
			t.Errorf("ETag header %q, MinIO's %q", r.Header.Get("ETag"), etag)
		}
	})

	t.Run("303 to success_action_redirect", func(t *testing.T) {
		key := "redirect/" + p.Name
		const redirect = "https://app.example.com/uploaded?from=gallery"
		target, fields := policy(key, func(pp *minio.PostPolicy) error { return pp.SetSuccessActionRedirect(redirect) })
		r := postForm(t, target, fields, file)
		if r.Status != http.StatusSeeOther {
			t.Fatalf("POST with success_action_redirect: %s; body %q", r, r.Body)
		}
		etag := e.checkStored(t, want(key))
		loc, err := url.Parse(r.Header.Get("Location"))
		if err != nil {
			t.Fatalf("Location %q: %v", r.Header.Get("Location"), err)
		}
		q := loc.Query()
		if loc.Scheme != "https" || loc.Host != "app.example.com" || loc.Path != "/uploaded" || q.Get("from") != "gallery" ||
			q.Get("bucket") != bucket || q.Get("key") != key || strings.Trim(q.Get("etag"), `"`) != etag || etag == "" {
			t.Errorf("Location %q; want %s with bucket=%s, key=%s and MinIO's etag %s added", loc, redirect, bucket, key, etag)
		}
	})
}
