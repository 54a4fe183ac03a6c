package security_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/photogate/photogate/metastore/renditions"
	"github.com/photogate/photogate/test/harness"
)

// The rendition bucket holds what photogate derived from every caller's
// photos, and photogate's backend credential can reach it. No S3 request
// may touch it, whatever the caller's grants ("*" here) and however it is
// signed: it is served only by the admin API, with its own checks.
func TestRenditionBucketIsClosedToTheS3Port(t *testing.T) {
	e := start(t, "")
	owner := e.admin()
	src := harness.BucketName("rsrc")
	makeBuckets(t, minio.MakeBucketOptions{}, src)
	// A rendition planted in MinIO, as the worker would write one.
	rb := renditions.DefaultBucket
	waitBucket(t, rb)
	key := renditions.Prefix(src, "secret.jpg", "0123456789abcdef") + renditions.ThumbObject
	seed(t, rb, key, []byte("RIFF-a-thumbnail-of-someone-else's-photo"))

	presignV4 := func(method, path string) string {
		req := newRequest(t, method, e.url(path), nil)
		return signer.PreSignV4(*req, owner.AccessKey, owner.SecretKey, "", harness.Region, 600).URL.String()
	}
	presignV2 := func(path string) string {
		req := newRequest(t, http.MethodGet, e.url(path), nil)
		return signer.PreSignV2(*req, owner.AccessKey, owner.SecretKey, 600, false).URL.String()
	}
	attacks := map[string]*http.Request{
		"signed GET of a rendition":           signed(t, http.MethodGet, e.url("/"+rb+"/"+key), nil, owner),
		"signed HEAD of a rendition":          signed(t, http.MethodHead, e.url("/"+rb+"/"+key), nil, owner),
		"signed listing":                      signed(t, http.MethodGet, e.url("/"+rb+"?list-type=2"), nil, owner),
		"signed PUT over a rendition":         signed(t, http.MethodPut, e.url("/"+rb+"/"+key), []byte("forged"), owner),
		"signed PUT of a new object":          signed(t, http.MethodPut, e.url("/"+rb+"/planted.webp"), []byte("planted"), owner),
		"signed DELETE of a rendition":        signed(t, http.MethodDelete, e.url("/"+rb+"/"+key), nil, owner),
		"signed DeleteBucket":                 signed(t, http.MethodDelete, e.url("/"+rb), nil, owner),
		"signed multipart upload":             signed(t, http.MethodPost, e.url("/"+rb+"/planted.webp?uploads"), nil, owner),
		"signed bucket policy":                signed(t, http.MethodPut, e.url("/"+rb+"?policy"), []byte(`{"Version":"2012-10-17"}`), owner),
		"presigned V4 GET":                    newRequest(t, http.MethodGet, presignV4(http.MethodGet, "/"+rb+"/"+key), nil),
		"presigned V4 PUT":                    newRequest(t, http.MethodPut, presignV4(http.MethodPut, "/"+rb+"/planted.webp"), []byte("planted")),
		"presigned V2 GET":                    newRequest(t, http.MethodGet, presignV2("/"+rb+"/"+key), nil),
		"anonymous GET":                       newRequest(t, http.MethodGet, e.url("/"+rb+"/"+key), nil),
		"copy of a rendition into own bucket": copyFrom(t, e.url("/"+src+"/stolen.webp"), rb+"/"+key, owner),
	}
	for what, req := range attacks {
		r := send(t, req)
		wantRefused(t, what, r)
		if bytes.Contains(r.Body, []byte("someone-else")) {
			t.Errorf("%s: the rendition reached the client", what)
		}
	}
	data, _, ok := stored(t, rb, key)
	if !ok || string(data) != "RIFF-a-thumbnail-of-someone-else's-photo" {
		t.Errorf("the rendition was changed or deleted: %q", data)
	}
	assertAbsent(t, rb, "planted.webp")
	assertAbsent(t, src, "stolen.webp")
	// Listing every bucket leaves it out.
	r := send(t, signed(t, http.MethodGet, e.url("/"), nil, owner))
	if r.Status != http.StatusOK || bytes.Contains(r.Body, []byte("<Name>"+rb+"</Name>")) || !bytes.Contains(r.Body, []byte("<Name>"+src+"</Name>")) {
		t.Errorf("ListBuckets: %s %.500s", r, r.Body)
	}
}

func copyFrom(t *testing.T, rawURL, source string, u user) *http.Request {
	req := newRequest(t, http.MethodPut, rawURL, nil)
	req.Header.Set("X-Amz-Copy-Source", "/"+source)
	return harness.SignV4(req, u.AccessKey, u.SecretKey, harness.SHA256Hex(nil))
}

// waitBucket waits until photogate created bucket in MinIO (at start, in
// the background).
func waitBucket(t *testing.T, bucket string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := suite.Backend.Client().BucketExists(t.Context(), bucket)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("photogate did not create %s: %v", bucket, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
